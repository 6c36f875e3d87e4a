"""The shipping service's app factory: migrate, seed the countries and cities once, serve."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.kit.app import create_service_app
from roboshop.kit.database import store_lifespan
from roboshop.shipping.api import router
from roboshop.shipping.cart import CartService, PeerCartService
from roboshop.shipping.domain import Geography, HeapBallast
from roboshop.shipping.seed import world_geography
from roboshop.shipping.settings import ShippingSettings
from roboshop.shipping.store import ShippingStore, SqlShippingStore, UnreachableShippingStore

log = logging.getLogger("roboshop.shipping")

RECONNECT_INTERVAL_S = 2.0


def create_app(
    settings: ShippingSettings,
    *,
    store: ShippingStore | None = None,
    cart: CartService | None = None,
    geography: Callable[[], Geography] = world_geography,
) -> FastAPI:
    """Shipping over ``settings.database_url`` (seeded from ``geography`` when empty) and the cart service.

    ``store`` and ``cart`` replace them (tests).
    """

    async def open_store(engine: AsyncEngine) -> ShippingStore:
        database = SqlShippingStore(engine)
        await database.seed(geography)
        return database

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The kit's lifespan has started the peer client before this one runs.
        app.state.cart = cart or PeerCartService(app.state.peers)
        app.state.ballast = HeapBallast(settings.memory_chunk_mib, settings.memory_max_mib)
        # Start anyway and answer 500 until the database can be reached (the original retried its data source
        # too): the service does not crash-loop while its database is still starting.
        async with store_lifespan(
            app,
            settings,
            service="shipping",
            open_store=open_store,
            unreachable=UnreachableShippingStore(),
            given=store,
            retry_s=RECONNECT_INTERVAL_S,
        ):
            yield

    app = create_service_app(
        settings,
        routers=[router],
        lifespan=lifespan,
        title="RoboShop shipping",
        description="Countries, cities, shipping distance and cost (Robot Shop compatible).",
    )
    return app
