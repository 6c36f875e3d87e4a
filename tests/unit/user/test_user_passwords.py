"""argon2id password hashing: the OWASP parameters, equal work for unknown names, off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

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


async def test_checking_an_unknown_name_does_the_same_argon2_work_as_a_known_one(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equal work, not equal wall time, is what a unit test can assert; `make bench` compares the timings.
    stored = await hasher.hash("bigbrain")
    checked: list[str] = []
    original = hasher._check

    async def spy(stored_hash: str, password: str) -> bool:
        checked.append(stored_hash)
        return await original(stored_hash, password)

    monkeypatch.setattr(hasher, "_check", spy)
    await hasher.verify(stored, "wrong password")
    await hasher.verify(None, "wrong password")

    known, unknown = checked
    parameters = known.rsplit("$", 2)[0]
    assert parameters.startswith("$argon2id$")
    assert unknown.rsplit("$", 2)[0] == parameters
    assert unknown != known


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
    # On the loop, the ticker would be starved until every hash is done (0 ticks); in threads it keeps going.
    # Counted, not timed: a busy machine slows the ticker, but cannot make it tick while the loop is blocked.
    assert elapsed > 0
    assert ticks >= 3


async def test_a_hash_with_weaker_parameters_needs_rehashing(hasher: PasswordHasher) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("bigbrain")
    assert hasher.needs_rehash(weak)
    assert await hasher.verify(weak, "bigbrain")
    assert not hasher.needs_rehash(await hasher.hash("bigbrain"))
    assert not hasher.needs_rehash("not-a-hash")
