"""Where ratings live: the :class:`RatingStore` port and its adapters.

* :class:`SqlRatingStore`: SQLAlchemy Core over SQLite, PostgreSQL or MariaDB.
* :class:`InMemoryRatingStore`: the fake for unit tests.
* :class:`UnreachableRatingStore`: stands in while the database cannot be reached at start-up.

All three agree on one contract (``tests/integration/ratings/test_rating_store_contract.py``).

A score is folded into the running average by ONE statement, an upsert that computes the new average from
the row's current values inside the database (``INSERT .. ON CONFLICT DO UPDATE`` on SQLite and
PostgreSQL, ``INSERT .. ON DUPLICATE KEY UPDATE`` on MariaDB), so concurrent ratings never lose an update.
The dialect differences are isolated in :func:`_rate_statement`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable

from roboshop.kit.database import StoreUnavailable, connect
from roboshop.ratings.domain import UNRATED, Rating


class RatingStore(Protocol):
    async def rating(self, sku: str) -> Rating | None:
        """The rating of ``sku``, or ``None`` if nobody has rated it."""
        ...

    async def rate(self, sku: str, score: int) -> None:
        """Fold ``score`` (already clamped to 1..5) into the running average of ``sku``, atomically."""
        ...

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...


metadata = sa.MetaData()
ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("sku", sa.String(100), primary_key=True),
    # Read back as whole hundredths (see rating()); asdecimal=False keeps SQLite from warning about floats.
    sa.Column("avg_rating", sa.Numeric(3, 2, asdecimal=False), nullable=False),
    sa.Column("rating_count", sa.Integer, nullable=False),
)


def _hundredths(average: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    # The stored value has two decimals; SQLite keeps it as a float, so round rather than truncate.
    return sa.cast(sa.func.round(average * 100), sa.Integer)


def _rate_statement(dialect: str) -> Executable:
    """The upsert of one score, in the dialect's words; the arithmetic is domain.next_hundredths."""
    score = sa.bindparam("score", type_=sa.Integer)
    count = ratings.c.rating_count
    total = _hundredths(ratings.c.avg_rating) * count + score * 100
    divisor = count + 1
    # Whole-number division: MySQL's "/" gives a rounded decimal, its DIV truncates like "/" on integers
    # does in SQLite and PostgreSQL.
    mysql_family = dialect in ("mysql", "mariadb")
    division = "DIV" if mysql_family else "/"
    # precedence=100 makes the compiler parenthesise both operands of the custom operator.
    next_hundredths = (total * 2 + divisor).op(division, precedence=100, return_type=sa.Integer)(divisor * 2)
    average = sa.cast(next_hundredths, sa.Numeric(10, 2)) / 100
    first = {"sku": sa.bindparam("sku", type_=sa.String), "avg_rating": score, "rating_count": 1}
    if mysql_family:
        # MariaDB evaluates the assignments left to right against the updated row: average before count.
        return (
            mysql.insert(ratings)
            .values(first)
            .on_duplicate_key_update([("avg_rating", average), ("rating_count", count + 1)])
        )
    updates = {"avg_rating": average, "rating_count": count + 1}
    if dialect == "postgresql":
        return postgresql.insert(ratings).values(first).on_conflict_do_update(index_elements=["sku"], set_=updates)
    if dialect == "sqlite":
        return sqlite.insert(ratings).values(first).on_conflict_do_update(index_elements=["sku"], set_=updates)
    raise ValueError(f"ratings cannot be stored in a '{dialect}' database")


class SqlRatingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._rate = _rate_statement(engine.dialect.name)

    async def rating(self, sku: str) -> Rating | None:
        query = sa.select(_hundredths(ratings.c.avg_rating), ratings.c.rating_count).where(ratings.c.sku == sku)
        async with self._connection() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        hundredths, count = row
        return Rating(Decimal(hundredths).scaleb(-2), count)

    async def rate(self, sku: str, score: int) -> None:
        async with self._connection() as conn:
            await conn.execute(self._rate, {"sku": sku, "score": score})
            await conn.commit()

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.execute(sa.text("SELECT 1"))

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return connect(self._engine, what="ratings database")


class InMemoryRatingStore:
    def __init__(self) -> None:
        self._ratings: dict[str, Rating] = {}

    async def rating(self, sku: str) -> Rating | None:
        return self._ratings.get(sku)

    async def rate(self, sku: str, score: int) -> None:
        self._ratings[sku] = self._ratings.get(sku, UNRATED).with_score(score)

    async def ping(self) -> None:
        return None


class UnreachableRatingStore:
    """Answers every call with :class:`StoreUnavailable`: the database has not been reached yet."""

    def __init__(self, reason: str = "ratings database not reached yet") -> None:
        self.reason = reason

    async def rating(self, sku: str) -> Rating | None:
        raise StoreUnavailable(self.reason)

    async def rate(self, sku: str, score: int) -> None:
        raise StoreUnavailable(self.reason)

    async def ping(self) -> None:
        raise StoreUnavailable(self.reason)
