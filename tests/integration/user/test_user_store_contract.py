"""The store contract: the in-memory fakes, SQLite, PostgreSQL and MariaDB all behave the same."""

from __future__ import annotations

import asyncio

from roboshop.user.domain import Order, User
from roboshop.user.keys import new_key
from roboshop.user.store import SigningKeyStore, UserStore

STAN = User("5d0f1b1e2a3c4b5d6e7f8091", "stan", "stan@instana.com", "$argon2id$v=19$m=19456,t=2,p=1$aGFzaA$c3Rhbg")
CART = {
    "total": 2036.2,
    "tax": 339.36666666666656,
    "items": [
        {"qty": 1, "sku": "Watson", "name": "Watson", "price": 2001, "subtotal": 2001},
        {"qty": 1, "sku": "SHIP", "name": "shipping to Ísland Reykjavík", "price": 35.2, "subtotal": 35.2},
    ],
}


async def test_the_anonymous_counter_starts_at_one_and_counts_up(user_store: UserStore) -> None:
    assert [await user_store.next_anonymous_number() for _ in range(3)] == [1, 2, 3]


async def test_the_anonymous_counter_never_hands_out_a_number_twice_under_concurrency(user_store: UserStore) -> None:
    numbers = await asyncio.gather(*(user_store.next_anonymous_number() for _ in range(40)))
    assert sorted(numbers) == list(range(1, 41))


async def test_a_user_is_stored_and_found_by_name_and_by_id(user_store: UserStore) -> None:
    assert await user_store.add_user(STAN)
    assert await user_store.user("stan") == STAN
    assert await user_store.user_by_object_id(STAN.object_id) == STAN
    assert await user_store.user("nobody") is None
    assert await user_store.user_by_object_id("0" * 24) is None


async def test_a_taken_name_is_refused_and_the_first_user_kept(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    impostor = User("aaaaaaaaaaaaaaaaaaaaaaaa", "stan", "evil@example.com", "$argon2id$other")
    assert not await user_store.add_user(impostor)
    assert await user_store.user("stan") == STAN


async def test_names_compare_exactly(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    for other in ("Stan", "STAN", "stan ", " stan", "n" * 200):
        assert await user_store.user(other) is None
    assert await user_store.add_user(User("bbbbbbbbbbbbbbbbbbbbbbbb", "Stan", "big@instana.com", "$argon2id$x"))
    found = await user_store.user("Stan")
    assert found is not None
    assert found.email == "big@instana.com"


async def test_a_password_hash_can_be_replaced(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    await user_store.replace_password_hash("stan", "$argon2id$stronger")
    found = await user_store.user("stan")
    assert found is not None
    assert found.password_hash == "$argon2id$stronger"
    await user_store.replace_password_hash("nobody", "$argon2id$ignored")
    assert await user_store.user("nobody") is None


async def test_orders_are_appended_in_order_with_their_carts_unchanged(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    assert await user_store.add_order("stan", Order("order-1", CART))
    assert await user_store.add_order("stan", Order("order-2", {"total": 0, "items": []}))
    assert await user_store.history("stan") == [Order("order-1", CART), Order("order-2", {"total": 0, "items": []})]


async def test_an_order_for_an_unknown_user_is_refused(user_store: UserStore) -> None:
    assert not await user_store.add_order("nobody", Order("order-1", CART))
    assert await user_store.history("nobody") == []


async def test_recording_an_order_again_changes_nothing(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    await user_store.add_order("stan", Order("order-1", CART))
    assert await user_store.add_order("stan", Order("order-1", {"total": 1}))
    assert await user_store.history("stan") == [Order("order-1", CART)]


async def test_concurrent_orders_are_all_kept(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    await asyncio.gather(*(user_store.add_order("stan", Order(f"order-{n}", {"n": n})) for n in range(30)))
    history = await user_store.history("stan")
    assert sorted(order.orderid for order in history) == sorted(f"order-{n}" for n in range(30))


async def test_histories_are_kept_per_user(user_store: UserStore) -> None:
    await user_store.add_user(STAN)
    await user_store.add_user(User("cccccccccccccccccccccccc", "user", "user@me.com", "$argon2id$u"))
    await user_store.add_order("stan", Order("order-1", {"who": "stan"}))
    await user_store.add_order("user", Order("order-1", {"who": "user"}))
    assert await user_store.history("user") == [Order("order-1", {"who": "user"})]
    assert await user_store.history("stan") == [Order("order-1", {"who": "stan"})]


async def test_signing_keys_are_kept_exactly_and_listed_by_generation(key_store: SigningKeyStore) -> None:
    second = new_key(2, now=2000, activates_at=2100, passphrase=b"secret")
    first = new_key(1, now=1000, activates_at=1000, passphrase=None)
    assert await key_store.add_signing_key(second)
    assert await key_store.add_signing_key(first)
    assert await key_store.signing_keys() == [first, second]


async def test_a_signing_key_generation_is_taken_once(key_store: SigningKeyStore) -> None:
    winner = new_key(1, now=1000, activates_at=1000, passphrase=None)
    loser = new_key(1, now=1000, activates_at=1000, passphrase=None)
    results = await asyncio.gather(key_store.add_signing_key(winner), key_store.add_signing_key(loser))
    assert sorted(results) == [False, True]
    assert len(await key_store.signing_keys()) == 1


async def test_signing_keys_can_be_removed(key_store: SigningKeyStore) -> None:
    keys = [new_key(generation, now=1000, activates_at=1000, passphrase=None) for generation in (1, 2, 3)]
    for key in keys:
        await key_store.add_signing_key(key)
    await key_store.remove_signing_keys([])
    await key_store.remove_signing_keys([keys[0].kid, keys[1].kid, "unknown"])
    assert await key_store.signing_keys() == [keys[2]]
