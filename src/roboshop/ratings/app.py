"""The ratings service's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.kit.app import create_service_app
from roboshop.kit.database import store_lifespan
from roboshop.ratings.api import router
from roboshop.ratings.products import PeerProductCatalogue, ProductCatalogue
from roboshop.ratings.settings import RatingsSettings
from roboshop.ratings.store import RatingStore, SqlRatingStore, UnreachableRatingStore

RECONNECT_INTERVAL_S = 2.0


def create_app(
    settings: RatingsSettings,
    *,
    store: RatingStore | None = None,
    catalogue: ProductCatalogue | None = None,
) -> FastAPI:
    """Ratings over ``settings.database_url`` and the catalogue service; ``store``/``catalogue`` replace them."""

    async def open_store(engine: AsyncEngine) -> RatingStore:
        return SqlRatingStore(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The kit's lifespan has started the peer client before this one runs.
        app.state.catalogue = catalogue or PeerProductCatalogue(app.state.peers)
        # Start anyway and report the database on /_health until it can be reached.
        async with store_lifespan(
            app,
            settings,
            service="ratings",
            open_store=open_store,
            unreachable=UnreachableRatingStore(),
            given=store,
            retry_s=RECONNECT_INTERVAL_S,
        ):
            yield

    app = create_service_app(
        settings,
        routers=[router],
        lifespan=lifespan,
        title="RoboShop ratings",
        description="Product ratings as a running average (Robot Shop compatible).",
    )
    return app
