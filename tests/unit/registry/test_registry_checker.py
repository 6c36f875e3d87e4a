"""The health checker's scheduling, with a scripted probe in place of HTTP (real time, short intervals)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest

from roboshop.registry.agent import Agent
from roboshop.registry.checker import HealthChecker
from roboshop.registry.domain import CheckResult, Health, HealthCheck, ServiceInstance, Status, SystemClock
from roboshop.registry.store import InMemoryInstanceStore


class ScriptedProbe:
    """Answers per URL (passing unless told otherwise); a URL in ``hanging`` never answers."""

    def __init__(self) -> None:
        self.answers: dict[str, CheckResult] = {}
        self.hanging: set[str] = set()
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.cancelled: list[str] = []

    async def __call__(self, url: str, timeout_s: float) -> CheckResult:
        self.calls[url].append(asyncio.get_running_loop().time())
        if url in self.hanging:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(url)
                raise
        return self.answers.get(url, CheckResult.passing("HTTP 200"))


def an_instance(name: str, *, interval_s: float = 0.05, timeout_s: float = 0.5) -> ServiceInstance:
    return ServiceInstance(
        id=name,
        service="catalogue",
        address="127.0.0.1",
        port=8101,
        tags=(),
        meta={},
        check=HealthCheck(f"http://127.0.0.1:8101/{name}", interval_s, timeout_s, None),
        health=Health.awaiting_first_check(SystemClock().now()),
    )


def url(name: str) -> str:
    return f"http://127.0.0.1:8101/{name}"


async def eventually(condition: Callable[[], bool], within_s: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
def probe() -> ScriptedProbe:
    return ScriptedProbe()


@pytest.fixture
def store() -> InMemoryInstanceStore:
    return InMemoryInstanceStore()


@pytest.fixture
def agent(store: InMemoryInstanceStore) -> Agent:
    return Agent(store, SystemClock())


@pytest.fixture
async def checker(agent: Agent, probe: ScriptedProbe) -> AsyncIterator[HealthChecker]:
    checker = HealthChecker(agent, probe)
    running = asyncio.create_task(checker.run())
    yield checker
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


def status(agent: Agent, name: str) -> Status | None:
    instance = agent.get(name)
    return None if instance is None else instance.health.status


def output(agent: Agent, name: str) -> str | None:
    instance = agent.get(name)
    return None if instance is None else instance.health.output


async def test_a_new_instance_is_checked_at_once_not_after_its_interval(
    agent: Agent, checker: HealthChecker, probe: ScriptedProbe
) -> None:
    started = asyncio.get_running_loop().time()
    await agent.register(an_instance("catalogue-1", interval_s=60))

    await eventually(lambda: status(agent, "catalogue-1") is Status.PASSING, within_s=1.0)

    assert probe.calls[url("catalogue-1")][0] - started < 0.1


async def test_instances_remembered_from_before_a_restart_are_checked_at_once(
    store: InMemoryInstanceStore, probe: ScriptedProbe
) -> None:
    for name in ("catalogue-1", "catalogue-2"):
        await store.save(an_instance(name, interval_s=60))
    agent = Agent(store, SystemClock())
    await agent.load()
    checker = HealthChecker(agent, probe)
    running = asyncio.create_task(checker.run())
    try:
        await eventually(lambda: all(status(agent, n) is Status.PASSING for n in ("catalogue-1", "catalogue-2")), 1.0)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_each_instance_is_checked_on_its_own_interval(
    agent: Agent, checker: HealthChecker, probe: ScriptedProbe
) -> None:
    await agent.register(an_instance("fast", interval_s=0.05))
    await agent.register(an_instance("slow", interval_s=0.25))

    await asyncio.sleep(0.6)

    fast, slow = len(probe.calls[url("fast")]), len(probe.calls[url("slow")])
    assert 6 <= fast <= 14
    assert 2 <= slow <= 4


async def test_a_hanging_instance_delays_no_other_and_times_out_critical(
    agent: Agent, checker: HealthChecker, probe: ScriptedProbe
) -> None:
    probe.hanging.add(url("hanging"))
    await agent.register(an_instance("hanging", interval_s=0.05, timeout_s=0.4))
    await agent.register(an_instance("healthy", interval_s=0.05))

    await eventually(lambda: len(probe.calls[url("healthy")]) >= 4, within_s=0.35)
    assert len(probe.calls[url("hanging")]) == 1
    await eventually(lambda: output(agent, "hanging") == "timed out after 0.4s", within_s=1.0)
    assert status(agent, "hanging") is Status.CRITICAL


async def test_a_failing_answer_makes_the_instance_critical_with_its_output(
    agent: Agent, checker: HealthChecker, probe: ScriptedProbe
) -> None:
    await agent.register(an_instance("catalogue-1"))
    await eventually(lambda: status(agent, "catalogue-1") is Status.PASSING)

    probe.answers[url("catalogue-1")] = CheckResult.critical("HTTP 503")

    await eventually(lambda: status(agent, "catalogue-1") is Status.CRITICAL)
    assert output(agent, "catalogue-1") == "HTTP 503"


async def test_a_check_asked_for_during_a_running_check_follows_right_after_it(
    agent: Agent, checker: HealthChecker, probe: ScriptedProbe
) -> None:
    probe.hanging.add(url("catalogue-1"))
    await agent.register(an_instance("catalogue-1", interval_s=60, timeout_s=0.1))
    await eventually(lambda: len(probe.calls[url("catalogue-1")]) == 1)
    probe.hanging.clear()

    checker.check_now("catalogue-1")

    await eventually(lambda: status(agent, "catalogue-1") is Status.PASSING, within_s=1.0)
    assert len(probe.calls[url("catalogue-1")]) == 2


async def test_stopping_the_checker_cancels_the_checks_under_way(agent: Agent, probe: ScriptedProbe) -> None:
    probe.hanging.add(url("catalogue-1"))
    await agent.register(an_instance("catalogue-1", timeout_s=30))
    checker = HealthChecker(agent, probe)
    running = asyncio.create_task(checker.run())
    await eventually(lambda: len(probe.calls[url("catalogue-1")]) == 1)

    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running

    assert probe.cancelled == [url("catalogue-1")]


async def test_a_deregistered_instance_is_no_longer_checked(
    agent: Agent, checker: HealthChecker, probe: ScriptedProbe
) -> None:
    await agent.register(an_instance("catalogue-1", interval_s=0.02))
    await eventually(lambda: len(probe.calls[url("catalogue-1")]) >= 2)

    await agent.deregister("catalogue-1")
    await asyncio.sleep(0.05)  # let a check already under way finish
    calls = len(probe.calls[url("catalogue-1")])
    await asyncio.sleep(0.1)

    assert len(probe.calls[url("catalogue-1")]) == calls
