"""The ratings app over real databases: restarts, and a database that is down at start-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

import roboshop.ratings.app as ratings_app
from roboshop.ratings.app import create_app
from roboshop.ratings.products import InMemoryProductCatalogue
from roboshop.ratings.settings import RatingsSettings


@asynccontextmanager
async def ratings(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # The catalogue is not what these tests are about: a fake one knows Watson.
    app = create_app(RatingsSettings(database_url=database_url), catalogue=InMemoryProductCatalogue(["Watson"]))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ratings") as client,
    ):
        yield client


async def test_ratings_survive_a_restart(database_url: str) -> None:
    async with ratings(database_url) as client:
        assert (await client.put("/api/rate/Watson/2")).status_code == 200
    async with ratings(database_url) as client:
        assert (await client.put("/api/rate/Watson/3")).status_code == 200
        fetched = await client.get("/api/fetch/Watson")
    assert fetched.json() == {"avg_rating": 2.5, "rating_count": 2}


async def test_with_its_database_unreachable_ratings_starts_and_reports_it() -> None:
    # Nothing listens on port 1 of the loopback: connections are refused at once.
    async with ratings("mysql://root@127.0.0.1:1/nowhere") as client:
        health = await client.get("/_health")
        ready = await client.get("/ready")
        fetched = await client.get("/api/fetch/Watson")
        rated = await client.put("/api/rate/Watson/5")
    assert (health.status_code, health.json()) == (400, {"pdo_connectivity": False})
    assert ready.status_code == 503
    assert (fetched.status_code, fetched.text) == (500, "database not available")
    assert (rated.status_code, rated.text) == (500, "database not available")


@pytest.mark.integration
async def test_ratings_recovers_once_its_database_appears(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratings_app, "RECONNECT_INTERVAL_S", 0.1)
    admin_url, _, name = postgres_url.rpartition("/")
    late = f"{name}_late"
    try:
        async with ratings(f"{admin_url}/{late}") as client:
            assert (await client.get("/_health")).status_code == 400
            admin = await asyncpg.connect(postgres_url)
            try:
                await admin.execute(f'CREATE DATABASE "{late}"')
            finally:
                await admin.close()
            deadline = time.monotonic() + 15
            while (await client.get("/_health")).status_code != 200:
                assert time.monotonic() < deadline, "ratings never reached its database"
                await asyncio.sleep(0.05)
            rated = await client.put("/api/rate/Watson/4")
            fetched = await client.get("/api/fetch/Watson")
        assert rated.status_code == 200
        assert fetched.json() == {"avg_rating": 4.0, "rating_count": 1}
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{late}" WITH (FORCE)')
        finally:
            await admin.close()
