"""The cart service driven in-process through ASGI, with its lifespan running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from roboshop.cart.app import create_app
from roboshop.cart.settings import CartSettings
from roboshop.cart.store import CartStore


@dataclass
class Shop:
    app: FastAPI
    client: httpx.AsyncClient
    store: CartStore

    def items_added(self) -> float:
        registry: CollectorRegistry = self.app.state.metrics.registry
        return registry.get_sample_value("items_added_total") or 0.0


@asynccontextmanager
async def running_shop(settings: CartSettings, store: CartStore | None = None) -> AsyncIterator[Shop]:
    """The service over ``store``, or over the store ``settings.store_url`` names when none is given."""
    app = create_app(settings, store=store)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cart") as client,
    ):
        yield Shop(app, client, app.state.store)
