"""Password hashing with argon2id at the OWASP minimum (m=19 MiB, t=2, p=1).

A hash takes tens of milliseconds of CPU, so it runs in a small thread pool of its own, never on the event
loop; the pool's size bounds memory too (each running hash holds 19 MiB). Checking a password for a name
that does not exist still verifies against a dummy hash, so the answer takes as long as for a real user and
its timing does not tell which names exist.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger("roboshop.user.passwords")

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1


class PasswordHasher:
    def __init__(self, *, workers: int = 2) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, type=argon2.Type.ID
        )
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._dummy_hash: asyncio.Future[str] | None = None

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="argon2")
        # A hash of a random secret nobody knows, with the same parameters as real ones: the same work.
        # It is computed in the background, so start-up goes on (seeding hashes meanwhile).
        self._dummy_hash = asyncio.ensure_future(self.hash(secrets.token_urlsafe(24)))

    async def close(self) -> None:
        if self._dummy_hash is not None and not self._dummy_hash.done():
            self._dummy_hash.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool(), self._argon2.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; ``None`` (no such user) does the same work, then no."""
        if stored_hash is None:
            assert self._dummy_hash is not None, "PasswordHasher.start() was not called"
            await self._check(await self._dummy_hash, password)
            return False
        return await self._check(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when ``stored_hash`` was made with weaker parameters than today's."""
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False

    async def _check(self, stored_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), self._argon2.verify, stored_hash, password)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError, UnicodeEncodeError) as exc:
            log.warning("password check failed", extra={"error": type(exc).__name__})
            return False

    def _pool(self) -> ThreadPoolExecutor:
        assert self._executor is not None, "PasswordHasher.start() was not called"
        return self._executor
