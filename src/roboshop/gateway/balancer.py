"""Resilient load balancing over discovery: which instance serves the next request of a service.

Per service (``balance`` in the route table):

    round_robin          the healthy instances in turn
    least_outstanding    the instance with the fewest requests in flight (ties in turn): a slow instance
                         gets less work instead of an equal share

Outlier ejection: ``outlier_failures`` consecutive failures of one instance (no connection, a timeout, or a
502/503/504 answer) eject it for ``outlier_ejection_s`` times the number of its ejections in a row (capped),
so an instance that keeps failing is tried ever more rarely; its first success resets both counts. If every
instance is ejected, all are used again (a guess beats refusing the whole service).

A circuit breaker per service (``roboshop.kit.breaker``) sees the outcome of every request: consecutive
failed requests open it, and the gateway answers 503 at once until a half-open trial succeeds.

Retries (only of idempotent methods, decided by the proxy) are paid from a :class:`RetryBudget`, so that a
failing service gets at most ``ratio`` more requests, not a multiple of its load.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from roboshop.gateway.routing import LEAST_OUTSTANDING, Balance
from roboshop.kit.breaker import CircuitBreaker
from roboshop.kit.discovery import Discovery, Instance
from roboshop.kit.errors import PeerUnavailable

MAX_EJECTION_FACTOR = 10


@dataclass(slots=True)
class InstanceState:
    outstanding: int = 0
    failures: int = 0  # consecutive
    ejections: int = 0  # in a row
    ejected_until: float = float("-inf")
    requests: int = 0


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    failures: int = 5
    ejection_s: float = 10.0


class ServiceBalancer:
    def __init__(
        self,
        name: str,
        balance: Balance,
        outliers: OutlierPolicy,
        breaker: CircuitBreaker,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.balance = balance
        self.breaker = breaker
        self._outliers = outliers
        self._clock = clock
        self._states: dict[str, InstanceState] = {}
        self._cursor = itertools.count()

    def state(self, instance: Instance) -> InstanceState:
        state = self._states.get(instance.id)
        if state is None:
            state = self._states[instance.id] = InstanceState()
        return state

    def choose(self, instances: list[Instance], exclude: Collection[Instance] = ()) -> Instance | None:
        """The next instance, preferring those not in ``exclude``; ``None`` only without any instance."""
        now = self._clock()
        # Untried instances first; when all were tried, any again (behind a static address, a DNS name or a
        # Kubernetes Service, the same URL may well reach another replica).
        candidates = [instance for instance in instances if instance not in exclude] or instances
        if not candidates:
            return None
        healthy = [instance for instance in candidates if self.state(instance).ejected_until <= now]
        if not healthy:
            healthy = candidates  # everything ejected: try them all rather than refuse the service
        turn = next(self._cursor)
        if self.balance == LEAST_OUTSTANDING and len(healthy) > 1:
            count = len(healthy)
            ordered = [healthy[(turn + offset) % count] for offset in range(count)]
            return min(ordered, key=lambda instance: self.state(instance).outstanding)
        return healthy[turn % len(healthy)]

    def begin(self, instance: Instance) -> InstanceState:
        state = self.state(instance)
        state.outstanding += 1
        state.requests += 1
        return state

    def end(self, instance: Instance, state: InstanceState, *, ok: bool) -> None:
        state.outstanding -= 1
        if ok:
            state.failures = 0
            state.ejections = 0
            return
        state.failures += 1
        if state.failures >= self._outliers.failures and state.ejected_until <= self._clock():
            state.ejections += 1
            factor = min(state.ejections, MAX_EJECTION_FACTOR)
            state.ejected_until = self._clock() + self._outliers.ejection_s * factor
            state.failures = 0

    def snapshot(self, instances: list[Instance]) -> dict[str, Any]:
        now = self._clock()
        rows = []
        for instance in instances:
            state = self.state(instance)
            ejected_for = max(0.0, state.ejected_until - now)
            rows.append(
                {
                    "id": instance.id,
                    "url": instance.url,
                    "outstanding": state.outstanding,
                    "requests": state.requests,
                    "consecutive_failures": state.failures,
                    "ejected": ejected_for > 0,
                    "ejected_for_s": round(ejected_for, 3),
                }
            )
        breaker = self.breaker
        return {
            "balance": self.balance,
            "breaker": {"state": str(breaker.state), "failures": breaker.failures},
            "instances": rows,
        }


class Balancer:
    """The service balancers of one gateway, over its discovery."""

    def __init__(
        self,
        discovery: Discovery,
        balances: dict[str, Balance],
        *,
        outliers: OutlierPolicy,
        breaker_failures: int,
        breaker_reset_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.discovery = discovery
        self._outliers = outliers
        self._breaker_failures = breaker_failures
        self._breaker_reset_s = breaker_reset_s
        self._clock = clock
        self.services = {
            name: ServiceBalancer(name, balance, outliers, CircuitBreaker(breaker_failures, breaker_reset_s), clock)
            for name, balance in balances.items()
        }

    def configure(self, balances: dict[str, Balance]) -> None:
        """Balancers for the services of a (new) route table; a known service keeps its state and breaker."""
        services: dict[str, ServiceBalancer] = {}
        for name, balance in balances.items():
            current = self.services.get(name)
            if current is None:
                current = ServiceBalancer(
                    name,
                    balance,
                    self._outliers,
                    CircuitBreaker(self._breaker_failures, self._breaker_reset_s),
                    self._clock,
                )
            current.balance = balance
            services[name] = current
        self.services = services

    async def pick(self, service: str, exclude: Collection[Instance] = ()) -> Instance | None:
        """An instance of ``service``, preferably not in ``exclude``; raises PeerUnavailable without any."""
        instances = await self.discovery.instances(service)
        if not instances:
            # pick() asks the registry again when nothing was passing a moment ago, and says why there is none.
            instances = [await self.discovery.pick(service)]
        return self.services[service].choose(instances, exclude)

    async def snapshot(self) -> dict[str, Any]:
        report: dict[str, Any] = {}
        for name, balancer in self.services.items():
            try:
                instances = await self.discovery.instances(name)
            except PeerUnavailable:
                instances = []
            report[name] = balancer.snapshot(instances)
        return report


@dataclass
class RetryBudget:
    """Retries may add at most ``ratio`` of the requests, plus ``min_per_s`` a second for quiet times.

    Each request deposits ``ratio`` of a retry; a retry withdraws one. The balance is capped so that a long
    quiet period does not save up a storm of retries.
    """

    ratio: float = 0.2
    min_per_s: float = 10.0
    cap: float = 100.0
    clock: Callable[[], float] = time.monotonic
    _balance: float = field(default=10.0, repr=False)
    _refilled_at: float = field(default=float("nan"), repr=False)

    def deposit(self) -> None:
        self._balance = min(self.cap, self._balance + self.ratio)

    def withdraw(self) -> bool:
        now = self.clock()
        if self._refilled_at == self._refilled_at:  # not NaN: refill for the time since the last withdrawal
            self._balance = min(self.cap, self._balance + (now - self._refilled_at) * self.min_per_s)
        self._refilled_at = now
        if self._balance < 1 - 1e-9:  # tolerant of the rounding of many deposits of a fraction
            return False
        self._balance -= 1
        return True
