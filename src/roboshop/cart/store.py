"""Where carts live: the :class:`CartStore` port and its adapters.

* :class:`RedisCartStore`: Redis (Compose, Kubernetes), one string key per cart, as Robot Shop keeps them.
* :class:`SqlCartStore`: SQLite (the local profile), one row per cart with an ``expires_at`` column.
* :class:`InMemoryCartStore`: the fake for unit tests.

All three agree on one contract (``tests/integration/cart/test_cart_store_contract.py``): a cart lives
``ttl_s`` seconds after its last write (reads do not extend it), an expired cart is gone for every
operation, and :meth:`CartStore.change` is an atomic read-modify-write, so concurrent ``add`` calls to one
cart never lose an update (Redis: WATCH/MULTI retried on conflict; SQLite: ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roboshop.cart.domain import Cart
from roboshop.kit.database import StoreUnavailable, connect

CartEdit = Callable[[Cart | None], Cart]
"""A change to a cart: given the stored cart (``None`` if there is none) the cart to store. It may raise
a :class:`~roboshop.cart.domain.CartError`, and then nothing is stored."""

Clock = Callable[[], float]

REDIS_MAX_ATTEMPTS = 100
"""WATCH conflicts one ``change`` retries: every conflict means another writer succeeded, so this bounds a
burst of ~100 simultaneous writers to one cart."""


class CartStore(Protocol):
    async def get(self, cart_id: str) -> Cart | None:
        """The cart, or ``None`` if there is none (or it expired). Does not extend its life."""
        ...

    async def save(self, cart_id: str, cart: Cart) -> None:
        """Store ``cart``, replacing any other; it lives ``ttl_s`` from now."""
        ...

    async def change(self, cart_id: str, edit: CartEdit) -> Cart:
        """Read, ``edit`` and save the cart atomically; return what was saved."""
        ...

    async def delete(self, cart_id: str) -> bool:
        """Remove the cart; False if there was none."""
        ...

    async def copy(self, source: str, target: str) -> Cart | None:
        """Copy cart ``source`` over ``target`` (``source`` stays); ``None`` if ``source`` does not exist."""
        ...

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...


class RedisCartStore:
    """Carts as Redis strings holding the cart's JSON, written with an expiry (``SET .. PX``, SETEX's twin)."""

    def __init__(self, redis: Redis, *, ttl_s: float, key_prefix: str = "cart:") -> None:
        self._redis = redis
        # Milliseconds, so that tests can use TTLs shorter than a second.
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = key_prefix

    def _key(self, cart_id: str) -> str:
        return self._prefix + cart_id

    async def get(self, cart_id: str) -> Cart | None:
        async with _redis_errors():
            raw = await self._redis.get(self._key(cart_id))
        return None if raw is None else Cart.from_json(raw)

    async def save(self, cart_id: str, cart: Cart) -> None:
        async with _redis_errors():
            await self._redis.set(self._key(cart_id), cart.to_json(), px=self._ttl_ms)

    async def change(self, cart_id: str, edit: CartEdit) -> Cart:
        key = self._key(cart_id)
        async with _redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            for attempt in range(REDIS_MAX_ATTEMPTS):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    cart = edit(None if raw is None else Cart.from_json(raw))
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves this one unannotated
                    pipe.set(key, cart.to_json(), px=self._ttl_ms)
                    await pipe.execute()
                    return cart
                except WatchError:
                    # Another writer changed the cart between our read and our write (execute() has
                    # unwatched): read it again. An edit that raises leaves through the pipeline's exit,
                    # which unwatches too.
                    await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 10)))  # noqa: S311 - jitter
        raise StoreUnavailable(f"cart {cart_id!r} kept changing under {REDIS_MAX_ATTEMPTS} attempts to write it")

    async def delete(self, cart_id: str) -> bool:
        async with _redis_errors():
            removed: int = await self._redis.delete(self._key(cart_id))
        return removed > 0

    async def copy(self, source: str, target: str) -> Cart | None:
        async with _redis_errors():
            raw = await self._redis.get(self._key(source))
            if raw is None:
                return None
            await self._redis.set(self._key(target), raw, px=self._ttl_ms)
        return Cart.from_json(raw)

    async def ping(self) -> None:
        async with _redis_errors():
            await self._redis.ping()


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(f"cart store unreachable: {type(exc).__name__}") from exc


metadata = sa.MetaData()
carts = sa.Table(
    "carts",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)


class SqlCartStore:
    """Carts as rows of SQLite; an expired row is invisible at once and deleted by the next write."""

    def __init__(self, engine: AsyncEngine, *, ttl_s: float, clock: Clock = time.time) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError(f"SqlCartStore keeps carts in SQLite, not in '{engine.dialect.name}'")
        self._engine = engine
        self._ttl_s = ttl_s
        self._clock = clock

    async def get(self, cart_id: str) -> Cart | None:
        query = sa.select(carts.c.body).where(carts.c.id == cart_id, carts.c.expires_at > self._clock())
        async with self._connection() as conn:
            body = (await conn.execute(query)).scalar_one_or_none()
        return None if body is None else Cart.from_json(body)

    async def save(self, cart_id: str, cart: Cart) -> None:
        async with self._writing() as conn:
            await self._put(conn, cart_id, cart.to_json().decode())

    async def change(self, cart_id: str, edit: CartEdit) -> Cart:
        async with self._writing() as conn:
            cart = edit(await self._live(conn, cart_id))
            await self._put(conn, cart_id, cart.to_json().decode())
        return cart

    async def delete(self, cart_id: str) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                sa.delete(carts).where(carts.c.id == cart_id, carts.c.expires_at > self._clock())
            )
        return bool(result.rowcount)

    async def copy(self, source: str, target: str) -> Cart | None:
        async with self._writing() as conn:
            cart = await self._live(conn, source)
            if cart is not None:
                await self._put(conn, target, cart.to_json().decode())
        return cart

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def _live(self, conn: AsyncConnection, cart_id: str) -> Cart | None:
        query = sa.select(carts.c.body).where(carts.c.id == cart_id, carts.c.expires_at > self._clock())
        body = (await conn.execute(query)).scalar_one_or_none()
        return None if body is None else Cart.from_json(body)

    async def _put(self, conn: AsyncConnection, cart_id: str, body: str) -> None:
        expires_at = self._clock() + self._ttl_s
        upsert = (
            sqlite.insert(carts)
            .values(id=cart_id, body=body, expires_at=expires_at)
            .on_conflict_do_update(index_elements=["id"], set_={"body": body, "expires_at": expires_at})
        )
        await conn.execute(upsert)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction that holds SQLite's write lock from its first statement.

        ``BEGIN IMMEDIATE`` makes concurrent writers queue (busy_timeout) before they read, so a
        read-modify-write never works on a cart another writer is about to replace. Expired carts are
        purged here, inside the same transaction, rather than by a background task.
        """
        async with self._connection() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.execute(sa.delete(carts).where(carts.c.expires_at <= self._clock()))
            yield conn
            await conn.commit()

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return connect(self._engine, what="cart store")


class InMemoryCartStore:
    """The fake: carts in a dict, serialised like the real stores so that what comes back is what they give."""

    def __init__(self, *, ttl_s: float = 3600.0, clock: Clock = time.time) -> None:
        self._carts: dict[str, tuple[bytes, float]] = {}
        self._ttl_s = ttl_s
        self._clock = clock

    async def get(self, cart_id: str) -> Cart | None:
        return self._live(cart_id)

    async def save(self, cart_id: str, cart: Cart) -> None:
        self._carts[cart_id] = (cart.to_json(), self._clock() + self._ttl_s)

    async def change(self, cart_id: str, edit: CartEdit) -> Cart:
        # No await between the read and the write: atomic within the one event loop that uses the fake.
        cart = edit(self._live(cart_id))
        self._carts[cart_id] = (cart.to_json(), self._clock() + self._ttl_s)
        return cart

    async def delete(self, cart_id: str) -> bool:
        found = self._live(cart_id) is not None
        self._carts.pop(cart_id, None)
        return found

    async def copy(self, source: str, target: str) -> Cart | None:
        cart = self._live(source)
        if cart is not None:
            await self.save(target, cart)
        return cart

    async def ping(self) -> None:
        return None

    def _live(self, cart_id: str) -> Cart | None:
        stored = self._carts.get(cart_id)
        if stored is None:
            return None
        body, expires_at = stored
        if expires_at <= self._clock():
            del self._carts[cart_id]
            return None
        return Cart.from_json(body)
