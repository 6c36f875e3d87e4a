"""A read-through snapshot of the catalogue, so the hottest reads never wait on the database.

The catalogue is small (Robot Shop has 11 products) and read on every page view, cart add and rating. The
snapshot holds every product and answers lookups, categories and search in memory; it is refreshed at most every
``ttl_s`` seconds, by one caller at a time, so replicas see a change within ``ttl_s``. Products change only through
migrations today, so a few seconds of staleness cost nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from roboshop.catalogue.domain import Product, SearchQuery
from roboshop.catalogue.store import InMemoryProductStore, ProductStore


class CachedProductStore:
    def __init__(self, inner: ProductStore, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._clock = clock
        self._snapshot: InMemoryProductStore | None = None
        self._taken_at = 0.0
        self._lock = asyncio.Lock()

    async def _current(self) -> InMemoryProductStore:
        if self._snapshot is not None and self._clock() - self._taken_at < self._ttl_s:
            return self._snapshot
        async with self._lock:
            if self._snapshot is None or self._clock() - self._taken_at >= self._ttl_s:
                self._snapshot = InMemoryProductStore(await self._inner.all_products())
                self._taken_at = self._clock()
            return self._snapshot

    async def all_products(self) -> list[Product]:
        return await (await self._current()).all_products()

    async def product(self, sku: str) -> Product | None:
        return await (await self._current()).product(sku)

    async def in_category(self, category: str) -> list[Product]:
        return await (await self._current()).in_category(category)

    async def categories(self) -> list[str]:
        return await (await self._current()).categories()

    async def search(self, query: SearchQuery) -> list[Product]:
        return await (await self._current()).search(query)

    async def ping(self) -> None:
        await self._inner.ping()
