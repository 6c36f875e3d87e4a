"""The kit's RegistryClient and RegistryDiscovery work against the real registry, served on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp
import pytest

from roboshop.kit.discovery import RegistryDiscovery
from roboshop.kit.errors import PeerUnavailable
from roboshop.kit.registration import Registration, RegistryClient

if TYPE_CHECKING:
    from conftest import HealthyInstance, InstanceFactory

Eventually = Callable[..., Awaitable[None]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def registration_of(server: HealthyInstance, instance_id: str) -> Registration:
    return Registration(
        service="catalogue",
        instance_id=instance_id,
        address="127.0.0.1",
        port=server.port,
        check_interval_s=0.1,
        deregister_after_s=5.0,
        version="1.2.3",
    )


async def discovery(registry_url: str, session: aiohttp.ClientSession) -> RegistryDiscovery:
    # A fresh discovery each time: its cache then reflects the registry now, not a TTL ago.
    found = RegistryDiscovery(registry_url, ttl_s=60.0)
    await found.start(session)
    return found


async def test_registered_instances_are_discovered_once_passing_round_robin_until_reported_and_deregistered(
    registry_url: str, session: aiohttp.ClientSession, instance: InstanceFactory, eventually: Eventually
) -> None:
    first, second = await instance(), await instance()
    client = RegistryClient(registry_url, session)

    await client.register(registration_of(first, "catalogue-1"))
    await client.register(registration_of(second, "catalogue-2"))

    async def both_passing() -> bool:
        found = await (await discovery(registry_url, session)).instances("catalogue")
        return sorted(found_instance.id for found_instance in found) == ["catalogue-1", "catalogue-2"]

    await eventually(both_passing, 3.0)

    peers = await discovery(registry_url, session)
    picked = [(await peers.pick("catalogue")).id for _ in range(4)]
    assert sorted(picked[:2]) == ["catalogue-1", "catalogue-2"]
    assert picked[2:] == picked[:2]
    one = await peers.pick("catalogue")
    assert (one.address, one.port, one.url) == ("127.0.0.1", first.port, f"http://127.0.0.1:{first.port}")

    peers.report_failure(one)
    assert {(await peers.pick("catalogue")).id for _ in range(3)} == {"catalogue-2"}

    await client.deregister("catalogue-1")
    await client.deregister("catalogue-1")  # a second deregistration (404) is not an error for the client
    assert [found.id for found in await (await discovery(registry_url, session)).instances("catalogue")] == [
        "catalogue-2"
    ]

    await client.deregister("catalogue-2")
    with pytest.raises(PeerUnavailable):
        await (await discovery(registry_url, session)).pick("catalogue")


async def test_an_instance_is_not_discovered_before_its_first_check_passes(
    registry_url: str, session: aiohttp.ClientSession, instance: InstanceFactory, eventually: Eventually
) -> None:
    failing = await instance(503)
    client = RegistryClient(registry_url, session)

    await client.register(registration_of(failing, "catalogue-1"))

    assert await (await discovery(registry_url, session)).instances("catalogue") == []
    failing.status = 200

    async def discovered() -> bool:
        return len(await (await discovery(registry_url, session)).instances("catalogue")) == 1

    await eventually(discovered, 3.0)


async def test_the_kit_registration_payload_is_accepted_with_its_check_settings(
    registry_url: str, session: aiohttp.ClientSession, instance: InstanceFactory
) -> None:
    server = await instance()
    client = RegistryClient(registry_url, session)

    await client.register(registration_of(server, "catalogue-1"))

    async with session.get(f"{registry_url}/v1/agent/services") as response:
        services = await response.json()
    assert services["catalogue-1"]["Meta"] == {"version": "1.2.3"}
    assert services["catalogue-1"]["Port"] == server.port
