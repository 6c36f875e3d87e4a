"""The agent: the registry's state in memory, written through to its store, on a clock the tests move."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from roboshop.registry.agent import Agent, InstancesCollector
from roboshop.registry.domain import AWAITING_FIRST_CHECK, CheckResult, Health, HealthCheck, ServiceInstance, Status
from roboshop.registry.store import InMemoryInstanceStore, StoreUnavailable

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.current = now

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


class CountingStore(InMemoryInstanceStore):
    """The in-memory store, counting writes (and refusing them while ``down``)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.down = False

    def _write(self, kind: str) -> None:
        if self.down:
            raise StoreUnavailable("the registry database is unavailable: OSError")
        self.writes.append(kind)

    async def save(self, instance: ServiceInstance) -> None:
        self._write("save")
        await super().save(instance)

    async def save_health(self, instance_id: str, health: Health) -> None:
        self._write("save_health")
        await super().save_health(instance_id, health)

    async def remove(self, instance_id: str) -> bool:
        self._write("remove")
        return await super().remove(instance_id)


def a_registration(
    clock: FakeClock, instance_id: str = "catalogue-1", *, service: str = "catalogue", port: int = 8101
) -> ServiceInstance:
    return ServiceInstance(
        id=instance_id,
        service=service,
        address="127.0.0.1",
        port=port,
        tags=("v1",),
        meta={},
        check=HealthCheck(f"http://127.0.0.1:{port}/health", 2.0, 1.0, 30.0),
        health=Health.awaiting_first_check(clock.now()),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def agent(store: CountingStore, clock: FakeClock) -> Agent:
    return Agent(store, clock)


async def test_a_registered_instance_is_stored_and_awaits_its_first_check(
    agent: Agent, store: CountingStore, clock: FakeClock
) -> None:
    instance = await agent.register(a_registration(clock))

    assert instance.health.output == AWAITING_FIRST_CHECK
    assert agent.get("catalogue-1") == instance
    assert store.instances["catalogue-1"] == instance


async def test_status_is_written_only_when_it_changes(agent: Agent, store: CountingStore, clock: FakeClock) -> None:
    registration = a_registration(clock)
    await agent.register(registration)
    store.writes.clear()

    for _ in range(5):
        clock.advance(2)
        await agent.record_check("catalogue-1", registration.check, CheckResult.passing("HTTP 200"))
    assert store.writes == ["save_health"]

    for output in ("HTTP 503", "connection refused", "timed out after 1s"):
        clock.advance(2)
        await agent.record_check("catalogue-1", registration.check, CheckResult.critical(output))
    assert store.writes == ["save_health", "save_health"]
    assert store.instances["catalogue-1"].health == Health(Status.CRITICAL, "HTTP 503", T0 + 12, T0 + 12)


async def test_memory_has_the_latest_check_even_when_nothing_is_written(agent: Agent, clock: FakeClock) -> None:
    registration = a_registration(clock)
    await agent.register(registration)
    await agent.record_check("catalogue-1", registration.check, CheckResult.critical("HTTP 503"))
    clock.advance(2)

    current = await agent.record_check("catalogue-1", registration.check, CheckResult.critical("connection refused"))

    assert current is not None
    assert current.health == Health(Status.CRITICAL, "connection refused", T0 + 2, T0)
    assert agent.get("catalogue-1") == current


async def test_an_instance_critical_past_its_deregister_after_is_removed_and_forgotten(
    agent: Agent, store: CountingStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    registration = a_registration(clock)
    await agent.register(registration)
    await agent.record_check("catalogue-1", registration.check, CheckResult.passing("HTTP 200"))
    clock.advance(10)
    await agent.record_check("catalogue-1", registration.check, CheckResult.critical("connection refused"))
    clock.advance(30)
    assert await agent.record_check("catalogue-1", registration.check, CheckResult.critical("connection refused"))

    clock.advance(0.5)
    with caplog.at_level(logging.WARNING, logger="roboshop.registry"):
        gone = await agent.record_check("catalogue-1", registration.check, CheckResult.critical("connection refused"))

    assert gone is None
    assert agent.get("catalogue-1") is None
    assert "catalogue-1" not in store.instances
    assert any(record.getMessage().startswith("instance removed") for record in caplog.records)


async def test_an_instance_that_never_answers_is_removed_after_deregister_after_from_registration(
    agent: Agent, clock: FakeClock
) -> None:
    registration = a_registration(clock)
    await agent.register(registration)
    clock.advance(31)

    assert await agent.record_check("catalogue-1", registration.check, CheckResult.critical("HTTP 503")) is None
    assert agent.all() == []


async def test_status_transitions_are_logged_as_events(
    agent: Agent, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    registration = a_registration(clock)
    await agent.register(registration)

    with caplog.at_level(logging.INFO, logger="roboshop.registry"):
        await agent.record_check("catalogue-1", registration.check, CheckResult.passing("HTTP 200"))
        await agent.record_check("catalogue-1", registration.check, CheckResult.passing("HTTP 200"))

    changes = [record for record in caplog.records if record.getMessage() == "instance status changed"]
    assert len(changes) == 1
    assert changes[0].__dict__["instance"] == "catalogue-1"
    assert changes[0].__dict__["from"] == "critical"
    assert changes[0].__dict__["to"] == "passing"


async def test_a_result_for_a_health_url_that_was_replaced_meanwhile_is_dropped(agent: Agent, clock: FakeClock) -> None:
    old = a_registration(clock, port=8101)
    await agent.register(old)
    await agent.register(a_registration(clock, port=8102))

    assert await agent.record_check("catalogue-1", old.check, CheckResult.passing("HTTP 200")) is None
    current = agent.get("catalogue-1")
    assert current is not None
    assert current.health.status is Status.CRITICAL


async def test_a_result_for_a_deregistered_instance_is_dropped(agent: Agent, clock: FakeClock) -> None:
    registration = a_registration(clock)
    await agent.register(registration)
    assert await agent.deregister("catalogue-1")

    assert await agent.record_check("catalogue-1", registration.check, CheckResult.passing("HTTP 200")) is None
    assert agent.all() == []


async def test_deregistering_an_unknown_instance_changes_nothing(agent: Agent, store: CountingStore) -> None:
    assert not await agent.deregister("nobody")
    assert store.writes == []


async def test_a_registration_the_database_refuses_changes_nothing(
    agent: Agent, store: CountingStore, clock: FakeClock
) -> None:
    store.down = True

    with pytest.raises(StoreUnavailable):
        await agent.register(a_registration(clock))

    assert agent.all() == []


async def test_a_status_change_the_database_refuses_still_counts_in_memory(
    agent: Agent, store: CountingStore, clock: FakeClock
) -> None:
    registration = a_registration(clock)
    await agent.register(registration)
    store.down = True

    current = await agent.record_check("catalogue-1", registration.check, CheckResult.passing("HTTP 200"))

    assert current is not None
    assert current.passing
    assert store.instances["catalogue-1"].health.status is Status.CRITICAL


async def test_the_agent_takes_over_what_the_store_remembers(store: CountingStore, clock: FakeClock) -> None:
    await store.save(a_registration(clock, "catalogue-2"))
    await store.save(a_registration(clock, "catalogue-1"))

    agent = Agent(store, clock)

    assert await agent.load() == 2
    assert [instance.id for instance in agent.all()] == ["catalogue-1", "catalogue-2"]


async def test_services_list_every_name_with_the_union_of_tags(agent: Agent, clock: FakeClock) -> None:
    await agent.register(a_registration(clock, "catalogue-1"))
    second = a_registration(clock, "catalogue-2", port=8102)
    await agent.register(replace(second, tags=("v2", "v1")))
    await agent.register(a_registration(clock, "cart-1", service="cart", port=8201))

    assert agent.services() == {"cart": ["v1"], "catalogue": ["v1", "v2"]}


async def test_the_instances_gauge_counts_each_service_by_status(agent: Agent, clock: FakeClock) -> None:
    registry = CollectorRegistry()
    registry.register(InstancesCollector(agent))
    first = a_registration(clock, "catalogue-1")
    await agent.register(first)
    await agent.register(a_registration(clock, "catalogue-2", port=8102))
    await agent.record_check("catalogue-1", first.check, CheckResult.passing("HTTP 200"))

    def value(service: str, status: str) -> float | None:
        return registry.get_sample_value("registry_instances", {"service": service, "status": status})

    assert value("catalogue", "passing") == 1
    assert value("catalogue", "critical") == 1

    await agent.deregister("catalogue-1")
    await agent.deregister("catalogue-2")
    assert value("catalogue", "passing") is None
