"""argon2id password hashing: the OWASP parameters, equal work for unknown names, off the event loop."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import argon2
import pytest

from roboshop.user.passwords import PasswordHasher


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    hasher = PasswordHasher(workers=2)
    await hasher.start()
    yield hasher
    await hasher.close()


async def test_hashes_are_argon2id_at_the_owasp_minimum(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("bigbrain")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "bigbrain" not in stored


async def test_the_same_password_hashes_differently_each_time(hasher: PasswordHasher) -> None:
    assert await hasher.hash("bigbrain") != await hasher.hash("bigbrain")


async def test_only_the_right_password_matches(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("bigbrain")
    assert await hasher.verify(stored, "bigbrain")
    assert not await hasher.verify(stored, "bigbrain ")
    assert not await hasher.verify(stored, "")


async def test_an_unknown_name_never_matches(hasher: PasswordHasher) -> None:
    assert not await hasher.verify(None, "bigbrain")


async def test_a_damaged_hash_or_undecodable_password_does_not_match(hasher: PasswordHasher) -> None:
    assert not await hasher.verify("not-a-hash", "bigbrain")
    assert not await hasher.verify(await hasher.hash("bigbrain"), "bad\ud800surrogate")


async def test_checking_an_unknown_name_costs_as_much_as_a_known_one(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("bigbrain")

    async def median_seconds(check: Callable[[], Awaitable[bool]]) -> float:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            await check()
            timings.append(time.perf_counter() - started)
        return statistics.median(timings)

    known = await median_seconds(lambda: hasher.verify(stored, "wrong password"))
    unknown = await median_seconds(lambda: hasher.verify(None, "wrong password"))
    # A cheap early return would take microseconds; an argon2 check takes tens of milliseconds.
    assert known > 0.005
    assert 0.5 < unknown / known < 2.0


async def test_hashing_runs_off_the_event_loop(hasher: PasswordHasher) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(hasher.hash(f"password-{n}") for n in range(4)))
    elapsed = time.perf_counter() - started
    stop.set()
    await ticking
    # On the loop, the ticker would be starved for the whole time; in threads it keeps going.
    assert ticks > elapsed / 0.001 / 4


async def test_a_hash_with_weaker_parameters_needs_rehashing(hasher: PasswordHasher) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("bigbrain")
    assert hasher.needs_rehash(weak)
    assert await hasher.verify(weak, "bigbrain")
    assert not hasher.needs_rehash(await hasher.hash("bigbrain"))
    assert not hasher.needs_rehash("not-a-hash")
