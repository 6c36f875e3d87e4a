from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from roboshop.cart.store import InMemoryCartStore, RedisCartStore, SqlCartStore
from roboshop.kit.db import create_engine, migrate
from tests.integration.cart.backends import REDIS_URL, Backend, RedisPlace
from tests.support import require_server
from tests.unit.cart.fakes import FakeCatalogue


@pytest.fixture
async def catalogue() -> AsyncIterator[FakeCatalogue]:
    fake = FakeCatalogue()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def redis_place() -> AsyncIterator[RedisPlace]:
    require_server("Redis", "127.0.0.1", 6379)
    client = redis.asyncio.from_url(REDIS_URL)
    place = RedisPlace(client, f"roboshop-test-{uuid.uuid4().hex}:")
    yield place
    async for key in client.scan_iter(match=place.prefix + "*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
def memory_backend() -> Backend:
    return Backend("memory", lambda ttl_s: InMemoryCartStore(ttl_s=ttl_s))


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    engine = create_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    await migrate(engine, "roboshop.cart.migrations", service="cart")
    yield Backend("sqlite", lambda ttl_s: SqlCartStore(engine, ttl_s=ttl_s))
    await engine.dispose()


@pytest.fixture
def redis_backend(redis_place: RedisPlace) -> Backend:
    return Backend(
        "redis", lambda ttl_s: RedisCartStore(redis_place.client, ttl_s=ttl_s, key_prefix=redis_place.prefix)
    )


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every CartStore: the contract suite runs once on each."""
    found: Backend = request.getfixturevalue(f"{request.param}_backend")
    return found
