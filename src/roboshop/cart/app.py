"""The cart service's app factory: the composition root that picks the store from ``store_url``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import redis.asyncio
from fastapi import FastAPI
from prometheus_client import Counter

from roboshop.cart.api import router
from roboshop.cart.settings import CartSettings
from roboshop.cart.store import CartStore, RedisCartStore, SqlCartStore
from roboshop.kit.app import add_readiness_check, create_service_app
from roboshop.kit.db import create_engine, migrate

REDIS_TIMEOUT_S = 2.0
STORE_SCHEMES = ("sqlite", "redis", "rediss")


def create_app(settings: CartSettings, *, store: CartStore | None = None) -> FastAPI:
    """Carts in the store ``settings.store_url`` names, or in ``store`` when one is given (tests)."""
    scheme = urlsplit(settings.store_url).scheme
    if store is None and scheme not in STORE_SCHEMES:
        raise ValueError(f"store_url must be sqlite:///path or redis://host:port/db, not '{scheme}:...'")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            app.state.store = store
            yield
        elif scheme == "sqlite":
            async with _sqlite_store(settings) as opened:
                app.state.store = opened
                yield
        else:
            async with _redis_store(settings) as opened:
                app.state.store = opened
                yield

    app = create_service_app(
        settings,
        routers=[router],
        lifespan=lifespan,
        title="RoboShop cart",
        description="Shopping carts with tax-inclusive totals (Robot Shop compatible).",
    )
    app.state.items_added = Counter(
        "items_added", "running count of items added to cart", registry=app.state.metrics.registry
    )

    async def store_answers() -> None:
        await app.state.store.ping()

    add_readiness_check(app, "store", store_answers)
    return app


@asynccontextmanager
async def _sqlite_store(settings: CartSettings) -> AsyncIterator[SqlCartStore]:
    engine = create_engine(settings.store_url)
    try:
        await migrate(engine, "roboshop.cart.migrations", service="cart")
        yield SqlCartStore(engine, ttl_s=settings.cart_ttl_s)
    finally:
        await engine.dispose()


@asynccontextmanager
async def _redis_store(settings: CartSettings) -> AsyncIterator[RedisCartStore]:
    # Connections open on first use: the service starts while Redis is still starting, and says so on
    # /health and /ready until it answers.
    client = redis.asyncio.from_url(
        settings.store_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    try:
        yield RedisCartStore(client, ttl_s=settings.cart_ttl_s, key_prefix=settings.store_key_prefix)
    finally:
        await client.aclose()
