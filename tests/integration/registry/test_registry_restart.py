"""The registry's state survives its own restart on the same SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conftest import InstanceFactory

Eventually = Callable[..., Awaitable[None]]
StartRegistry = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


async def agent_services(registry: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await registry.get("/v1/agent/services")).json()
    return body


async def test_instances_and_their_status_survive_a_restart_and_are_checked_again_at_once(
    start_registry: StartRegistry, sqlite_url: str, instance: InstanceFactory, eventually: Eventually
) -> None:
    healthy, failing, leaving = await instance(), await instance(503), await instance()
    async with start_registry(sqlite_url) as registry:
        await registry.put("/v1/agent/service/register", json=healthy.registration("catalogue-1", Interval="10s"))
        await registry.put("/v1/agent/service/register", json=failing.registration("catalogue-2", Interval="10s"))
        await registry.put("/v1/agent/service/register", json=leaving.registration("cart-1", "cart"))

        async def settled() -> bool:
            services = await agent_services(registry)
            return services["catalogue-1"]["Status"] == "passing" and services["catalogue-2"]["Output"] == "HTTP 503"

        await eventually(settled)
        await registry.put("/v1/agent/service/deregister/cart-1")
        before = await agent_services(registry)
        checks_before = healthy.checks

    async with start_registry(sqlite_url) as registry:
        after = await agent_services(registry)
        passing = (await registry.get("/v1/health/service/catalogue", params={"passing": "true"})).json()

        assert set(after) == {"catalogue-1", "catalogue-2"}
        for instance_id in after:
            kept = {key: after[instance_id][key] for key in ("ID", "Service", "Address", "Port", "Tags", "Meta")}
            assert kept == {key: before[instance_id][key] for key in kept}
            assert after[instance_id]["Status"] == before[instance_id]["Status"]
        assert [row["Service"]["ID"] for row in passing] == ["catalogue-1"]

        async def checked_again() -> bool:
            return healthy.checks > checks_before

        # Its interval is 10 s: a check this soon is the re-check at start-up.
        await eventually(checked_again, 1.0)
