"""The catalogue's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.catalogue.api import router
from roboshop.catalogue.cache import CachedProductStore
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.catalogue.store import ProductStore, SqlProductStore, UnreachableProductStore
from roboshop.kit.app import create_service_app
from roboshop.kit.database import store_lifespan

RECONNECT_INTERVAL_S = 2.0


def create_app(settings: CatalogueSettings, *, store: ProductStore | None = None) -> FastAPI:
    """The catalogue over ``settings.database_url``, or over ``store`` when one is given (tests)."""

    async def open_store(engine: AsyncEngine) -> ProductStore:
        database = SqlProductStore(engine)
        return CachedProductStore(database, settings.cache_ttl_s) if settings.cache_ttl_s > 0 else database

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Like Robot Shop, start anyway and answer 500 until the database can be reached.
        async with store_lifespan(
            app,
            settings,
            service="catalogue",
            open_store=open_store,
            unreachable=UnreachableProductStore(),
            given=store,
            retry_s=RECONNECT_INTERVAL_S,
        ):
            yield

    app = create_service_app(
        settings,
        routers=[router],
        lifespan=lifespan,
        title="RoboShop catalogue",
        description="Products, categories and search (Robot Shop compatible).",
    )
    return app
