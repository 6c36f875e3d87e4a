"""The user service on a real database, several replicas sharing it: ids, names, seeds and keys stay right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from roboshop.user.app import create_app, open_database, signing_keys_for
from roboshop.user.passwords import PasswordHasher
from roboshop.user.seed import SEED_USERS, seed_users
from roboshop.user.settings import UserSettings
from roboshop.user.store import SqlSigningKeyStore, SqlUserStore
from roboshop.user.tokens import COOKIE_NAME, TokenVerifier

REPLICAS = 2
CALLS = 40


@dataclass
class Replica:
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def replicas(database_url: str, count: int = REPLICAS) -> AsyncIterator[list[Replica]]:
    """``count`` instances of the user service on one database, each with a client.

    They start one after the other: ``kit.db.migrate`` waits for SQLite's migration file lock without
    yielding to the event loop, so two apps migrating at once in one process would wait on each other for
    ever. Replicas in separate processes start together in ``test_user_process.py``; the start-up steps
    that race (first key, seed users) race in-process below, without the migration.
    """
    async with AsyncExitStack() as stack:
        apps = [create_app(UserSettings(database_url=database_url)) for _ in range(count)]
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield [
            Replica(
                app,
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://user.test")
                ),
            )
            for app in apps
        ]


async def test_parallel_uniqueid_calls_on_several_replicas_give_distinct_ids(database_url: str) -> None:
    async with replicas(database_url) as shop:
        responses = await asyncio.gather(*(shop[n % REPLICAS].client.get("/uniqueid") for n in range(CALLS)))
    assert all(response.status_code == 200 for response in responses)
    ids = [response.json()["uuid"] for response in responses]
    assert sorted(ids, key=lambda i: int(i.removeprefix("anonymous-"))) == [
        f"anonymous-{n}" for n in range(1, CALLS + 1)
    ]


async def test_the_anonymous_counter_survives_a_restart(database_url: str) -> None:
    async with replicas(database_url, count=1) as (replica,):
        client = replica.client
        for _ in range(3):
            await client.get("/uniqueid")
    async with replicas(database_url, count=1) as (replica,):
        client = replica.client
        assert (await client.get("/uniqueid")).json() == {"uuid": "anonymous-4"}


async def test_replicas_share_one_key_set_and_one_set_of_seed_users(database_url: str) -> None:
    async with replicas(database_url, count=3) as shop:
        jwks = [(await each.client.get("/.well-known/jwks.json")).json() for each in shop]
        logins = [await each.client.post("/login", json={"name": "stan", "password": "bigbrain"}) for each in shop]
    assert len(jwks[0]["keys"]) == 1
    assert jwks[0] == jwks[1] == jwks[2]
    assert all(login.status_code == 200 for login in logins)
    assert len({login.json()["_id"] for login in logins}) == 1


async def test_start_up_steps_racing_on_an_empty_database_create_one_key_and_each_seed_user_once(
    database_url: str,
) -> None:
    settings = UserSettings(database_url=database_url)
    engine = await open_database(settings)
    hasher = PasswordHasher(workers=2)
    await hasher.start()
    try:
        users = SqlUserStore(engine)
        key_sets = [signing_keys_for(settings, SqlSigningKeyStore(engine)) for _ in range(3)]
        await asyncio.gather(*(keys.start() for keys in key_sets), *(seed_users(users, hasher) for _ in range(3)))
        stored_keys = await SqlSigningKeyStore(engine).signing_keys()
        seeded = [await users.user(name) for name, _, _ in SEED_USERS]
        tokens = [await keys.issue(["user"]) for keys in key_sets]
        jwks = await key_sets[0].jwks()
    finally:
        await hasher.close()
        await engine.dispose()
    assert len(stored_keys) == 1
    assert all(user is not None for user in seeded)
    assert all(TokenVerifier(jwks).verify(token).subject == "user" for token in tokens)


async def test_a_restart_does_not_hash_the_seed_users_again(database_url: str) -> None:
    async with replicas(database_url, count=1) as (replica,):
        client = replica.client
        first_id = (await client.post("/login", json={"name": "user", "password": "password"})).json()["_id"]
    async with replicas(database_url, count=1) as (replica,):
        client = replica.client
        again = await client.post("/login", json={"name": "user", "password": "password"})
    assert again.json()["_id"] == first_id


async def test_one_of_many_concurrent_registrations_of_a_name_wins(database_url: str) -> None:
    body = {"name": "robofan", "email": "robofan@robots.example", "password": "correct horse"}
    async with replicas(database_url) as shop:
        responses = await asyncio.gather(*(shop[n % REPLICAS].client.post("/register", json=body) for n in range(6)))
    outcomes = sorted((response.status_code, response.text) for response in responses)
    assert outcomes == [(200, "OK")] + [(400, "name already exists")] * 5


async def test_concurrent_orders_from_payment_are_all_in_the_history(database_url: str) -> None:
    async with replicas(database_url) as shop:
        responses = await asyncio.gather(
            *(
                shop[n % REPLICAS].client.post("/order/user", json={"orderid": f"order-{n}", "cart": {"total": n}})
                for n in range(20)
            )
        )
        assert all(response.status_code == 200 for response in responses)
        history = (await shop[0].client.get("/history/user")).json()["history"]
    assert sorted(entry["orderid"] for entry in history) == sorted(f"order-{n}" for n in range(20))


async def test_a_session_from_one_replica_is_honoured_by_another_across_a_key_rotation(database_url: str) -> None:
    async with replicas(database_url) as (one, other):
        first, second = one.client, other.client
        before = (await first.get("/uniqueid")).cookies[COOKIE_NAME]
        await one.app.state.services.keys.rotate()
        after = (await first.get("/uniqueid", headers={"Authorization": f"Bearer {before}"})).cookies[COOKIE_NAME]
        # The second replica has not reloaded its keys yet, and still knows the new one at once.
        response = await second.post(
            "/login", json={"name": "user", "password": "password"}, headers={"Authorization": f"Bearer {after}"}
        )
        jwks = (await second.get("/.well-known/jwks.json")).json()
    verifier = TokenVerifier(jwks)
    assert len(jwks["keys"]) == 2
    assert verifier.verify(before).identities == ("anonymous-1",)
    assert verifier.verify(response.cookies[COOKIE_NAME]).identities == ("anonymous-1", "anonymous-2", "user")


async def test_health_and_readiness_report_the_database_answering(database_url: str) -> None:
    async with replicas(database_url, count=1) as (replica,):
        client = replica.client
        assert (await client.get("/health")).json() == {"app": "OK", "mongo": True}
        ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_start_up_migrates_creates_a_key_and_seeds_the_users(database_url: str) -> None:
    # Start-up time is measured by `make bench`; here only that a fresh database ends up ready to log in.
    app = create_app(UserSettings(database_url=database_url))
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://user") as client,
    ):
        login = await client.post("/login", json={"name": "partner-57", "password": "worktogether"})
    assert login.status_code == 200
