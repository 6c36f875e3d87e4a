"""Where countries and cities live: the :class:`ShippingStore` port and its adapters.

* :class:`SqlShippingStore`: SQLAlchemy Core over SQLite, PostgreSQL or MariaDB (the schema's per-dialect
  details live in the migrations).
* :class:`InMemoryShippingStore`: the fake for unit tests.
* :class:`UnreachableShippingStore`: stands in while the database cannot be reached at start-up.

All agree on one contract (``tests/integration/shipping/test_shipping_store_contract.py``). Prefix matching
works on the lower-case ASCII ``city`` column with ``LIKE 'text%'`` (``%`` and ``_`` in the text escaped),
ordered by ``city`` compared byte by byte, so every backend answers alike. Countries are sorted in Python
(:func:`~roboshop.shipping.domain.by_name`), away from any collation.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roboshop.kit.database import StoreUnavailable, connect
from roboshop.shipping.domain import City, Country, Geography, by_name

log = logging.getLogger("roboshop.shipping")

SEED_DATASET = "geography"
SEED_BATCH_ROWS = 2_000


class ShippingStore(Protocol):
    async def seed(self, load: Callable[[], Geography]) -> bool:
        """Fill an empty store with ``load()``; False (and ``load`` not called) if it was seeded already.

        Safe when replicas start together: exactly one of them seeds, the others find it done.
        """
        ...

    async def city_count(self) -> int: ...

    async def countries(self) -> list[Country]:
        """Every country, sorted by name (see :func:`~roboshop.shipping.domain.by_name`)."""
        ...

    async def cities_in(self, code: str) -> list[City]:
        """Every city of the country with ISO code ``code`` (exact), by id."""
        ...

    async def cities_starting(self, code: str, prefix: str, limit: int) -> list[City]:
        """At most ``limit`` cities of country ``code`` whose ``city`` starts with ``prefix`` (in any case).

        Ordered by ``city``, then id.
        """
        ...

    async def city(self, uuid: int) -> City | None: ...

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...


metadata = sa.MetaData()
codes = sa.Table(
    "codes",
    metadata,
    sa.Column("uuid", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("code", sa.String(2), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
)
cities = sa.Table(
    "cities",
    metadata,
    sa.Column("uuid", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("country_code", sa.String(2), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("region", sa.String(100), nullable=False),
    sa.Column("latitude", sa.Numeric(10, 7, asdecimal=False), nullable=False),
    sa.Column("longitude", sa.Numeric(10, 7, asdecimal=False), nullable=False),
)
shipping_seed = sa.Table(
    "shipping_seed",
    metadata,
    sa.Column("dataset", sa.String(40), primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("countries", sa.Integer, nullable=False),
    sa.Column("cities", sa.Integer, nullable=False),
)


class SqlShippingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def seed(self, load: Callable[[], Geography]) -> bool:
        if await self._seeded():
            return False
        started = time.perf_counter()
        # Reading the packaged data is CPU work of about half a second: keep the event loop free meanwhile.
        geography = await asyncio.to_thread(load)
        try:
            async with self._engine.begin() as conn:
                # The marker row goes in first: a replica seeding at the same moment waits on its primary key
                # until this transaction ends, then finds the data there (or seeds it, if this one failed).
                await conn.execute(
                    shipping_seed.insert().values(
                        dataset=SEED_DATASET,
                        source=geography.source[:200],
                        countries=len(geography.countries),
                        cities=len(geography.cities),
                    )
                )
                for batch in _batches(_country_rows(geography.countries)):
                    await conn.execute(codes.insert(), batch)
                for batch in _batches(_city_rows(geography.cities)):
                    await conn.execute(cities.insert(), batch)
        except IntegrityError:
            if await self._seeded():
                log.info("already seeded by another instance", extra={"component": "db"})
                return False
            raise
        log.info(
            "seeded",
            extra={
                "component": "db",
                "backend": self._engine.dialect.name,
                "countries": len(geography.countries),
                "cities": len(geography.cities),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return True

    async def city_count(self) -> int:
        async with self._connection() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(cities))).scalar_one())

    async def countries(self) -> list[Country]:
        async with self._connection() as conn:
            rows = (await conn.execute(sa.select(codes.c.uuid, codes.c.code, codes.c.name))).all()
        return by_name(Country(uuid=row.uuid, code=row.code, name=row.name) for row in rows)

    async def cities_in(self, code: str) -> list[City]:
        query = sa.select(cities).where(cities.c.country_code == code).order_by(cities.c.uuid)
        return await self._cities(query)

    async def cities_starting(self, code: str, prefix: str, limit: int) -> list[City]:
        query = (
            sa.select(cities)
            .where(cities.c.country_code == code, cities.c.city.startswith(prefix.lower(), autoescape=True))
            .order_by(cities.c.city, cities.c.uuid)
            .limit(limit)
        )
        return await self._cities(query)

    async def city(self, uuid: int) -> City | None:
        found = await self._cities(sa.select(cities).where(cities.c.uuid == uuid))
        return found[0] if found else None

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def _seeded(self) -> bool:
        async with self._connection() as conn:
            query = sa.select(shipping_seed.c.dataset).where(shipping_seed.c.dataset == SEED_DATASET)
            return (await conn.execute(query)).first() is not None

    async def _cities(self, query: sa.Select[Any]) -> list[City]:
        async with self._connection() as conn:
            rows = (await conn.execute(query)).all()
        return [
            City(
                uuid=row.uuid,
                code=row.country_code,
                city=row.city,
                name=row.name,
                region=row.region,
                latitude=float(row.latitude),
                longitude=float(row.longitude),
            )
            for row in rows
        ]

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return connect(self._engine, what="shipping database")


def _country_rows(countries: Iterable[Country]) -> Iterator[dict[str, Any]]:
    for country in countries:
        yield {"uuid": country.uuid, "code": country.code, "name": country.name}


def _city_rows(found: Iterable[City]) -> Iterator[dict[str, Any]]:
    for city in found:
        yield {
            "uuid": city.uuid,
            "country_code": city.code,
            "city": city.city,
            "name": city.name,
            "region": city.region,
            "latitude": city.latitude,
            "longitude": city.longitude,
        }


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    # Bounded statements: one executemany per batch keeps each round trip (and MariaDB's packet) small.
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, SEED_BATCH_ROWS)):
        yield batch


class InMemoryShippingStore:
    def __init__(self) -> None:
        self._countries: dict[str, Country] = {}
        self._cities: dict[int, City] = {}
        self._seeded = False

    @classmethod
    def with_geography(cls, geography: Geography) -> InMemoryShippingStore:
        store = cls()
        store._fill(geography)
        return store

    async def seed(self, load: Callable[[], Geography]) -> bool:
        if self._seeded:
            return False
        self._fill(load())
        return True

    async def city_count(self) -> int:
        return len(self._cities)

    async def countries(self) -> list[Country]:
        return by_name(self._countries.values())

    async def cities_in(self, code: str) -> list[City]:
        return sorted((city for city in self._cities.values() if city.code == code), key=lambda city: city.uuid)

    async def cities_starting(self, code: str, prefix: str, limit: int) -> list[City]:
        prefix = prefix.lower()
        found = (city for city in self._cities.values() if city.code == code and city.city.startswith(prefix))
        return sorted(found, key=lambda city: (city.city, city.uuid))[:limit]

    async def city(self, uuid: int) -> City | None:
        return self._cities.get(uuid)

    async def ping(self) -> None:
        return None

    def _fill(self, geography: Geography) -> None:
        self._countries = {country.code: country for country in geography.countries}
        self._cities = {city.uuid: city for city in geography.cities}
        self._seeded = True


class UnreachableShippingStore:
    """Answers every call with :class:`StoreUnavailable`: the database has not been reached yet."""

    def __init__(self, reason: str = "shipping database not reached yet") -> None:
        self.reason = reason

    async def seed(self, load: Callable[[], Geography]) -> bool:
        raise StoreUnavailable(self.reason)

    async def city_count(self) -> int:
        raise StoreUnavailable(self.reason)

    async def countries(self) -> list[Country]:
        raise StoreUnavailable(self.reason)

    async def cities_in(self, code: str) -> list[City]:
        raise StoreUnavailable(self.reason)

    async def cities_starting(self, code: str, prefix: str, limit: int) -> list[City]:
        raise StoreUnavailable(self.reason)

    async def city(self, uuid: int) -> City | None:
        raise StoreUnavailable(self.reason)

    async def ping(self) -> None:
        raise StoreUnavailable(self.reason)
