"""Active health checks.

One supervisor task (:meth:`HealthChecker.run`, started in the app's lifespan) keeps a due time per instance
and starts each check as a task of its own, so every instance is checked on its own Interval with its own
Timeout and a hanging instance never delays the others. A check is a GET of the instance's health URL:
2xx is passing; any other status, a connection error or a timeout is critical.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp

from roboshop.registry import domain
from roboshop.registry.agent import Agent
from roboshop.registry.domain import CheckResult, ServiceInstance

log = logging.getLogger("roboshop.registry.checker")

IDLE_WAKE_S = 1.0


class Probe(Protocol):
    async def __call__(self, url: str, timeout_s: float) -> CheckResult: ...


class HttpProbe:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __call__(self, url: str, timeout_s: float) -> CheckResult:
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=timeout_s), allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            return CheckResult.critical(_timed_out(timeout_s))
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                return CheckResult.critical("connection refused")
            return CheckResult.critical(f"connection failed: {exc.os_error.strerror or type(exc.os_error).__name__}")
        except aiohttp.ServerDisconnectedError:
            return CheckResult.critical("server disconnected")
        except aiohttp.ClientError as exc:
            return CheckResult.critical(f"check failed: {type(exc).__name__}")
        if 200 <= status < 300:
            return CheckResult.passing(f"HTTP {status}")
        return CheckResult.critical(f"HTTP {status}")


def _timed_out(timeout_s: float) -> str:
    return f"timed out after {timeout_s:g}s"


class HealthChecker:
    def __init__(self, agent: Agent, probe: Probe) -> None:
        self._agent = agent
        self._probe = probe
        self._due: dict[str, float] = {}  # instance id -> event-loop time of its next check
        self._asap: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        agent.on_registered(self._registered)

    def _registered(self, instance: ServiceInstance) -> None:
        if domain.needs_check_now(instance):
            self.check_now(instance.id)

    def check_now(self, instance_id: str) -> None:
        """Check this instance as soon as possible (right after a check already under way)."""
        self._asap.add(instance_id)
        self._wake.set()

    async def run(self) -> None:
        """Check every instance the agent knows, until cancelled. Instances never seen are due at once."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                wake_at = self._start_due_checks(loop.time())
                try:
                    async with asyncio.timeout_at(wake_at):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            running = list(self._running.values())
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _start_due_checks(self, now: float) -> float:
        wake_at = now + IDLE_WAKE_S
        known: set[str] = set()
        for instance in self._agent.all():
            known.add(instance.id)
            if instance.id in self._running:
                continue
            due = self._due.setdefault(instance.id, now)
            if due <= now or instance.id in self._asap:
                self._asap.discard(instance.id)
                self._running[instance.id] = asyncio.create_task(self._check(instance), name=f"check {instance.id}")
            else:
                wake_at = min(wake_at, due)
        for gone in self._due.keys() - known:
            del self._due[gone]
        self._asap &= known
        return wake_at

    async def _check(self, instance: ServiceInstance) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeout_s = instance.check.timeout_s
        try:
            try:
                # Enforced here too, so no probe can hold a check longer than its Timeout.
                async with asyncio.timeout(timeout_s):
                    result = await self._probe(instance.check.http, timeout_s)
            except TimeoutError:
                result = CheckResult.critical(_timed_out(timeout_s))
            await self._agent.record_check(instance.id, instance.check, result)
        except Exception:
            log.exception("health check failed unexpectedly", extra={"instance": instance.id})
        finally:
            current = self._agent.get(instance.id) or instance
            self._due[instance.id] = started + current.check.interval_s
            self._running.pop(instance.id, None)
            self._wake.set()
