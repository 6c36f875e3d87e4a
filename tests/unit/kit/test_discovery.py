"""Finding peer instances: static configuration, and the registry (a fake one served on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

import roboshop.kit.discovery
from roboshop.kit.discovery import Instance, RegistryDiscovery, StaticDiscovery, build_discovery
from roboshop.kit.errors import PeerUnavailable
from roboshop.kit.settings import ServiceSettings

from .fakes import FakeRegistry, health_row, unused_port

TTL_S = 2.0


class Clock:
    """Stands in for the ``time`` module inside discovery, so cache expiry is decided by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(roboshop.kit.discovery, "time", clock)
    return clock


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def registry_discovery(url: str, session: aiohttp.ClientSession) -> RegistryDiscovery:
    discovery = RegistryDiscovery(url, ttl_s=TTL_S, timeout_s=1.0)
    await discovery.start(session)
    return discovery


def catalogue_instances(registry: FakeRegistry, count: int) -> list[str]:
    ids = [f"catalogue-{n}" for n in range(1, count + 1)]
    registry.rows["catalogue"] = [health_row("catalogue", instance, 8100 + n) for n, instance in enumerate(ids, 1)]
    return ids


# --- static discovery ---------------------------------------------------------------------------------------


async def test_static_discovery_uses_the_configured_peer_url() -> None:
    discovery = StaticDiscovery({"catalogue": "http://10.0.0.5:8101"})

    instance = await discovery.pick("catalogue")

    assert (instance.service, instance.address, instance.port, instance.scheme) == (
        "catalogue",
        "10.0.0.5",
        8101,
        "http",
    )
    assert instance.url == "http://10.0.0.5:8101"


async def test_static_discovery_falls_back_to_the_dns_name_template() -> None:
    discovery = StaticDiscovery({"catalogue": "http://10.0.0.5:8101"}, "http://{service}.shop.svc:8080")

    instance = await discovery.pick("ratings")

    assert instance.url == "http://ratings.shop.svc:8080"
    assert instance.service == "ratings"


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://payments.example.com", "https://payments.example.com:443"), ("http://cart", "http://cart:80")],
)
async def test_static_discovery_defaults_the_port_from_the_scheme(url: str, expected: str) -> None:
    discovery = StaticDiscovery({"peer": url})

    assert (await discovery.pick("peer")).url == expected


async def test_static_discovery_understands_an_ipv6_peer() -> None:
    instance = await StaticDiscovery({"cart": "http://[::1]:8301"}).pick("cart")

    assert instance.address == "::1"
    assert instance.url == "http://[::1]:8301"


async def test_static_discovery_without_a_usable_address_has_no_instance() -> None:
    discovery = StaticDiscovery({}, "not a url")

    assert await discovery.instances("cart") == []
    with pytest.raises(PeerUnavailable, match="cart"):
        await discovery.pick("cart")


async def test_static_discovery_keeps_handing_out_an_instance_reported_as_failed() -> None:
    discovery = StaticDiscovery({"cart": "http://cart:8080"})
    instance = await discovery.pick("cart")

    discovery.report_failure(instance)

    assert await discovery.pick("cart") == instance


def test_build_discovery_picks_the_implementation_from_settings() -> None:
    assert isinstance(build_discovery(ServiceSettings()), StaticDiscovery)
    registry = ServiceSettings(discovery="registry", registry_url="http://127.0.0.1:8500")
    assert isinstance(build_discovery(registry), RegistryDiscovery)
    with pytest.raises(ValueError, match="registry_url"):
        build_discovery(ServiceSettings(discovery="registry"))


# --- registry discovery -------------------------------------------------------------------------------------


async def test_registry_discovery_asks_for_passing_instances_only(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession
) -> None:
    fake_registry.rows["catalogue"] = [
        health_row("catalogue", "catalogue-1", 8101),
        health_row("catalogue", "catalogue-2", 8102, status="critical"),
    ]
    discovery = await registry_discovery(fake_registry.url, session)

    found = await discovery.instances("catalogue")

    assert found == [Instance("catalogue-1", "catalogue", "127.0.0.1", 8101)]
    assert fake_registry.lookups == [("catalogue", {"passing": "true"})]


async def test_registry_discovery_round_robins_over_the_instances(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    ids = catalogue_instances(fake_registry, 3)
    discovery = await registry_discovery(fake_registry.url, session)

    picked = [(await discovery.pick("catalogue")).id for _ in range(7)]

    assert picked == [*ids, *ids, ids[0]]


async def test_registry_answers_are_cached_within_the_ttl(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    catalogue_instances(fake_registry, 2)
    discovery = await registry_discovery(fake_registry.url, session)

    for _ in range(5):
        await discovery.pick("catalogue")
    clock.now += TTL_S - 0.01
    await discovery.instances("catalogue")
    assert len(fake_registry.lookups) == 1

    catalogue_instances(fake_registry, 3)
    clock.now += 0.02
    found = await discovery.instances("catalogue")

    assert len(fake_registry.lookups) == 2
    assert [instance.id for instance in found] == ["catalogue-1", "catalogue-2", "catalogue-3"]


async def test_each_service_is_looked_up_and_cached_on_its_own(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    catalogue_instances(fake_registry, 1)
    fake_registry.rows["ratings"] = [health_row("ratings", "ratings-1", 8201)]
    discovery = await registry_discovery(fake_registry.url, session)

    assert (await discovery.pick("catalogue")).id == "catalogue-1"
    assert (await discovery.pick("ratings")).id == "ratings-1"
    assert (await discovery.pick("catalogue")).id == "catalogue-1"

    assert [name for name, _ in fake_registry.lookups] == ["catalogue", "ratings"]


async def test_a_reported_failure_drops_the_instance_until_the_next_refresh(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    catalogue_instances(fake_registry, 2)
    discovery = await registry_discovery(fake_registry.url, session)
    first = await discovery.pick("catalogue")

    discovery.report_failure(first)

    picked = {(await discovery.pick("catalogue")).id for _ in range(4)}
    assert picked == {"catalogue-2"}
    clock.now += TTL_S + 0.01
    picked = {(await discovery.pick("catalogue")).id for _ in range(4)}
    assert picked == {"catalogue-1", "catalogue-2"}


async def test_reporting_an_unknown_instance_changes_nothing(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    catalogue_instances(fake_registry, 1)
    discovery = await registry_discovery(fake_registry.url, session)

    discovery.report_failure(Instance("cart-1", "cart", "127.0.0.1", 8301))
    discovery.report_failure(Instance("catalogue-9", "catalogue", "127.0.0.1", 8109))

    assert [instance.id for instance in await discovery.instances("catalogue")] == ["catalogue-1"]


async def test_when_every_instance_failed_there_is_none_to_pick(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    catalogue_instances(fake_registry, 1)
    discovery = await registry_discovery(fake_registry.url, session)

    discovery.report_failure(await discovery.pick("catalogue"))

    with pytest.raises(PeerUnavailable, match="catalogue"):
        await discovery.pick("catalogue")


async def test_a_registry_that_went_down_leaves_the_cached_instances_in_service(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    ids = catalogue_instances(fake_registry, 2)
    discovery = await registry_discovery(fake_registry.url, session)
    await discovery.pick("catalogue")

    await fake_registry.stop()
    clock.now += TTL_S + 0.01

    picked = {(await discovery.pick("catalogue")).id for _ in range(4)}
    assert picked == set(ids)


async def test_a_registry_that_answers_with_an_error_leaves_the_cached_instances_in_service(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession, clock: Clock
) -> None:
    ids = catalogue_instances(fake_registry, 2)
    discovery = await registry_discovery(fake_registry.url, session)
    await discovery.pick("catalogue")

    fake_registry.lookup_status = 500
    clock.now += TTL_S + 0.01

    assert [instance.id for instance in await discovery.instances("catalogue")] == ids
    assert len(fake_registry.lookups) == 2


async def test_no_registry_and_nothing_cached_means_the_peer_is_unavailable(session: aiohttp.ClientSession) -> None:
    discovery = await registry_discovery(f"http://127.0.0.1:{unused_port()}", session)

    with pytest.raises(PeerUnavailable, match="registry unreachable"):
        await discovery.pick("catalogue")


async def test_a_service_without_passing_instances_is_unavailable(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession
) -> None:
    fake_registry.rows["catalogue"] = [health_row("catalogue", "catalogue-1", 8101, status="critical")]
    discovery = await registry_discovery(fake_registry.url, session)

    assert await discovery.instances("catalogue") == []
    with pytest.raises(PeerUnavailable, match="no healthy instance of service 'catalogue'"):
        await discovery.pick("catalogue")


async def test_an_unknown_service_is_unavailable(fake_registry: FakeRegistry, session: aiohttp.ClientSession) -> None:
    discovery = await registry_discovery(fake_registry.url, session)

    with pytest.raises(PeerUnavailable):
        await discovery.pick("payment")
