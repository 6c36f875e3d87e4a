"""The whole local profile, started by `roboshop up`, seen through the gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningShop, alive, start_shop, wait_until

pytestmark = pytest.mark.e2e

SEED_SKUS = ["Watson", "Ewooid", "HPTD", "UHJ", "EPE", "EMM", "SHCE", "RED", "RMC", "STAN-1", "CNA"]


def test_the_gateway_lists_the_eleven_seed_products(shop: RunningShop) -> None:
    response = httpx.get(f"{shop.gateway}/api/catalogue/products")
    assert response.status_code == 200
    assert [p["sku"] for p in response.json()] == SEED_SKUS
    assert response.headers["x-request-id"]


def test_categories_are_the_two_sorted_categories(shop: RunningShop) -> None:
    response = httpx.get(f"{shop.gateway}/api/catalogue/categories")
    assert response.json() == ["Artificial Intelligence", "Robot"]


def test_a_product_is_found_by_sku_and_an_unknown_sku_is_not(shop: RunningShop) -> None:
    watson = httpx.get(f"{shop.gateway}/api/catalogue/product/Watson").json()
    assert (watson["name"], watson["price"], watson["instock"]) == ("Watson", 2001, 2)
    missing = httpx.get(f"{shop.gateway}/api/catalogue/product/NoSuchRobot")
    assert (missing.status_code, missing.text) == (404, "SKU not found")


def test_search_finds_products_by_words_of_their_description(shop: RunningShop) -> None:
    found = httpx.get(f"{shop.gateway}/api/catalogue/search/guru").json()
    assert [p["sku"] for p in found] == ["STAN-1"]


def test_a_category_lists_its_products_by_name(shop: RunningShop) -> None:
    products = httpx.get(f"{shop.gateway}/api/catalogue/products/Artificial Intelligence").json()
    assert [p["name"] for p in products] == ["Ewooid", "Stan", "Watson"]


def test_a_rating_is_recorded_and_averaged(shop: RunningShop) -> None:
    assert httpx.get(f"{shop.gateway}/api/ratings/api/fetch/HPTD").json() == {"avg_rating": 0, "rating_count": 0}
    for score in (5, 2):
        rated = httpx.put(f"{shop.gateway}/api/ratings/api/rate/HPTD/{score}")
        assert rated.json() == {"success": True}
    assert httpx.get(f"{shop.gateway}/api/ratings/api/fetch/HPTD").json() == {"avg_rating": 3.5, "rating_count": 2}


def test_rating_an_unknown_sku_is_a_404_and_records_nothing(shop: RunningShop) -> None:
    assert httpx.put(f"{shop.gateway}/api/ratings/api/rate/NoSuchRobot/5").status_code == 404
    assert httpx.get(f"{shop.gateway}/api/ratings/api/fetch/NoSuchRobot").json()["rating_count"] == 0


def test_bad_input_gets_a_clear_4xx(shop: RunningShop) -> None:
    unknown_route = httpx.get(f"{shop.gateway}/api/catalogue/admin/drop")
    assert unknown_route.status_code == 404
    assert unknown_route.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{shop.gateway}/api/nosuchservice/x").status_code == 404
    absurd = httpx.get(f"{shop.gateway}/api/catalogue/product/{'x' * 5000}")
    assert 400 <= absurd.status_code < 500
    not_a_number = httpx.put(f"{shop.gateway}/api/ratings/api/rate/Watson/five")
    assert not_a_number.status_code == 400
    too_big = httpx.put(f"{shop.gateway}/api/ratings/api/rate/Watson/5", content=b"x" * (2 * 1024 * 1024))
    assert too_big.status_code == 413
    assert httpx.get(f"{shop.gateway}/api/ratings/api/fetch/Watson").json()["rating_count"] == 0


def test_unknown_pages_fall_back_to_the_storefront(shop: RunningShop) -> None:
    page = httpx.get(f"{shop.gateway}/product/Watson")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_status_lists_every_instance_with_its_url(shop: RunningShop) -> None:
    cli = Path(sys.executable).with_name("roboshop")
    result = subprocess.run(
        [str(cli), "status", "--json", "--data-dir", str(shop.data_dir)], capture_output=True, check=True, timeout=30
    )
    import json

    report = json.loads(result.stdout)
    assert {"catalogue", "ratings", "gateway"} <= set(report["services"])
    catalogue = report["services"]["catalogue"]
    assert sorted(i["id"] for i in catalogue) == ["catalogue-1", "catalogue-2"]
    assert all(i["url"].startswith("http://127.0.0.1:") and i["status"] == "passing" for i in catalogue)


def _products_served_by(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics").text
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("http_requests_total{") and 'route="/products"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_both_catalogue_replicas_receive_traffic(shop: RunningShop) -> None:
    replicas = {
        i["ID"]: f"http://{i['Address']}:{i['Port']}" for i in shop.instances().values() if i["Service"] == "catalogue"
    }
    before = {name: _products_served_by(url) for name, url in replicas.items()}
    for _ in range(20):
        assert httpx.get(f"{shop.gateway}/api/catalogue/products").status_code == 200
    after = {name: _products_served_by(url) for name, url in replicas.items()}
    assert len(replicas) == 2
    assert all(after[name] > before[name] for name in replicas), (before, after)


def test_a_killed_replica_does_not_interrupt_the_catalogue(shop: RunningShop) -> None:
    victim = shop.pid_of("catalogue-2")
    old_port = shop.instances()["catalogue-2"]["Port"]
    failures: list[str] = []
    served = 0
    stop = threading.Event()

    def browse() -> None:
        nonlocal served
        with httpx.Client(timeout=10) as client:
            while not stop.is_set() and served < 2000:
                response = client.get(f"{shop.gateway}/api/catalogue/products")
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:100]}")
                served += 1

    browser = threading.Thread(target=browse)
    browser.start()
    wait_until(lambda: served >= 20, 10, "traffic to flow")
    os.kill(victim, signal.SIGKILL)
    at_kill = served
    wait_until(lambda: served >= at_kill + 100, 20, "100 more requests after the kill")
    stop.set()
    browser.join(timeout=15)

    assert failures == []

    def registry_noticed() -> bool:
        entry = shop.instances().get("catalogue-2")
        return entry is None or entry["Status"] == "critical" or entry["Port"] != old_port

    wait_until(registry_noticed, 15, "the registry to mark catalogue-2 critical or see it restarted")
    wait_until(lambda: shop.state()["instances"]["catalogue-2"]["restarts"] >= 1, 15, "the supervisor to restart it")
    wait_until(
        lambda: shop.instances().get("catalogue-2", {}).get("Status") == "passing", 20, "catalogue-2 passing again"
    )


def test_sigterm_deregisters_a_replica_and_it_exits_cleanly(shop: RunningShop) -> None:
    pid = shop.pid_of("catalogue-1")
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: "catalogue-1" not in shop.instances(), 10, "catalogue-1 to deregister")
    wait_until(lambda: shop.state()["instances"]["catalogue-1"]["last_exit"] == 0, 10, "catalogue-1 to exit 0")
    assert not alive(pid)
    assert httpx.get(f"{shop.gateway}/api/catalogue/products").status_code == 200


def test_ctrl_c_stops_everything_quickly_and_leaves_no_process(tmp_path: Path) -> None:
    shop = start_shop(tmp_path)
    try:
        pids = set(shop.seen_pids)
        assert len(pids) >= 4
    finally:
        code = shop.stop(signal.SIGINT, timeout_s=15)
    assert code == 0, shop.log()[-3000:]
    assert [pid for pid in pids if alive(pid)] == []
    assert not (shop.data_dir / "roboshop.json").exists()


def test_shipping_codes_cities_and_cost_are_served_through_the_gateway(shop: RunningShop) -> None:
    response = httpx.get(f"{shop.gateway}/api/shipping/codes")
    assert response.status_code == 200, response.text
    codes = response.json()
    assert (codes[0]["name"], codes[-1]["name"]) == ("Afghanistan", "Zimbabwe")
    gb = next(c for c in codes if c["code"] == "GB")
    london = next(c for c in httpx.get(f"{shop.gateway}/api/shipping/match/GB/lond").json() if c["name"] == "London")
    cost = httpx.get(f"{shop.gateway}/api/shipping/calc/{london['uuid']}").json()
    assert gb["name"] == "United Kingdom"
    assert cost["distance"] > 0
    assert cost["cost"] == round(cost["distance"] * 5) / 100
    assert httpx.get(f"{shop.gateway}/api/shipping/match/GB/lo").status_code == 400


def test_routes_that_name_a_cart_need_a_session_and_internal_routes_are_not_routed(shop: RunningShop) -> None:
    for method, path in (
        ("GET", "/api/cart/cart/anonymous-1"),
        ("GET", "/api/cart/add/anonymous-1/Watson/1"),
        ("POST", "/api/shipping/confirm/anonymous-1"),
    ):
        response = httpx.request(method, f"{shop.gateway}{path}")
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.delete(f"{shop.gateway}/api/cart/cart/anonymous-1").status_code == 405
    assert httpx.get(f"{shop.gateway}/api/shipping/memory").status_code == 404


def test_a_visitor_gets_an_anonymous_id_and_a_session_cookie(shop: RunningShop) -> None:
    with httpx.Client(base_url=shop.gateway) as browser:
        first = browser.get("/api/user/uniqueid")
        second = browser.get("/api/user/uniqueid")
        assert first.json()["uuid"].startswith("anonymous-")
        assert first.json()["uuid"] != second.json()["uuid"]
        cookie = first.headers["set-cookie"].lower()
        assert all(part in cookie for part in ("roboshop_session=", "httponly", "samesite=lax"))


def test_login_answers_the_user_without_any_secret(shop: RunningShop) -> None:
    response = httpx.post(f"{shop.gateway}/api/user/login", json={"name": "user", "password": "password"})
    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k != "_id"} == {"name": "user", "email": "user@me.com"}
    assert "password" not in response.text
    wrong = httpx.post(f"{shop.gateway}/api/user/login", json={"name": "user", "password": "nope"})
    assert (wrong.status_code, wrong.text) == (404, "incorrect password")
    assert httpx.get(f"{shop.gateway}/api/user/users").status_code == 404


def test_internal_routes_refuse_callers_without_the_service_credential(shop: RunningShop) -> None:
    instances = shop.instances().values()
    cart = next(f"http://{i['Address']}:{i['Port']}" for i in instances if i["Service"] == "cart")
    user = next(f"http://{i['Address']}:{i['Port']}" for i in instances if i["Service"] == "user")
    assert httpx.delete(f"{cart}/cart/anonymous-1").status_code == 401
    assert (
        httpx.post(f"{cart}/shipping/anonymous-1", json={"distance": 1, "cost": 1, "location": "x"}).status_code == 401
    )
    assert httpx.get(f"{user}/check/stan").status_code == 401
    assert httpx.post(f"{user}/order/stan", json={"orderid": "x", "cart": {}}).status_code == 401
    smuggled = httpx.get(f"{shop.gateway}/api/user/uniqueid", headers={"X-RoboShop-Internal-Token": "anything"})
    assert smuggled.status_code == 200
