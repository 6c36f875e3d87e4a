"""Registering an instance with the registry: the payload, and retrying until the registry answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import aiohttp
import pytest

from roboshop.kit.registration import Registration, RegistryClient

from .fakes import FakeRegistry, unused_port


def seconds(duration: str) -> float:
    """``"2s"`` or ``"2.0s"`` (Go-style durations, as Consul writes them) in seconds."""
    assert duration.endswith("s")
    return float(duration.removesuffix("s"))


CATALOGUE = Registration(
    service="catalogue",
    instance_id="catalogue-1",
    address="127.0.0.1",
    port=8101,
    check_interval_s=2.0,
    deregister_after_s=30.0,
    tags=("robots",),
    version="0.1.0",
)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def test_the_payload_has_the_registry_contract_shape() -> None:
    payload = CATALOGUE.payload()
    check = payload.pop("Check")

    assert payload == {
        "ID": "catalogue-1",
        "Name": "catalogue",
        "Address": "127.0.0.1",
        "Port": 8101,
        "Tags": ["robots"],
        "Meta": {"version": "0.1.0"},
    }
    assert set(check) == {"HTTP", "Interval", "Timeout", "DeregisterCriticalServiceAfter"}
    assert check["HTTP"] == "http://127.0.0.1:8101/health"
    assert seconds(check["Interval"]) == 2.0
    assert 0 < seconds(check["Timeout"]) <= seconds(check["Interval"])
    assert seconds(check["DeregisterCriticalServiceAfter"]) == 30.0


def test_the_check_follows_the_instances_address_port_and_path() -> None:
    check = replace(CATALOGUE, address="10.1.2.3", port=9000, check_path="/ready").payload()["Check"]

    assert check["HTTP"] == "http://10.1.2.3:9000/ready"


@pytest.mark.parametrize(("interval", "timeout"), [(0.2, 0.2), (1.0, 1.0), (10.0, 2.0)])
def test_the_check_timeout_is_never_longer_than_the_interval_nor_two_seconds(interval: float, timeout: float) -> None:
    check = replace(CATALOGUE, check_interval_s=interval).payload()["Check"]

    assert seconds(check["Timeout"]) == timeout


def test_an_ipv6_address_is_bracketed_in_the_check_url() -> None:
    check = replace(CATALOGUE, address="::1").payload()["Check"]

    assert check["HTTP"] == "http://[::1]:8101/health"


async def test_register_and_deregister_reach_the_registry(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession
) -> None:
    client = RegistryClient(fake_registry.url + "/", session)
    registration = CATALOGUE

    await client.register(registration)
    await client.deregister("catalogue-1")

    assert [(e.kind, e.instance_id) for e in fake_registry.events] == [
        ("register", "catalogue-1"),
        ("deregister", "catalogue-1"),
    ]
    assert fake_registry.events[0].payload == registration.payload()


async def test_deregistering_an_instance_the_registry_does_not_know_is_fine(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession
) -> None:
    await RegistryClient(fake_registry.url, session).deregister("catalogue-9")

    assert [e.instance_id for e in fake_registry.deregistrations()] == ["catalogue-9"]


async def test_a_registry_that_refuses_registration_is_an_error(session: aiohttp.ClientSession) -> None:
    client = RegistryClient(f"http://127.0.0.1:{unused_port()}", session)

    with pytest.raises(aiohttp.ClientConnectionError):
        await client.register(CATALOGUE)


async def test_keep_registered_retries_until_the_registry_comes_up_then_registers(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    registry = FakeRegistry(unused_port())
    registration = CATALOGUE
    keeper = asyncio.create_task(RegistryClient(registry.url, session).keep_registered(registration, every_s=60.0))
    try:
        with caplog.at_level(logging.INFO, logger="roboshop.registration"):
            await wait_until(lambda: any("registration failed" in r.getMessage() for r in caplog.records))
            await registry.start()
            await wait_until(lambda: len(registry.registrations()) == 1)
            await wait_until(lambda: any(r.getMessage() == "registered" for r in caplog.records))
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await registry.stop()

    assert registry.registrations()[0].payload == registration.payload()


async def test_keep_registered_refreshes_the_registration_periodically(
    fake_registry: FakeRegistry, session: aiohttp.ClientSession
) -> None:
    client = RegistryClient(fake_registry.url, session)
    keeper = asyncio.create_task(client.keep_registered(CATALOGUE, every_s=0.05))
    try:
        await wait_until(lambda: len(fake_registry.registrations()) >= 3)
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)

    assert {e.instance_id for e in fake_registry.registrations()} == {"catalogue-1"}
