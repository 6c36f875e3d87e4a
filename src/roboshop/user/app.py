"""The user service's app factory: the one place its parts are put together."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.kit.app import add_readiness_check, create_service_app
from roboshop.kit.db import create_engine, migrate
from roboshop.user.api import Services, UserMetrics, router
from roboshop.user.keys import SigningKeys
from roboshop.user.passwords import PasswordHasher
from roboshop.user.seed import seed_users
from roboshop.user.settings import UserSettings
from roboshop.user.store import SigningKeyStore, SqlSigningKeyStore, SqlUserStore, UserStore


def create_app(
    settings: UserSettings,
    *,
    users: UserStore | None = None,
    keys: SigningKeyStore | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The user service over ``settings.database_url``, or over the given stores (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine: AsyncEngine | None = None
        hasher = PasswordHasher(workers=settings.password_hash_workers)
        try:
            if users is not None and keys is not None:
                user_store, key_store = users, keys
            else:
                engine = await open_database(settings)
                user_store = users or SqlUserStore(engine)
                key_store = keys or SqlSigningKeyStore(engine)
            signing_keys = signing_keys_for(settings, key_store, clock=clock)
            await hasher.start()
            await signing_keys.start()
            await seed_users(user_store, hasher)
            app.state.services = Services(user_store, signing_keys, hasher, settings, metrics)
            yield
        finally:
            await hasher.close()
            if engine is not None:
                await engine.dispose()

    app = create_service_app(
        settings,
        routers=[router],
        lifespan=lifespan,
        title="RoboShop user",
        description="Users, sessions and order history (Robot Shop compatible); publishes the session JWKS.",
    )
    metrics = UserMetrics(app.state.metrics.registry)

    async def database_answers() -> None:
        await app.state.services.users.ping()

    add_readiness_check(app, "database", database_answers)
    return app


async def open_database(settings: UserSettings) -> AsyncEngine:
    """The engine of the user database, its schema migrated to the newest revision."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    try:
        await migrate(engine, "roboshop.user.migrations", service="user")
    except BaseException:
        await engine.dispose()
        raise
    return engine


def signing_keys_for(
    settings: UserSettings, store: SigningKeyStore, *, clock: Callable[[], float] = time.time
) -> SigningKeys:
    passphrase = settings.key_passphrase.get_secret_value().encode() if settings.key_passphrase else None
    return SigningKeys(
        store,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        token_ttl_s=settings.token_ttl_s,
        grace_s=settings.key_grace_s,
        passphrase=passphrase,
        reload_interval_s=settings.key_reload_interval_s,
        clock=clock,
    )
