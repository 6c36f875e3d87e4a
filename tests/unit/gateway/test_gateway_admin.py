"""The admin API on its own listener, fault injection, and hot reload of the route table."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from roboshop.gateway.app import create_app

from .conftest import TEST_ROUTES, MakeSettings
from .servers import shop_with, wait_for

ADMIN_KEY = "an admin key nobody guesses"
KEY = {"X-Admin-Key": ADMIN_KEY}
NEW_ROUTE = '      - {methods: [GET], path: "/categories"}\n'


def with_route(table: str, route: str) -> str:
    """The test table with ``route`` added to the catalogue's routes."""
    anchor = "      - {methods: [GET], path: /products}\n"
    return table.replace(anchor, anchor + route)


async def test_the_admin_api_needs_the_admin_key(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue", admin_enabled=True, admin_port=0, admin_key=ADMIN_KEY) as shop:
        admin = shop.gateway.app.admin
        assert admin is not None
        async with httpx.AsyncClient(base_url=admin.url) as client:
            without = await client.get("/admin/routes")
            wrong = await client.get("/admin/routes", headers={"X-Admin-Key": ADMIN_KEY + "!"})
            bearer = await client.get("/admin/routes", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            routes = await client.get("/admin/routes", headers=KEY)
            metrics = await client.get("/metrics")
    assert without.status_code == 401
    assert without.headers["content-type"].startswith("application/problem+json")
    assert wrong.status_code == 401
    assert bearer.status_code == 200
    assert "/api/catalogue/products" in {row["path"] for row in routes.json()["routes"]}
    assert metrics.status_code == 200
    assert "gateway_upstream_requests_total" in metrics.text


async def test_the_public_port_exposes_neither_the_admin_api_nor_the_metrics(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue", admin_enabled=True, admin_port=0, admin_key=ADMIN_KEY) as shop:
        admin_paths = [await shop.client.get(path, headers=KEY) for path in ("/admin/routes", "/admin/upstreams")]
        metrics = await shop.client.get("/metrics")
    for response in [*admin_paths, metrics]:
        assert "application/json" not in response.headers.get("content-type", "")
        assert "http_requests_total" not in response.text
        assert "catalogue" not in response.text


async def test_metrics_stay_on_the_public_port_when_a_setting_says_so(make_settings: MakeSettings) -> None:
    async with shop_with(
        make_settings, "catalogue", admin_enabled=True, admin_port=0, admin_key=ADMIN_KEY, public_metrics=True
    ) as shop:
        metrics = await shop.client.get("/metrics")
    assert "gateway_upstream_requests_total" in metrics.text


async def test_the_admin_listener_refuses_to_start_without_a_key(make_settings: MakeSettings) -> None:
    gateway = create_app(make_settings(admin_enabled=True, admin_port=0))
    with pytest.raises(ValueError, match="ROBOSHOP_GATEWAY_ADMIN_KEY"):
        await gateway.start()
    await gateway.close()


async def test_injected_faults_fail_or_slow_a_service_until_removed(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue", admin_enabled=True, admin_port=0, admin_key=ADMIN_KEY) as shop:
        admin = shop.gateway.app.admin
        assert admin is not None
        async with httpx.AsyncClient(base_url=admin.url, headers=KEY) as client:
            assert (await client.put("/admin/faults/catalogue", json={"error_rate": 1.0})).status_code == 200
            failed = await shop.client.get("/api/catalogue/products")
            await client.put("/admin/faults/catalogue", json={"latency_ms": 300})
            started = time.monotonic()
            slow = await shop.client.get("/api/catalogue/products")
            slow_s = time.monotonic() - started
            listed = (await client.get("/admin/faults")).json()
            assert (await client.delete("/admin/faults/catalogue")).status_code == 204
            after = await shop.client.get("/api/catalogue/products")
            invalid = await client.put("/admin/faults/catalogue", json={"error_rate": 2})
            unknown = await client.put("/admin/faults/warehouse", json={"error_rate": 1})
    assert failed.status_code == 503
    assert "injected fault" in failed.json()["detail"]
    assert slow.status_code == 200
    assert slow_s >= 0.3
    assert listed == {"catalogue": {"latency_ms": 300, "error_rate": 0.0}}
    assert after.status_code == 200
    assert invalid.status_code == 400
    assert unknown.status_code == 404
    assert len(shop.upstream.seen) == 2


async def test_upstreams_report_instances_and_breakers(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue", admin_enabled=True, admin_port=0, admin_key=ADMIN_KEY) as shop:
        await shop.client.get("/api/catalogue/products")
        admin = shop.gateway.app.admin
        assert admin is not None
        async with httpx.AsyncClient(base_url=admin.url, headers=KEY) as client:
            report = (await client.get("/admin/upstreams")).json()
    catalogue = report["catalogue"]
    assert catalogue["breaker"] == {"state": "closed", "failures": 0}
    assert catalogue["balance"] == "round_robin"
    [instance] = catalogue["instances"]
    assert instance["url"] == shop.upstream_url
    assert (instance["requests"], instance["ejected"]) == (1, False)


async def test_a_reload_through_the_admin_api_swaps_the_table_and_a_broken_file_keeps_the_old(
    make_settings: MakeSettings, routes_file: Path
) -> None:
    async with shop_with(make_settings, "catalogue", admin_enabled=True, admin_port=0, admin_key=ADMIN_KEY) as shop:
        admin = shop.gateway.app.admin
        assert admin is not None
        async with httpx.AsyncClient(base_url=admin.url, headers=KEY) as client:
            before = await shop.client.get("/api/catalogue/categories")
            routes_file.write_text(with_route(TEST_ROUTES, NEW_ROUTE))
            reloaded = await client.post("/admin/reload")
            added = await shop.client.get("/api/catalogue/categories")
            routes_file.write_text(with_route(TEST_ROUTES, '      - {methods: [FETCH], path: "/x"}\n'))
            broken = await client.post("/admin/reload")
            still = await shop.client.get("/api/catalogue/categories")
    assert before.status_code == 404
    assert reloaded.json()["reloaded"] is True
    assert added.status_code == 200
    assert broken.status_code == 400
    assert "services.catalogue.routes[1] (/x).methods" in broken.json()["detail"]
    assert still.status_code == 200


async def test_a_changed_file_is_reloaded_under_load_without_a_failed_request(
    make_settings: MakeSettings, routes_file: Path
) -> None:
    async with shop_with(make_settings, "catalogue", routes_poll_s=0.02) as shop:
        statuses: list[int] = []
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set() and len(statuses) < 5000:
                statuses.append((await shop.client.get("/api/catalogue/products")).status_code)

        workers = [asyncio.create_task(load()) for _ in range(4)]
        for round_ in range(6):
            routes_file.write_text(with_route(TEST_ROUTES, NEW_ROUTE if round_ % 2 == 0 else ""))
            expected = 200 if round_ % 2 == 0 else 404

            async def swapped(expected: int = expected) -> bool:
                return (await shop.client.get("/api/catalogue/categories")).status_code == expected

            await wait_for(swapped, "the new table to be in use")
            enough = (round_ + 1) * 50
            await wait_for(lambda enough=enough: len(statuses) >= enough, "requests served by this table")
        stop.set()
        await asyncio.gather(*workers)
    assert len(statuses) >= 300
    assert set(statuses) == {200}


async def test_sighup_reloads_the_table(make_settings: MakeSettings, routes_file: Path) -> None:
    async with shop_with(make_settings, "catalogue", routes_poll_s=0) as shop:
        watcher = shop.gateway.app._watcher
        assert watcher is not None
        assert watcher._signal_installed, "SIGHUP would end the test run without the gateway's handler"
        routes_file.write_text(with_route(TEST_ROUTES, NEW_ROUTE))
        os.kill(os.getpid(), signal.SIGHUP)

        async def added() -> bool:
            return (await shop.client.get("/api/catalogue/categories")).status_code == 200

        await wait_for(added, "SIGHUP to reload the table")
