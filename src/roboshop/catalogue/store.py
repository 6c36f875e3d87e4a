"""Where products live: the :class:`ProductStore` port and its adapters.

* :class:`SqlProductStore`: SQLAlchemy Core over SQLite, PostgreSQL or MariaDB (one adapter; the schema's
  per-dialect details live in the migrations).
* :class:`InMemoryProductStore`: the fake for unit tests.
* :class:`UnreachableProductStore`: stands in while the database cannot be reached at start-up.

All three agree on one contract (``tests/integration/catalogue/test_product_store_contract.py``).
Ordering rules (natural order, names in code-point order, sorted categories) are applied in Python with
the domain's helpers, so no backend's collation can change an answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roboshop.catalogue.domain import Product, SearchQuery, by_name
from roboshop.catalogue.seed import SEED_PRODUCTS
from roboshop.kit.database import StoreUnavailable, connect


class ProductStore(Protocol):
    async def all_products(self) -> list[Product]:
        """Every product, in natural (insertion) order."""
        ...

    async def product(self, sku: str) -> Product | None: ...

    async def in_category(self, category: str) -> list[Product]:
        """The products listing ``category`` (exact, case-sensitive), sorted by name."""
        ...

    async def categories(self) -> list[str]:
        """Every category any product lists, once each, sorted."""
        ...

    async def search(self, query: SearchQuery) -> list[Product]:
        """The products ``query`` matches, in natural order."""
        ...

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...


metadata = sa.MetaData()
products = sa.Table(
    "products",
    metadata,
    sa.Column("sku", sa.String(100), primary_key=True),
    sa.Column("object_id", sa.String(24), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("price", sa.Integer, nullable=False),
    sa.Column("instock", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)
product_categories = sa.Table(
    "product_categories",
    metadata,
    sa.Column("sku", sa.String(100), primary_key=True),
    sa.Column("category", sa.String(100), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)
product_terms = sa.Table(
    "product_terms",
    metadata,
    sa.Column("term", sa.String(100), primary_key=True),
    sa.Column("sku", sa.String(100), primary_key=True),
)


class SqlProductStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all_products(self) -> list[Product]:
        return await self._products(None)

    async def product(self, sku: str) -> Product | None:
        found = await self._products(products.c.sku == sku)
        return found[0] if found else None

    async def in_category(self, category: str) -> list[Product]:
        listed = sa.select(product_categories.c.sku).where(product_categories.c.category == category)
        return by_name(await self._products(products.c.sku.in_(listed)))

    async def categories(self) -> list[str]:
        async with self._connection() as conn:
            result = await conn.execute(sa.select(product_categories.c.category).distinct())
            return sorted(result.scalars())

    async def search(self, query: SearchQuery) -> list[Product]:
        if query.finds_nothing:
            return []

        def having(terms: frozenset[str]) -> sa.Select[Any]:
            return sa.select(product_terms.c.sku).where(product_terms.c.term.in_(sorted(terms)))

        condition: sa.ColumnElement[bool] = products.c.sku.in_(having(query.wanted))
        if query.excluded:
            condition = condition & products.c.sku.not_in(having(query.excluded))
        return await self._products(condition)

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def _products(self, condition: sa.ColumnElement[bool] | None) -> list[Product]:
        rows_query = sa.select(products).order_by(products.c.position)
        categories_query = sa.select(product_categories.c.sku, product_categories.c.category).order_by(
            product_categories.c.sku, product_categories.c.position
        )
        if condition is not None:
            rows_query = rows_query.where(condition)
            categories_query = categories_query.where(
                product_categories.c.sku.in_(sa.select(products.c.sku).where(condition))
            )
        async with self._connection() as conn:
            rows = (await conn.execute(rows_query)).all()
            if not rows:
                return []
            listed: defaultdict[str, list[str]] = defaultdict(list)
            for sku, category in await conn.execute(categories_query):
                listed[sku].append(category)
        return [
            Product(
                id=row.object_id,
                sku=row.sku,
                name=row.name,
                description=row.description,
                price=row.price,
                instock=row.instock,
                categories=tuple(listed[row.sku]),
            )
            for row in rows
        ]

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return connect(self._engine, what="catalogue database")


class InMemoryProductStore:
    def __init__(self, items: Iterable[Product] = ()) -> None:
        self._products = {product.sku: product for product in items}

    @classmethod
    def seeded(cls) -> InMemoryProductStore:
        return cls(SEED_PRODUCTS)

    async def all_products(self) -> list[Product]:
        return list(self._products.values())

    async def product(self, sku: str) -> Product | None:
        return self._products.get(sku)

    async def in_category(self, category: str) -> list[Product]:
        return by_name(p for p in self._products.values() if category in p.categories)

    async def categories(self) -> list[str]:
        return sorted({category for product in self._products.values() for category in product.categories})

    async def search(self, query: SearchQuery) -> list[Product]:
        return [product for product in self._products.values() if query.matches(product.terms)]

    async def ping(self) -> None:
        return None


class UnreachableProductStore:
    """Answers every call with :class:`StoreUnavailable`: the database has not been reached yet."""

    def __init__(self, reason: str = "catalogue database not reached yet") -> None:
        self.reason = reason

    async def all_products(self) -> list[Product]:
        raise StoreUnavailable(self.reason)

    async def product(self, sku: str) -> Product | None:
        raise StoreUnavailable(self.reason)

    async def in_category(self, category: str) -> list[Product]:
        raise StoreUnavailable(self.reason)

    async def categories(self) -> list[str]:
        raise StoreUnavailable(self.reason)

    async def search(self, query: SearchQuery) -> list[Product]:
        raise StoreUnavailable(self.reason)

    async def ping(self) -> None:
        raise StoreUnavailable(self.reason)
