"""Active health checks against real tiny instances on 127.0.0.1 (intervals of 0.1 s)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import InstanceFactory

Eventually = Callable[..., Awaitable[None]]


async def entry(registry: httpx.AsyncClient, instance_id: str) -> dict[str, Any] | None:
    services: dict[str, Any] = (await registry.get("/v1/agent/services")).json()
    return services.get(instance_id)


def has(registry: httpx.AsyncClient, instance_id: str, **expected: Any) -> Callable[[], Awaitable[bool]]:
    async def condition() -> bool:
        found = await entry(registry, instance_id)
        return found is not None and all(found[key] == value for key, value in expected.items())

    return condition


def gone(registry: httpx.AsyncClient, instance_id: str) -> Callable[[], Awaitable[bool]]:
    async def condition() -> bool:
        return await entry(registry, instance_id) is None

    return condition


async def test_a_healthy_instance_passes_and_one_answering_503_is_critical(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy, failing = await instance(200), await instance(503)

    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1"))
    await registry.put("/v1/agent/service/register", json=failing.registration("catalogue-2"))

    await eventually(has(registry, "catalogue-1", Status="passing", Output="HTTP 200"))
    await eventually(has(registry, "catalogue-2", Status="critical", Output="HTTP 503"))


async def test_an_instance_that_stops_turns_critical_and_is_removed_after_its_deregister_after(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually, caplog: pytest.LogCaptureFixture
) -> None:
    stopping = await instance()
    registration = stopping.registration("catalogue-1", DeregisterCriticalServiceAfter="0.4s")
    await registry.put("/v1/agent/service/register", json=registration)
    await eventually(has(registry, "catalogue-1", Status="passing"))

    with caplog.at_level(logging.INFO, logger="roboshop.registry"):
        await stopping.stop()
        await eventually(has(registry, "catalogue-1", Status="critical", Output="connection refused"))
        await eventually(gone(registry, "catalogue-1"), 2.0)

    events = [record.getMessage() for record in caplog.records]
    assert "instance status changed" in events
    assert "instance removed: critical for longer than its deregister-after" in events
    assert (await registry.get("/v1/health/service/catalogue")).json() == []


async def test_a_critical_instance_that_recovers_passes_again_and_is_kept(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    flaky = await instance(500)
    await registry.put(
        "/v1/agent/service/register", json=flaky.registration("catalogue-1", DeregisterCriticalServiceAfter="5s")
    )
    await eventually(has(registry, "catalogue-1", Status="critical", Output="HTTP 500"))

    flaky.status = 200

    await eventually(has(registry, "catalogue-1", Status="passing", Output="HTTP 200"))


async def test_a_hanging_instance_never_delays_the_checks_of_the_others(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    hanging, healthy = await instance(hang=True), await instance()
    await registry.put("/v1/agent/service/register", json=hanging.registration("catalogue-1", Timeout="0.6s"))
    await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-2"))

    async def healthy_checked_often() -> bool:
        return healthy.checks >= 4

    await eventually(healthy_checked_often, 0.55)  # four 0.1 s intervals while the other's check still hangs
    assert hanging.checks == 1
    await eventually(has(registry, "catalogue-1", Status="critical", Output="timed out after 0.6s"), 2.0)


async def test_each_instance_is_checked_on_its_own_interval(
    registry: httpx.AsyncClient, instance: InstanceFactory, eventually: Eventually
) -> None:
    often, rarely = await instance(), await instance()
    await registry.put("/v1/agent/service/register", json=often.registration("catalogue-1", Interval="0.05s"))
    await registry.put("/v1/agent/service/register", json=rarely.registration("catalogue-2", Interval="10s"))

    async def often_checked() -> bool:
        return often.checks >= 6

    await eventually(often_checked, 2.0)
    assert rarely.checks == 1
