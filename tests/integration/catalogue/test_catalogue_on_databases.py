"""The catalogue app over real databases: migrations, restarts, and a database that is down at start-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

import roboshop.catalogue.app as catalogue_app
from roboshop.catalogue.app import create_app
from roboshop.catalogue.settings import CatalogueSettings


@asynccontextmanager
async def catalogue(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CatalogueSettings(database_url=database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://catalogue") as client,
    ):
        yield client


async def test_the_catalogue_serves_the_seed_from_every_database(database_url: str) -> None:
    async with catalogue(database_url) as client:
        products = (await client.get("/products")).json()
        stan = await client.get("/product/STAN-1")
        robots = await client.get("/products/Robot")
        found = await client.get("/search/robot")
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert len(products) == 11
    assert stan.json()["categories"] == ["Robot", "Artificial Intelligence"]
    assert [p["name"] for p in robots.json()][:2] == [
        "Cybernated Neutralization Android",
        "Exceptional Medical Machine",
    ]
    assert [p["sku"] for p in found.json()] == ["RMC"]
    assert health.json() == {"app": "OK", "mongo": True}
    assert ready.status_code == 200


async def test_a_restart_migrates_nothing_twice_and_keeps_the_ids(database_url: str) -> None:
    async with catalogue(database_url) as client:
        first = (await client.get("/products")).json()
    async with catalogue(database_url) as client:
        second = (await client.get("/products")).json()
    assert second == first
    assert len(second) == 11


@pytest.fixture(params=["postgres_url", "mariadb_url"])
def server_database_url(request: pytest.FixtureRequest) -> str:
    """A database on a server. (Replicas on one SQLite file are separate processes: see the process tests.)"""
    request.applymarker(pytest.mark.integration)
    url: str = request.getfixturevalue(request.param)
    return url


async def test_replicas_starting_together_migrate_once(server_database_url: str) -> None:
    async def products_seen_by_a_replica() -> int:
        async with catalogue(server_database_url) as client:
            return len((await client.get("/products")).json())

    assert await asyncio.gather(*(products_seen_by_a_replica() for _ in range(3))) == [11, 11, 11]


async def test_with_its_database_unreachable_the_catalogue_starts_and_answers_500() -> None:
    # Nothing listens on port 1 of the loopback: connections are refused at once.
    async with catalogue("postgresql://postgres@127.0.0.1:1/nowhere") as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
        products = await client.get("/products")
        product = await client.get("/product/Watson")
    assert (health.status_code, health.json()) == (200, {"app": "OK", "mongo": False})
    assert ready.status_code == 503
    assert (products.status_code, products.text) == (500, "database not avaiable")
    assert (product.status_code, product.text) == (500, "database not available")


@pytest.mark.integration
async def test_the_catalogue_recovers_once_its_database_appears(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalogue_app, "RECONNECT_INTERVAL_S", 0.1)
    admin_url, _, name = postgres_url.rpartition("/")
    late = f"{name}_late"
    try:
        async with catalogue(f"{admin_url}/{late}") as client:
            assert (await client.get("/products")).status_code == 500
            admin = await asyncpg.connect(postgres_url)
            try:
                await admin.execute(f'CREATE DATABASE "{late}"')
            finally:
                await admin.close()
            deadline = time.monotonic() + 15
            while (await client.get("/ready")).status_code != 200:
                assert time.monotonic() < deadline, "the catalogue never reached its database"
                await asyncio.sleep(0.05)
            products = await client.get("/products")
        assert products.status_code == 200
        assert len(products.json()) == 11
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{late}" WITH (FORCE)')
        finally:
            await admin.close()
