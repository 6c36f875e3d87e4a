"""A small process supervisor: one OS process per service instance.

It starts each instance, streams its output line by line to a sink, restarts an instance that crashes
(non-zero exit or killed by a signal) with exponential backoff, leaves one that exits cleanly stopped,
and stops everything in order: the gateway first (no new traffic), then the services, the registry last.
Children die with the supervisor even if it is SIGKILLed (``PR_SET_PDEATHSIG``), so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("roboshop.supervisor")

LogSink = Callable[[str, str], None]
"""Called with (instance name, one line of its output)."""

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
STABLE_AFTER_S = 30.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    instance: str
    service: str
    argv: tuple[str, ...]
    env: dict[str, str]
    stop_order: int = 1
    """Lower stops first: 0 gateway, 1 services, 2 registry."""


@dataclass
class Supervised:
    spec: ProcessSpec
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    last_exit: int | None = None
    state: str = "starting"
    stopping: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    pump: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.returncode is None else None


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the supervisor dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, specs: Sequence[ProcessSpec], sink: LogSink, on_change: Callable[[], None]) -> None:
        self.instances = [Supervised(spec) for spec in specs]
        self._sink = sink
        self._on_change = on_change
        self._shutting_down = False

    def start(self, services: Collection[str] | None = None) -> None:
        """Start the instances of ``services`` (default: every instance not started yet)."""
        for item in self.instances:
            if item.task is None and (services is None or item.spec.service in services):
                item.task = asyncio.create_task(self._keep_running(item), name=f"supervise-{item.spec.instance}")

    def find(self, instance: str) -> Supervised:
        for item in self.instances:
            if item.spec.instance == instance:
                return item
        raise KeyError(instance)

    async def _keep_running(self, item: Supervised) -> None:
        failures = 0
        while not item.stopping:
            await self._spawn(item)
            assert item.process is not None
            code = await item.process.wait()
            item.last_exit = code
            ran_for = time.monotonic() - item.started_at
            if item.stopping or self._shutting_down:
                item.state = "stopped"
                self._on_change()
                return
            if code == 0:
                item.state = "exited"
                self._sink(item.spec.instance, "[supervisor] exited cleanly (code 0); not restarting")
                self._on_change()
                return
            failures = 0 if ran_for > STABLE_AFTER_S else failures + 1
            delay = min(BACKOFF_FIRST_S * 2 ** max(failures - 1, 0), BACKOFF_MAX_S)
            item.state = "backoff"
            self._on_change()
            reason = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            self._sink(item.spec.instance, f"[supervisor] crashed ({reason}); restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            item.restarts += 1

    async def _spawn(self, item: Supervised) -> None:
        item.process = await asyncio.create_subprocess_exec(
            *item.spec.argv,
            env=item.spec.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops the children in order
            preexec_fn=_die_with_parent,
            limit=1024 * 1024,
        )
        item.started_at = time.monotonic()
        item.state = "running"
        self._on_change()
        item.pump = asyncio.create_task(self._pump(item, item.process))

    async def _pump(self, item: Supervised, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                line = await process.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            self._sink(item.spec.instance, line.decode("utf-8", errors="replace").rstrip("\n"))

    async def stop_all(self, timeout_s: float = 10.0) -> list[str]:
        """Stop every instance in stop order within ``timeout_s``; returns the instances that had to be killed."""
        self._shutting_down = True
        deadline = time.monotonic() + timeout_s
        killed: list[str] = []
        orders = sorted({item.spec.stop_order for item in self.instances})
        for position, order in enumerate(orders):
            group = [item for item in self.instances if item.spec.stop_order == order]
            # Leave a share of the remaining time for the groups after this one.
            remaining = deadline - time.monotonic()
            budget = remaining * (0.7 if position < len(orders) - 1 else 0.95)
            killed += await self._stop_group(group, max(budget, 0.5))
        for item in self.instances:
            if item.task is not None:
                item.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await item.task
        return killed

    async def _stop_group(self, group: list[Supervised], budget_s: float) -> list[str]:
        for item in group:
            item.stopping = True
            if item.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(item.pid, signal.SIGTERM)
        waits = [item.process.wait() for item in group if item.process and item.process.returncode is None]
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=budget_s)
        killed = []
        for item in group:
            if item.pid is not None:
                killed.append(item.spec.instance)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(item.pid, signal.SIGKILL)
                assert item.process is not None
                await item.process.wait()
            item.state = "stopped"
        self._on_change()
        return killed
