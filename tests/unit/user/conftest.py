"""Fixtures for the user service's unit tests: fakes behind the store ports, a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from roboshop.user.app import create_app
from roboshop.user.settings import UserSettings
from roboshop.user.store import InMemorySigningKeyStore, InMemoryUserStore

from .support import FakeClock, Shop


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> UserSettings:
    return UserSettings(database_url="sqlite:///unused-by-unit-tests.db", key_reload_interval_s=30)


@pytest.fixture
async def shop(settings: UserSettings, clock: FakeClock) -> AsyncIterator[Shop]:
    users, keys = InMemoryUserStore(), InMemorySigningKeyStore()
    app = create_app(settings, users=users, keys=keys, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://user.test") as client:
            yield Shop(app, client, users, keys, clock)
