"""Fixtures for the user service on real databases (SQLite always; PostgreSQL and MariaDB when reachable)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.user.app import open_database
from roboshop.user.settings import UserSettings
from roboshop.user.store import (
    InMemorySigningKeyStore,
    InMemoryUserStore,
    SigningKeyStore,
    SqlSigningKeyStore,
    SqlUserStore,
    UserStore,
)


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the in-memory fakes, else a fresh database on that backend."""
    kind = request.param
    if kind == "memory":
        return None
    if kind != "sqlite":
        request.applymarker(pytest.mark.integration)
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}[kind]
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def engine(backend_url: str | None) -> AsyncIterator[AsyncEngine | None]:
    if backend_url is None:
        yield None
        return
    engine = await open_database(UserSettings(database_url=backend_url))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def user_store(engine: AsyncEngine | None) -> UserStore:
    """Every adapter of the UserStore port, the fake included: the contract suite runs against each."""
    return InMemoryUserStore() if engine is None else SqlUserStore(engine)


@pytest.fixture
def key_store(engine: AsyncEngine | None) -> SigningKeyStore:
    """Every adapter of the SigningKeyStore port, the fake included."""
    return InMemorySigningKeyStore() if engine is None else SqlSigningKeyStore(engine)
