"""The registry's HTTP API, through the real app (SQLite, its checker running against tiny local instances)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest

if TYPE_CHECKING:
    from conftest import InstanceFactory

Eventually = Callable[..., Awaitable[None]]


async def agent_services(registry: httpx.AsyncClient) -> dict[str, Any]:
    response = await registry.get("/v1/agent/services")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def status_of(registry: httpx.AsyncClient, instance_id: str) -> str | None:
    entry = (await agent_services(registry)).get(instance_id)
    return None if entry is None else str(entry["Status"])


async def test_a_registered_instance_is_listed_critical_while_awaiting_its_first_check(
    registry: httpx.AsyncClient, instance: InstanceFactory
) -> None:
    slow = await instance(hang=True)

    response = await registry.put("/v1/agent/service/register", json=slow.registration("catalogue-1"))

    assert response.status_code == 200
    assert (await agent_services(registry)) == {
        "catalogue-1": {
            "ID": "catalogue-1",
            "Service": "catalogue",
            "Address": "127.0.0.1",
            "Port": slow.port,
            "Tags": ["v1"],
            "Meta": {"version": "1.0"},
            "Status": "critical",
            "Output": "awaiting first check",
            "LastCheck": None,
        }
    }


async def test_an_instance_that_serves_when_it_registers_passes_almost_at_once(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy = await instance()
    started = time.monotonic()

    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1", Interval="10s"))

    async def passing() -> bool:
        return await status_of(registry, "catalogue-1") == "passing"

    await eventually(passing, 2.0)
    assert time.monotonic() - started < 0.5  # not after its 10 s interval
    entry = (await agent_services(registry))["catalogue-1"]
    assert entry["Output"] == "HTTP 200"
    assert entry["LastCheck"].endswith("Z")


async def test_the_health_of_a_service_lists_its_instances_sorted_by_id_and_filters_passing(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy, other, failing = await instance(), await instance(), await instance(503)
    await registry.put("/v1/agent/service/register", json=other.registration("catalogue-b"))
    await registry.put("/v1/agent/service/register", json=failing.registration("catalogue-c"))
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-a"))
    await registry.put("/v1/agent/service/register", json=healthy.registration("cart-1", "cart"))

    async def settled() -> bool:
        services = await agent_services(registry)
        return all(entry["LastCheck"] for entry in services.values())

    await eventually(settled)

    everything = (await registry.get("/v1/health/service/catalogue")).json()
    passing = (await registry.get("/v1/health/service/catalogue", params={"passing": "true"})).json()
    bare = (await registry.get("/v1/health/service/catalogue?passing")).json()
    explicit_false = (await registry.get("/v1/health/service/catalogue?passing=false")).json()

    assert [row["Service"]["ID"] for row in everything] == ["catalogue-a", "catalogue-b", "catalogue-c"]
    assert [row["Service"]["ID"] for row in passing] == ["catalogue-a", "catalogue-b"]
    assert bare == passing
    assert explicit_false == everything
    assert passing[0]["Service"] == {
        "ID": "catalogue-a",
        "Service": "catalogue",
        "Address": "127.0.0.1",
        "Port": healthy.port,
        "Tags": ["v1"],
        "Meta": {"version": "1.0"},
    }
    [check] = passing[0]["Checks"]
    assert check["CheckID"] == "service:catalogue-a"
    assert (check["Status"], check["Output"]) == ("passing", "HTTP 200")
    [failing_check] = everything[2]["Checks"]
    assert (failing_check["Status"], failing_check["Output"]) == ("critical", "HTTP 503")


async def test_the_health_of_an_unknown_service_is_an_empty_list(registry: httpx.AsyncClient) -> None:
    response = await registry.get("/v1/health/service/nothing", params={"passing": "true"})

    assert response.status_code == 200
    assert response.json() == []


async def test_a_passing_filter_that_is_not_a_boolean_is_refused(registry: httpx.AsyncClient) -> None:
    response = await registry.get("/v1/health/service/catalogue", params={"passing": "maybe"})

    assert response.status_code == 400
    assert "passing" in response.json()["detail"]


async def test_re_registering_the_same_address_keeps_the_status_and_updates_tags_and_meta(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy = await instance()
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1", Interval="10s"))

    async def passing() -> bool:
        return await status_of(registry, "catalogue-1") == "passing"

    await eventually(passing)

    update = healthy.registration("catalogue-1", Interval="10s") | {"Tags": ["v2", "canary"], "Meta": {"version": "2"}}
    assert (await registry.put("/v1/agent/service/register", json=update)).status_code == 200

    entry = (await agent_services(registry))["catalogue-1"]
    assert (entry["Status"], entry["Tags"], entry["Meta"]) == ("passing", ["v2", "canary"], {"version": "2"})


async def test_re_registering_another_port_starts_over_awaiting_the_first_check(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy, moved = await instance(), await instance(hang=True)
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1"))

    async def passing() -> bool:
        return await status_of(registry, "catalogue-1") == "passing"

    await eventually(passing)

    await registry.put("/v1/agent/service/register", json=moved.registration("catalogue-1"))

    entry = (await agent_services(registry))["catalogue-1"]
    assert (entry["Port"], entry["Status"], entry["Output"]) == (moved.port, "critical", "awaiting first check")


async def test_a_deregistered_instance_is_gone_and_deregistering_it_again_is_404(
    registry: httpx.AsyncClient, instance: InstanceFactory
) -> None:
    healthy = await instance()
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1"))

    first = await registry.put("/v1/agent/service/deregister/catalogue-1")
    second = await registry.put("/v1/agent/service/deregister/catalogue-1")

    assert first.status_code == 200
    assert await agent_services(registry) == {}
    assert (await registry.get("/v1/health/service/catalogue")).json() == []
    assert second.status_code == 404
    assert second.headers["content-type"] == "application/problem+json"
    assert "catalogue-1" in second.json()["detail"]


def a_valid_registration() -> dict[str, Any]:
    return {
        "ID": "catalogue-1",
        "Name": "catalogue",
        "Address": "127.0.0.1",
        "Port": 8101,
        "Tags": ["v1"],
        "Meta": {"version": "1.0"},
        "Check": {
            "HTTP": "http://127.0.0.1:8101/health",
            "Interval": "2s",
            "Timeout": "1s",
            "DeregisterCriticalServiceAfter": "30s",
        },
    }


def without(key: str) -> dict[str, Any]:
    registration = a_valid_registration()
    del registration[key]
    return registration


def with_field(key: str, value: Any) -> dict[str, Any]:
    return a_valid_registration() | {key: value}


def with_check(key: str, value: Any) -> dict[str, Any]:
    registration = a_valid_registration()
    registration["Check"] = registration["Check"] | {key: value}
    return registration


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (without("ID"), "ID"),
        (with_field("ID", ""), "ID"),
        (with_field("ID", "x" * 129), "ID"),
        (with_field("ID", "catalogue 1"), "ID"),
        (with_field("ID", "../etc"), "ID"),
        (with_field("Name", ""), "Name"),
        (with_field("Name", "cata/logue"), "Name"),
        (with_field("Name", "x" * 129), "Name"),
        (without("Address"), "Address"),
        (with_field("Address", "not a host"), "Address"),
        (with_field("Port", 0), "Port"),
        (with_field("Port", 65536), "Port"),
        (with_field("Port", "8101"), "Port"),
        (with_field("Port", 8101.5), "Port"),
        (with_field("Tags", "v1"), "Tags"),
        (with_field("Tags", [""]), "Tags"),
        (with_field("Meta", {"version": 1}), "Meta"),
        (without("Check"), "Check"),
        (with_check("HTTP", "ftp://127.0.0.1/health"), "Check.HTTP"),
        (with_check("HTTP", "127.0.0.1:8101/health"), "Check.HTTP"),
        (with_check("Interval", "2"), "Check.Interval"),
        (with_check("Interval", "fast"), "Check.Interval"),
        (with_check("Interval", 2), "Check.Interval"),
        (with_check("Interval", "1ms"), "Check.Interval"),
        (with_check("Timeout", "0s"), "Check.Timeout"),
        (with_check("DeregisterCriticalServiceAfter", "-30s"), "Check.DeregisterCriticalServiceAfter"),
    ],
)
async def test_a_bad_registration_is_refused_naming_the_field_and_changes_nothing(
    registry: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await registry.put("/v1/agent/service/register", json=payload)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert f"body.{field}" in response.json()["detail"]
    assert await agent_services(registry) == {}


async def test_a_registration_that_is_not_json_is_refused(registry: httpx.AsyncClient) -> None:
    response = await registry.put(
        "/v1/agent/service/register", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert await agent_services(registry) == {}


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
async def test_a_registration_is_read_as_json_whatever_its_content_type_like_consul_does(
    registry: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = await registry.put(
        "/v1/agent/service/register", content=orjson.dumps(a_valid_registration()), headers=headers
    )

    assert response.status_code == 200
    assert list(await agent_services(registry)) == ["catalogue-1"]


async def test_a_registration_may_leave_out_tags_meta_and_check_timings(registry: httpx.AsyncClient) -> None:
    minimal = {
        "ID": "cart-1",
        "Name": "cart",
        "Address": "127.0.0.1",
        "Port": 8201,
        "Check": {"HTTP": "http://127.0.0.1:8201/health"},
    }

    assert (await registry.put("/v1/agent/service/register", json=minimal)).status_code == 200
    entry = (await agent_services(registry))["cart-1"]
    assert (entry["Tags"], entry["Meta"]) == ([], {})


async def test_the_catalog_lists_every_service_with_its_tags(
    registry: httpx.AsyncClient, instance: InstanceFactory
) -> None:
    healthy = await instance()
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1") | {"Tags": ["v1"]})
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-2") | {"Tags": ["v2", "v1"]})
    await registry.put("/v1/agent/service/register", json=healthy.registration("cart-1", "cart") | {"Tags": []})

    response = await registry.get("/v1/catalog/services")

    assert response.status_code == 200
    assert response.json() == {"cart": [], "catalogue": ["v1", "v2"]}


async def test_prometheus_service_discovery_lists_every_instance_metrics_target(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy, failing = await instance(), await instance(500)
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1"))
    await registry.put("/v1/agent/service/register", json=failing.registration("cart-1", "cart"))

    async def checked() -> bool:
        return await status_of(registry, "catalogue-1") == "passing"

    await eventually(checked)
    response = await registry.get("/v1/sd/prometheus")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [
        {
            "targets": [f"127.0.0.1:{failing.port}"],
            "labels": {
                "__metrics_path__": "/metrics",
                "service": "cart",
                "instance_id": "cart-1",
                "status": "critical",
            },
        },
        {
            "targets": [f"127.0.0.1:{healthy.port}"],
            "labels": {
                "__metrics_path__": "/metrics",
                "service": "catalogue",
                "instance_id": "catalogue-1",
                "status": "passing",
            },
        },
    ]


async def test_the_instances_gauge_is_exported_by_service_and_status(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy = await instance()
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1"))

    async def passing() -> bool:
        return await status_of(registry, "catalogue-1") == "passing"

    await eventually(passing)
    metrics = (await registry.get("/metrics")).text

    assert 'registry_instances{service="catalogue",status="passing"} 1.0' in metrics
    assert 'registry_instances{service="catalogue",status="critical"} 0.0' in metrics


async def test_the_registry_is_live_and_ready_when_its_database_answers(registry: httpx.AsyncClient) -> None:
    health = await registry.get("/health")
    ready = await registry.get("/ready")

    assert health.status_code == 200
    assert health.json()["service"] == "registry"
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}
