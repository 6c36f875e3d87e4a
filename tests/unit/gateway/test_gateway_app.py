"""The gateway application: public surface, operational endpoints, metrics, access log, lifecycle, policies."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from roboshop.gateway.app import create_app
from roboshop.gateway.exchange import Exchange, Handler
from roboshop.gateway.routing import Route, RouteTableError
from roboshop.gateway.settings import GatewaySettings, packaged_routes_file, packaged_web_root

from .conftest import MakeSettings
from .servers import registry, running_gateway, shop_with, unused_port

PROBLEM = "application/problem+json"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_a_path_outside_the_route_table_is_404_even_if_the_service_has_it(
    make_settings: MakeSettings,
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.get("/api/catalogue/admin/drop")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "no public route for GET /api/catalogue/admin/drop"
    assert shop.upstream.seen == []


async def test_a_public_path_with_another_method_is_405_with_allow(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "ratings") as shop:
        response = await shop.client.delete("/api/ratings/api/rate/Watson/5")
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT"
    assert response.headers["content-type"] == PROBLEM
    assert shop.upstream.seen == []


async def test_head_is_forwarded_where_get_is_public(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.head("/api/catalogue/products")
    assert response.status_code == 200
    assert response.content == b""
    assert shop.upstream.seen[0].method == "HEAD"


async def test_health_answers_without_any_service(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/health")
        refused = await client.post("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}
    assert refused.status_code == 405


async def test_ready_reports_the_instances_discovery_knows(make_settings: MakeSettings) -> None:
    instances = {"catalogue": [("catalogue-1", 1), ("catalogue-2", 2)]}
    async with registry(instances) as registry_url:
        settings = make_settings(discovery="registry", registry_url=registry_url)
        async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
            response = await client.get("/ready")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["instances"]["catalogue"] == 2
    assert report["instances"]["ratings"] == 0


async def test_ready_fails_while_the_registry_does_not_answer(make_settings: MakeSettings) -> None:
    settings = make_settings(discovery="registry", registry_url=f"http://127.0.0.1:{unused_port()}")
    async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["instances"]["catalogue"].startswith("failing: PeerUnavailable")


async def test_metrics_count_requests_per_route_template_and_per_upstream(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        for sku in ("Watson", "Ewooid", "HPTD"):
            await shop.client.get(f"/api/catalogue/product/{sku}")
        await shop.client.get("/api/catalogue/nothing")
        await shop.client.get("/product/Watson")
        await shop.client.get("/health")
        text = (await shop.client.get("/metrics")).text
    requests = samples(text, "http_requests_total")
    route = (("method", "GET"), ("route", "/api/catalogue/product/{sku}"), ("service", "gateway"), ("status", "200"))
    assert requests[route] == 3
    assert requests[(("method", "GET"), ("route", "<unmatched>"), ("service", "gateway"), ("status", "404"))] == 1
    assert requests[(("method", "GET"), ("route", "<static>"), ("service", "gateway"), ("status", "200"))] == 1
    assert not any(dict(labels)["route"] in ("/health", "/metrics") for labels in requests)
    upstream = samples(text, "gateway_upstream_requests_total")
    assert upstream[(("status", "200"), ("upstream", "catalogue"))] == 3
    durations = samples(text, "gateway_upstream_duration_seconds_count")
    assert durations[(("upstream", "catalogue"),)] == 3
    assert samples(text, "http_request_duration_seconds_count")[(route[0], route[1], route[2])] == 3


async def test_upstream_failures_are_counted_without_a_status(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        await client.get("/api/catalogue/products")
        text = (await client.get("/metrics")).text
    # One attempt and its retry, both refused.
    assert samples(text, "gateway_upstream_requests_total")[(("status", "error"), ("upstream", "catalogue"))] == 2


async def test_each_request_is_logged_once_with_its_route_and_upstream_instance(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roboshop.access")
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.get("/api/catalogue/product/Watson", headers={"X-Request-ID": "req-42"})
        await shop.client.get("/health")
    lines = [record for record in caplog.records if record.name == "roboshop.access"]
    assert len(lines) == 1
    entry: Any = lines[0]
    assert response.status_code == 200
    assert (entry.method, entry.path, entry.route, entry.status) == (
        "GET",
        "/api/catalogue/product/Watson",
        "/api/catalogue/product/{sku}",
        200,
    )
    assert entry.upstream == "catalogue@127.0.0.1"
    assert entry.request_id == "req-42"
    assert entry.duration_ms > 0


class ShopClosed:
    """A policy for the tests: answers 423 on ratings routes and leaves the others untouched."""

    def __init__(self) -> None:
        self.wrapped: list[str] = []

    def wrap(self, route: Route, handler: Handler) -> Handler:
        if route.service != "ratings":
            return handler
        self.wrapped.append(route.label)

        async def closed(ex: Exchange) -> None:
            await ex.problem(423, f"ratings are closed ({ex.route.params(ex.rest)['sku'] if ex.route else ''})")

        return closed


async def test_a_policy_wraps_only_the_routes_it_applies_to(make_settings: MakeSettings) -> None:
    policy = ShopClosed()
    async with shop_with(make_settings, "catalogue", "ratings", policies=(policy,)) as shop:
        rating = await shop.client.put("/api/ratings/api/rate/Watson/5")
        product = await shop.client.get("/api/catalogue/product/Watson")
    assert (rating.status_code, rating.json()["detail"]) == (423, "ratings are closed (Watson)")
    assert product.status_code == 200
    assert sorted(policy.wrapped) == ["/api/ratings/api/fetch/{sku}", "/api/ratings/api/rate/{sku}/{score}"]


async def test_start_up_fails_clearly_when_discovery_is_misconfigured(make_settings: MakeSettings) -> None:
    app = create_app(make_settings(discovery="registry", registry_url=None))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[MutableMapping[str, Any]] = []
    await inbox.put({"type": "lifespan.startup"})

    async def send(message: MutableMapping[str, Any]) -> None:
        outbox.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    assert outbox == [{"type": "lifespan.startup.failed", "message": "discovery=registry needs a registry_url"}]


def test_an_invalid_route_table_stops_the_app_from_being_built(make_settings: MakeSettings, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("services:\n  catalogue:\n    routes:\n      - {methods: [GET], path: products}\n")
    with pytest.raises(RouteTableError, match=r"services\.catalogue\.routes\[0\] \(products\)\.path"):
        create_app(make_settings(routes_file=broken))


def test_a_missing_web_root_stops_the_app_from_being_built(make_settings: MakeSettings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a directory"):
        create_app(make_settings(web_root=tmp_path / "nowhere"))


def test_settings_default_to_port_8080_and_the_packaged_files(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ROBOSHOP_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ROBOSHOP_GATEWAY_UPSTREAM_TIMEOUT_S", "12.5")
    settings = GatewaySettings()
    assert (settings.service_name, settings.port) == ("gateway", 8080)
    assert settings.web_root == packaged_web_root()
    assert (settings.web_root / "index.html").is_file()
    assert settings.routes_file == packaged_routes_file()
    assert settings.upstream_timeout_s == 12.5


def test_python_m_roboshop_gateway_serves_and_stops_cleanly_on_sigterm(web_root: Path) -> None:
    port = unused_port()
    env = {
        **os.environ,
        "ROBOSHOP_GATEWAY_PORT": str(port),
        "ROBOSHOP_GATEWAY_WEB_ROOT": str(web_root),
        "ROBOSHOP_GATEWAY_GRACE_PERIOD_S": "1",
    }
    env.pop("ROBOSHOP_GATEWAY_REGISTRY_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "roboshop.gateway"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        health: httpx.Response | None = None
        while health is None:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "the gateway did not answer /health in time"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            except httpx.TransportError:
                time.sleep(0.05)
        page = httpx.get(f"http://127.0.0.1:{port}/product/Watson", timeout=1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert health.json()["service"] == "gateway"
    assert page.status_code == 200
    assert process.returncode == 0
    events = [json.loads(line)["event"] for line in output.decode().splitlines() if line.startswith("{")]
    assert "serving" in events
    assert "stopped" in events


async def test_the_access_log_can_be_switched_off(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roboshop.access")
    async with shop_with(make_settings, "catalogue", access_log=False) as shop:
        response = await shop.client.get("/api/catalogue/products")
    assert response.status_code == 200
    assert [record for record in caplog.records if record.name == "roboshop.access"] == []
