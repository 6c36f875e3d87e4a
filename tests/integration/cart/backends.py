"""The cart's store backends as the integration tests use them (fixtures in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio

from roboshop.cart.store import CartStore

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class RedisPlace:
    """A slice of the test Redis of its own: every key this test writes starts with ``prefix``."""

    client: redis.asyncio.Redis
    prefix: str


@dataclass
class Backend:
    """Where the contract's carts live; ``store()`` gives that backend's adapter with a given TTL."""

    name: str
    make: Callable[[float], CartStore]

    def store(self, *, ttl_s: float = 3600.0) -> CartStore:
        return self.make(ttl_s)
