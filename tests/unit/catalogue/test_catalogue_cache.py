"""The catalogue snapshot: reads from memory, refreshed after its TTL, single-flight."""

from __future__ import annotations

import asyncio

from roboshop.catalogue.cache import CachedProductStore
from roboshop.catalogue.domain import Product, parse_search
from roboshop.catalogue.seed import SEED_PRODUCTS
from roboshop.catalogue.store import InMemoryProductStore


class CountingStore(InMemoryProductStore):
    def __init__(self, items: list[Product]) -> None:
        super().__init__(items)
        self.reads = 0

    async def all_products(self) -> list[Product]:
        self.reads += 1
        await asyncio.sleep(0)
        return await super().all_products()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_reads_within_the_ttl_hit_the_database_once() -> None:
    database, clock = CountingStore(list(SEED_PRODUCTS)), Clock()
    cached = CachedProductStore(database, ttl_s=5, clock=clock)
    watson = await cached.product("Watson")
    assert watson is not None
    assert watson.price == 2001
    assert await cached.categories() == ["Artificial Intelligence", "Robot"]
    assert [p.sku for p in await cached.search(parse_search("guru"))] == ["STAN-1"]
    assert database.reads == 1


async def test_the_snapshot_is_refreshed_after_the_ttl() -> None:
    database, clock = CountingStore(list(SEED_PRODUCTS)), Clock()
    cached = CachedProductStore(database, ttl_s=5, clock=clock)
    await cached.all_products()
    clock.now += 5.1
    await cached.all_products()
    assert database.reads == 2


async def test_concurrent_misses_share_one_database_read() -> None:
    database = CountingStore(list(SEED_PRODUCTS))
    cached = CachedProductStore(database, ttl_s=5)
    await asyncio.gather(*(cached.all_products() for _ in range(20)))
    assert database.reads == 1
