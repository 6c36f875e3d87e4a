"""Fixtures for shipping's API tests: the app over the in-memory store, and a fake cart service on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web

from roboshop.shipping.app import create_app
from roboshop.shipping.settings import ShippingSettings
from roboshop.shipping.store import InMemoryShippingStore, ShippingStore
from tests.unit.shipping.fakes import ClientFactory, FakeCart
from tests.unit.shipping.geography import GEOGRAPHY


@pytest.fixture
async def fake_cart() -> AsyncIterator[FakeCart]:
    cart = FakeCart()
    app = web.Application()
    app.router.add_post("/shipping/{id}", cart.add_shipping)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    cart.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield cart
    finally:
        await runner.cleanup()


@pytest.fixture
def shipping(fake_cart: FakeCart) -> ClientFactory:
    """A shipping app over a store (the fake, seeded with the test geography) that reaches ``fake_cart``."""

    @asynccontextmanager
    async def start(store: ShippingStore | None = None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings.setdefault("peers", {"cart": fake_cart.url})
        app = create_app(ShippingSettings(**settings), store=store or InMemoryShippingStore.with_geography(GEOGRAPHY))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://shipping") as client,
        ):
            yield client

    return start
