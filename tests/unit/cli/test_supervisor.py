"""The process supervisor, with tiny Python children standing in for the shop's services."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import roboshop.cli.supervisor
from roboshop.cli.supervisor import ProcessSpec, Supervisor

SAYS_HELLO = "print('hello'); print('robot shop')"
CRASHES = "import sys; print('crashing'); sys.exit(3)"
KILLS_ITSELF = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"


def stops_on_sigterm(name: str, record: Path) -> str:
    """A child that, on SIGTERM, writes its name to ``record`` and exits 0."""
    return textwrap.dedent(
        f"""
        import signal, sys

        def stop(*_):
            with open({str(record)!r}, "a") as record:
                record.write({name!r} + "\\n")
            print("stopping", flush=True)
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        while True:
            signal.pause()
        """
    )


IGNORES_SIGTERM = textwrap.dedent(
    """
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    while True:
        signal.pause()
    """
)


def child(instance: str, code: str, stop_order: int = 1) -> ProcessSpec:
    return ProcessSpec(
        instance=instance,
        service=instance.rsplit("-", 1)[0],
        argv=(sys.executable, "-c", code),
        env=dict(os.environ),
        stop_order=stop_order,
    )


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Run:
    """A supervisor under test, with everything its sink and change callback saw."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.changes = 0
        self.supervisors: list[Supervisor] = []

    def supervise(self, *specs: ProcessSpec) -> Supervisor:
        supervisor = Supervisor(specs, lambda instance, line: self.lines.append((instance, line)), self._changed)
        self.supervisors.append(supervisor)
        supervisor.start()
        return supervisor

    def _changed(self) -> None:
        self.changes += 1

    def output(self, instance: str) -> list[str]:
        return [line for name, line in self.lines if name == instance]

    async def all_ready(self, *instances: str) -> None:
        await wait_until(lambda: all("ready" in self.output(i) for i in instances), "the children to be ready")


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    run = Run()
    yield run
    for supervisor in run.supervisors:
        await supervisor.stop_all(timeout_s=2.0)
        pumps = [item.pump for item in supervisor.instances if item.pump is not None]
        await asyncio.wait_for(asyncio.gather(*pumps, return_exceptions=True), timeout=5.0)


async def test_every_line_a_child_prints_reaches_the_sink(run: Run) -> None:
    supervisor = run.supervise(child("catalogue-1", SAYS_HELLO))
    item = supervisor.find("catalogue-1")

    await wait_until(lambda: item.state == "exited" and "robot shop" in run.output("catalogue-1"), "the output")

    assert run.output("catalogue-1")[:2] == ["hello", "robot shop"]
    assert run.changes >= 2


async def test_a_child_that_exits_cleanly_is_not_restarted(run: Run) -> None:
    supervisor = run.supervise(child("catalogue-1", SAYS_HELLO))
    item = supervisor.find("catalogue-1")

    await wait_until(lambda: item.task is not None and item.task.done(), "supervision to end")

    assert item.state == "exited"
    assert item.last_exit == 0
    assert item.restarts == 0
    assert item.pid is None
    assert "[supervisor] exited cleanly (code 0); not restarting" in run.output("catalogue-1")


async def test_a_child_that_crashes_is_restarted(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roboshop.cli.supervisor, "BACKOFF_FIRST_S", 0.01)
    supervisor = run.supervise(child("ratings-1", CRASHES))
    item = supervisor.find("ratings-1")

    await wait_until(lambda: item.restarts >= 2, "two restarts")

    assert item.last_exit == 3
    assert run.output("ratings-1").count("crashing") >= 2
    assert any(line.startswith("[supervisor] crashed (exit code 3); restarting in") for line in run.output("ratings-1"))


async def test_a_child_killed_by_a_signal_is_restarted(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roboshop.cli.supervisor, "BACKOFF_FIRST_S", 0.01)
    supervisor = run.supervise(child("ratings-1", KILLS_ITSELF))
    item = supervisor.find("ratings-1")

    await wait_until(lambda: item.restarts >= 1, "a restart")

    assert item.last_exit == -signal.SIGKILL
    assert any("crashed (killed by SIGKILL)" in line for line in run.output("ratings-1"))


async def test_stop_all_stops_the_gateway_then_the_services_then_the_registry(run: Run, tmp_path: Path) -> None:
    record = tmp_path / "stopped.txt"
    names = ["registry-1", "catalogue-1", "ratings-1", "gateway-1"]
    orders = {"registry-1": 2, "catalogue-1": 1, "ratings-1": 1, "gateway-1": 0}
    supervisor = run.supervise(*(child(name, stops_on_sigterm(name, record), orders[name]) for name in names))
    await run.all_ready(*names)
    pids = [item.pid for item in supervisor.instances]

    killed = await supervisor.stop_all(timeout_s=5.0)

    assert killed == []
    stopped = record.read_text().splitlines()
    assert stopped[0] == "gateway-1"
    assert set(stopped[1:3]) == {"catalogue-1", "ratings-1"}
    assert stopped[3] == "registry-1"
    assert all(item.state == "stopped" and item.last_exit == 0 for item in supervisor.instances)
    assert not any(alive(pid) for pid in pids if pid is not None)


async def test_stop_all_kills_a_child_that_ignores_sigterm_after_its_budget(run: Run, tmp_path: Path) -> None:
    record = tmp_path / "stopped.txt"
    supervisor = run.supervise(
        child("gateway-1", IGNORES_SIGTERM, stop_order=0),
        child("registry-1", stops_on_sigterm("registry-1", record), stop_order=2),
    )
    await run.all_ready("gateway-1", "registry-1")
    pids = [item.pid for item in supervisor.instances]

    began = time.monotonic()
    killed = await supervisor.stop_all(timeout_s=1.5)
    elapsed = time.monotonic() - began

    assert killed == ["gateway-1"]
    gateway = supervisor.find("gateway-1")
    assert gateway.process is not None
    assert gateway.process.returncode == -signal.SIGKILL
    assert record.read_text().splitlines() == ["registry-1"], "the registry still stopped gracefully"
    assert elapsed >= 0.5  # it waited for the grace period before killing
    assert elapsed < 10  # and did not wait for ever
    assert not any(alive(pid) for pid in pids if pid is not None)


async def test_stop_all_during_a_restart_backoff_ends_supervision(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roboshop.cli.supervisor, "BACKOFF_FIRST_S", 30.0)
    supervisor = run.supervise(child("ratings-1", CRASHES))
    item = supervisor.find("ratings-1")
    await wait_until(lambda: item.state == "backoff", "the backoff")

    killed = await asyncio.wait_for(supervisor.stop_all(timeout_s=2.0), timeout=5.0)

    assert killed == []
    assert item.task is not None
    assert item.task.done()
    assert item.restarts == 0
