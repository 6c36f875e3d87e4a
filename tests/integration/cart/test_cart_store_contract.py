"""One contract for every CartStore: the in-memory fake, SQLite and Redis agree on all of it.

The Redis cases need a Redis on 127.0.0.1:6379 (they skip without one, unless integration is required);
each test writes under a key prefix of its own and removes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio
import sqlalchemy as sa

from roboshop.cart.domain import Cart, CartNotFound, NotInCart, Product, Shipping
from roboshop.cart.store import CartEdit, CartStore, RedisCartStore, SqlCartStore, StoreUnavailable
from roboshop.kit.db import create_engine, migrate
from tests.integration.cart.backends import Backend, RedisPlace
from tests.support import free_port

WATSON = Product("Watson", "Watson", 2001.0, 2)
RMC = Product("RMC", "Robotic Mining Cyborg", 42.0, 48)
WATSON_CART = Cart().add_item(WATSON, 1)
SHIPPED_CART = Cart().add_item(RMC, 2).set_shipping(Shipping("United Kingdom London", 35.2))
GONE_DEADLINE_S = 5.0


def add(product: Product, qty: int) -> CartEdit:
    return lambda cart: (cart or Cart()).add_item(product, qty)


def existing(cart: Cart | None) -> Cart:
    if cart is None:
        raise CartNotFound()
    return cart


async def seconds_until_gone(store: CartStore, cart_id: str, since: float) -> float:
    """Poll the cart until it has expired (failing after a deadline); how long after ``since`` that was."""
    deadline = time.monotonic() + GONE_DEADLINE_S
    while await store.get(cart_id) is not None:
        assert time.monotonic() < deadline, f"cart {cart_id!r} still there after {GONE_DEADLINE_S} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - since


async def test_a_cart_nobody_saved_is_not_there(backend: Backend) -> None:
    assert await backend.store().get("anonymous-1") is None


async def test_a_saved_cart_reads_back_as_it_was_saved(backend: Backend) -> None:
    store = backend.store()

    await store.save("anonymous-1", SHIPPED_CART)

    assert await store.get("anonymous-1") == SHIPPED_CART


async def test_saving_replaces_the_cart_that_was_there(backend: Backend) -> None:
    store = backend.store()
    await store.save("anonymous-1", SHIPPED_CART)

    await store.save("anonymous-1", WATSON_CART)

    assert await store.get("anonymous-1") == WATSON_CART


async def test_carts_are_told_apart_by_their_exact_id(backend: Backend) -> None:
    store = backend.store()
    await store.save("stan", WATSON_CART)

    for other in ("Stan", "stan ", "stän", "sta"):
        assert await store.get(other) is None


async def test_a_change_to_no_cart_starts_a_new_one(backend: Backend) -> None:
    store = backend.store()

    changed = await store.change("anonymous-1", add(WATSON, 1))

    assert changed == WATSON_CART
    assert await store.get("anonymous-1") == WATSON_CART


async def test_a_change_edits_the_stored_cart_and_returns_what_it_stored(backend: Backend) -> None:
    store = backend.store()
    await store.save("anonymous-1", WATSON_CART)

    changed = await store.change("anonymous-1", add(RMC, 3))

    assert changed == WATSON_CART.add_item(RMC, 3)
    assert await store.get("anonymous-1") == changed


async def test_an_edit_that_refuses_stores_nothing(backend: Backend) -> None:
    store = backend.store()
    await store.save("anonymous-1", WATSON_CART)

    with pytest.raises(NotInCart):
        await store.change("anonymous-1", lambda cart: existing(cart).update_quantity("RMC", 1))
    with pytest.raises(CartNotFound):
        await store.change("anonymous-2", lambda cart: existing(cart).update_quantity("RMC", 1))

    assert await store.get("anonymous-1") == WATSON_CART
    assert await store.get("anonymous-2") is None


async def test_deleting_removes_the_cart_and_says_whether_there_was_one(backend: Backend) -> None:
    store = backend.store()
    await store.save("anonymous-1", WATSON_CART)

    assert await store.delete("anonymous-1") is True
    assert await store.get("anonymous-1") is None
    assert await store.delete("anonymous-1") is False


async def test_copying_keeps_the_source_and_overwrites_the_target(backend: Backend) -> None:
    store = backend.store()
    await store.save("anonymous-1", WATSON_CART)
    await store.save("stan", SHIPPED_CART)

    copied = await store.copy("anonymous-1", "stan")

    assert copied == WATSON_CART
    assert await store.get("stan") == WATSON_CART
    assert await store.get("anonymous-1") == WATSON_CART


async def test_copying_a_cart_that_does_not_exist_writes_nothing(backend: Backend) -> None:
    store = backend.store()
    await store.save("stan", SHIPPED_CART)

    assert await store.copy("anonymous-9", "stan") is None
    assert await store.get("stan") == SHIPPED_CART


async def test_concurrent_adds_to_one_cart_lose_no_update(backend: Backend) -> None:
    store = backend.store()
    products = [Product(f"P{n}", f"Product {n}", 1.0, 1) for n in range(5)]
    adders = 40

    await asyncio.gather(*(store.change("anonymous-1", add(products[n % 5], 1)) for n in range(adders)))

    cart = await store.get("anonymous-1")
    assert cart is not None
    assert sorted((line.sku, line.qty) for line in cart.items) == [(f"P{n}", adders // 5) for n in range(5)]
    assert cart.totals().total == adders


async def test_a_cart_expires_its_ttl_after_it_was_written(backend: Backend) -> None:
    store = backend.store(ttl_s=0.3)
    written = time.monotonic()
    await store.save("anonymous-1", WATSON_CART)

    assert await store.get("anonymous-1") == WATSON_CART
    assert await seconds_until_gone(store, "anonymous-1", written) >= 0.25


async def test_an_expired_cart_is_gone_for_every_operation(backend: Backend) -> None:
    store = backend.store(ttl_s=0.2)
    await store.save("anonymous-1", SHIPPED_CART)
    await seconds_until_gone(store, "anonymous-1", time.monotonic())

    assert await store.delete("anonymous-1") is False
    assert await store.copy("anonymous-1", "stan") is None
    assert await store.get("stan") is None
    assert await store.change("anonymous-1", add(WATSON, 1)) == WATSON_CART


async def test_every_write_gives_the_cart_its_full_ttl_again(backend: Backend) -> None:
    store = backend.store(ttl_s=2.0)
    await store.save("anonymous-1", WATSON_CART)
    await asyncio.sleep(1.0)  # half the TTL passes
    rewritten = time.monotonic()
    await store.change("anonymous-1", add(RMC, 1))
    await asyncio.sleep(1.4)  # past the first write's expiry, well before the second's

    assert await store.get("anonymous-1") == WATSON_CART.add_item(RMC, 1)
    assert await seconds_until_gone(store, "anonymous-1", rewritten) >= 1.9


async def test_a_copy_gives_the_target_a_full_ttl_and_leaves_the_source_alone(backend: Backend) -> None:
    store = backend.store(ttl_s=2.0)
    await store.save("anonymous-1", WATSON_CART)
    await asyncio.sleep(1.0)
    copied = time.monotonic()
    await store.copy("anonymous-1", "stan")

    assert await seconds_until_gone(store, "anonymous-1", copied) <= 1.5
    assert await store.get("stan") == WATSON_CART
    assert await seconds_until_gone(store, "stan", copied) >= 1.9


async def test_reading_a_cart_does_not_extend_its_life(backend: Backend) -> None:
    store = backend.store(ttl_s=1.0)
    written = time.monotonic()
    await store.save("anonymous-1", WATSON_CART)

    # seconds_until_gone reads the cart every 20 ms: if reads refreshed the TTL it would never expire.
    lived = await seconds_until_gone(store, "anonymous-1", written)

    assert 0.9 <= lived <= 1.8


@pytest.mark.integration
async def test_redis_keeps_a_cart_as_its_json_under_a_key_that_expires(redis_place: RedisPlace) -> None:
    store = RedisCartStore(redis_place.client, ttl_s=3600, key_prefix=redis_place.prefix)

    await store.change("anonymous-1", add(WATSON, 1))

    key = redis_place.prefix + "anonymous-1"
    assert await redis_place.client.get(key) == WATSON_CART.to_json()
    assert 3_590_000 < await redis_place.client.pttl(key) <= 3_600_000


@pytest.mark.integration
async def test_redis_reads_a_cart_robot_shop_wrote(redis_place: RedisPlace) -> None:
    store = RedisCartStore(redis_place.client, ttl_s=3600, key_prefix=redis_place.prefix)
    original = (
        b'{"total":2001,"tax":333.5,"items":[{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001}]}'
    )
    await redis_place.client.set(redis_place.prefix + "anonymous-7", original, ex=3600)  # SETEX

    cart = await store.get("anonymous-7")

    assert cart is not None
    assert cart.to_json() == original


async def test_sqlite_deletes_expired_carts_at_the_next_write(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    try:
        await migrate(engine, "roboshop.cart.migrations", service="cart")
        short_lived = SqlCartStore(engine, ttl_s=0.1)
        await short_lived.save("anonymous-1", WATSON_CART)
        await short_lived.save("anonymous-2", WATSON_CART)
        await seconds_until_gone(short_lived, "anonymous-2", time.monotonic())

        await SqlCartStore(engine, ttl_s=3600).save("stan", WATSON_CART)

        async with engine.connect() as conn:
            ids = (await conn.execute(sa.text("SELECT id FROM carts"))).scalars().all()
        assert ids == ["stan"]
    finally:
        await engine.dispose()


async def test_concurrent_adds_through_two_sqlite_engines_lose_no_update(tmp_path: Path) -> None:
    """Two replicas of the cart service sharing one SQLite file, as in the local profile."""
    url = f"sqlite:///{tmp_path / 'cart.db'}"
    engines = [create_engine(url), create_engine(url)]
    try:
        await migrate(engines[0], "roboshop.cart.migrations", service="cart")
        replicas = [SqlCartStore(engine, ttl_s=3600) for engine in engines]

        await asyncio.gather(*(replicas[n % 2].change("anonymous-1", add(RMC, 1)) for n in range(30)))

        cart = await replicas[0].get("anonymous-1")
        assert cart is not None
        assert [(line.sku, line.qty) for line in cart.items] == [("RMC", 30)]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_redis_store_says_it_is_unavailable_when_redis_does_not_answer() -> None:
    client = redis.asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    store = RedisCartStore(client, ttl_s=3600)
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.get("anonymous-1")
        with pytest.raises(StoreUnavailable):
            await store.change("anonymous-1", add(WATSON, 1))
    finally:
        await client.aclose()
