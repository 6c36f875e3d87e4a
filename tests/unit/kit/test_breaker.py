"""The circuit breaker's states, with time decided by the test."""

from __future__ import annotations

import pytest

from roboshop.kit.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, reset_after_s=5.0, clock=clock)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The current state, read through a call so that mypy does not narrow it across state changes."""
    return breaker.state


def open_circuit(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        assert breaker.allow()
        breaker.record_failure()
    assert state_of(breaker) == BreakerState.OPEN


def test_a_closed_circuit_lets_calls_through_until_the_threshold_of_consecutive_failures(
    breaker: CircuitBreaker,
) -> None:
    breaker.record_failure()
    breaker.record_failure()
    assert state_of(breaker) == BreakerState.CLOSED
    assert breaker.allow()

    breaker.record_failure()

    assert state_of(breaker) == BreakerState.OPEN
    assert not breaker.allow()


def test_a_success_forgets_earlier_failures(breaker: CircuitBreaker) -> None:
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()

    assert state_of(breaker) == BreakerState.CLOSED


def test_an_open_circuit_refuses_calls_until_the_reset_time(breaker: CircuitBreaker, clock: Clock) -> None:
    open_circuit(breaker)

    clock.now += 4.9
    assert not breaker.allow()
    assert breaker.retry_after_s() == pytest.approx(0.1)

    clock.now += 0.1
    assert breaker.retry_after_s() == 0.0
    assert breaker.allow()
    assert state_of(breaker) == BreakerState.HALF_OPEN


def test_a_half_open_circuit_lets_one_trial_call_through_at_a_time(breaker: CircuitBreaker, clock: Clock) -> None:
    open_circuit(breaker)
    clock.now += 5.0

    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()


def test_a_successful_trial_closes_the_circuit(breaker: CircuitBreaker, clock: Clock) -> None:
    open_circuit(breaker)
    clock.now += 5.0
    breaker.allow()

    breaker.record_success()

    assert state_of(breaker) == BreakerState.CLOSED
    assert all(breaker.allow() for _ in range(5))


def test_a_failed_trial_opens_the_circuit_again_for_a_full_reset_time(breaker: CircuitBreaker, clock: Clock) -> None:
    open_circuit(breaker)
    clock.now += 5.0
    breaker.allow()

    breaker.record_failure()

    assert state_of(breaker) == BreakerState.OPEN
    assert breaker.retry_after_s() == 5.0
    clock.now += 4.0
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()
