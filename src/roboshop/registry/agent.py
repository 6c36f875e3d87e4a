"""The registry's state: every instance in memory, written through to the store.

Reads (discovery asks every few seconds per peer) are served from memory. Writes are serialised by one lock
so the store sees them in the order memory did; a status is written only when it changes, so a steady fleet
costs no writes at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from roboshop.registry import domain
from roboshop.registry.domain import CheckResult, Clock, HealthCheck, ServiceInstance, Status
from roboshop.registry.store import InstanceStore, StoreUnavailable

log = logging.getLogger("roboshop.registry")


class Agent:
    def __init__(self, store: InstanceStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._instances: dict[str, ServiceInstance] = {}
        self._writes = asyncio.Lock()
        self._on_registered: list[Callable[[ServiceInstance], None]] = []

    def on_registered(self, listener: Callable[[ServiceInstance], None]) -> None:
        """Call ``listener`` with each instance as stored after a registration (the checker listens)."""
        self._on_registered.append(listener)

    async def load(self) -> int:
        """Take over what the store remembers from before a restart."""
        loaded = await self._store.load_all()
        self._instances = {instance.id: instance for instance in loaded}
        log.info("instances loaded", extra={"instances": len(loaded)})
        return len(loaded)

    def now(self) -> float:
        return self._clock.now()

    def get(self, instance_id: str) -> ServiceInstance | None:
        return self._instances.get(instance_id)

    def all(self) -> list[ServiceInstance]:
        return [self._instances[key] for key in sorted(self._instances)]

    def of_service(self, service: str, *, passing_only: bool = False) -> list[ServiceInstance]:
        return [
            instance
            for instance in self.all()
            if instance.service == service and (instance.passing or not passing_only)
        ]

    def services(self) -> dict[str, list[str]]:
        """Every service name with the union of its instances' tags."""
        tags: dict[str, set[str]] = {}
        for instance in self._instances.values():
            tags.setdefault(instance.service, set()).update(instance.tags)
        return {service: sorted(tags[service]) for service in sorted(tags)}

    async def register(self, incoming: ServiceInstance) -> ServiceInstance:
        """Store the registration first: if the database refuses it, nothing changes (503)."""
        async with self._writes:
            previous = self._instances.get(incoming.id)
            instance = domain.register(incoming, previous)
            await self._store.save(instance)
            self._instances[instance.id] = instance
        moved = previous is None or (previous.address, previous.port) != (instance.address, instance.port)
        log.log(
            logging.INFO if moved else logging.DEBUG,
            "instance registered",
            extra=_fields(instance) | {"address": instance.address, "port": instance.port},
        )
        for listener in self._on_registered:
            listener(instance)
        return instance

    async def deregister(self, instance_id: str) -> bool:
        async with self._writes:
            if instance_id not in self._instances:
                return False
            await self._store.remove(instance_id)
            instance = self._instances.pop(instance_id)
        log.info("instance deregistered", extra=_fields(instance))
        return True

    async def record_check(self, instance_id: str, check: HealthCheck, result: CheckResult) -> ServiceInstance | None:
        """Apply a check result; returns the instance as it is now (None if it is gone or was removed).

        ``check`` is the check that was run: a result for an instance that re-registered with another health
        URL while it was being checked is stale and dropped.
        """
        async with self._writes:
            before = self._instances.get(instance_id)
            if before is None or before.check.http != check.http:
                return None
            now = self._clock.now()
            after = domain.record_check(before, result, now)
            if domain.should_deregister(after, now):
                del self._instances[instance_id]
                log.warning(
                    "instance removed: critical for longer than its deregister-after",
                    extra=_fields(after)
                    | {"output": after.health.output, "deregister_after_s": after.check.deregister_after_s},
                )
                await self._write(self._store.remove(instance_id), after)
                return None
            self._instances[instance_id] = after
            if domain.status_changed(before, after):
                log.log(
                    logging.INFO if after.passing else logging.WARNING,
                    "instance status changed",
                    extra=_fields(after)
                    | {"from": before.health.status.value, "to": after.health.status.value, "output": result.output},
                )
                await self._write(self._store.save_health(instance_id, after.health), after)
            return after

    async def _write(self, write: Awaitable[object], instance: ServiceInstance) -> None:
        # Health is live information and memory is the truth: a failed write is logged, not fatal; the next
        # status change writes again, and a restarted registry re-checks everything anyway.
        try:
            await write
        except StoreUnavailable as exc:
            log.warning("could not store instance health", extra=_fields(instance) | {"error": str(exc)})


def _fields(instance: ServiceInstance) -> dict[str, object]:
    # Not "service": the log formatter already uses that key for the registry itself.
    return {"instance": instance.id, "instance_service": instance.service}


class InstancesCollector(Collector):
    """``registry_instances{service,status}``, counted from the agent's memory at scrape time."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        counts = Counter((instance.service, instance.health.status) for instance in self._agent.all())
        for service in sorted({service for service, _ in counts}):
            for status in Status:
                family.add_metric([service, status.value], counts[service, status])
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "registry_instances", "Registered service instances by service and status", labels=["service", "status"]
        )
