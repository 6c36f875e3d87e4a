"""A circuit breaker per upstream: stop calling a peer that keeps failing, and probe it again later.

closed     calls go through; ``failure_threshold`` consecutive failures open the circuit
open       calls fail at once (no waiting on a dead peer) for ``reset_after_s``
half-open  one trial call goes through: success closes the circuit, failure opens it again
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    reset_after_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _trial_in_flight: bool = field(default=False, repr=False)
    _trial_started_at: float = field(default=0.0, repr=False)

    def allow(self) -> bool:
        """May a call go through now? In half-open state only one trial call at a time does."""
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.reset_after_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            # A trial whose caller vanished (cancelled, or ended by an error nobody recorded) expires after
            # reset_after_s, so that it cannot keep the circuit shut for ever.
            if self._trial_in_flight and self.clock() - self._trial_started_at < self.reset_after_s:
                return False
            self._trial_in_flight = True
            self._trial_started_at = self.clock()
        return True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()
            self._trial_in_flight = False

    def retry_after_s(self) -> float:
        return max(0.0, self.reset_after_s - (self.clock() - self.opened_at))
