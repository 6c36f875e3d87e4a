"""The fuzzed services, and fakes for their peers: a catalogue over HTTP for cart, a cart for shipping, a small
geography."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web
from fastapi import FastAPI

from roboshop.cart.app import create_app as create_cart
from roboshop.cart.settings import CartSettings
from roboshop.catalogue.app import create_app as create_catalogue
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.ratings.app import create_app as create_ratings
from roboshop.ratings.settings import RatingsSettings
from roboshop.shipping.app import create_app as create_shipping
from roboshop.shipping.domain import City, Country, Geography, ascii_city_name
from roboshop.shipping.settings import ShippingSettings
from roboshop.user.app import create_app as create_user
from roboshop.user.settings import UserSettings

# Each service's app as its OpenAPI description is read (settings do not change the routes).
APPS: dict[str, Callable[[], FastAPI]] = {
    "user": lambda: create_user(UserSettings()),
    "cart": lambda: create_cart(CartSettings()),
    "shipping": lambda: create_shipping(ShippingSettings()),
    "catalogue": lambda: create_catalogue(CatalogueSettings()),
    "ratings": lambda: create_ratings(RatingsSettings()),
}

IN_STOCK = "Watson"
OUT_OF_STOCK = "EMM"
CATALOGUE_PRODUCTS: dict[str, dict[str, Any]] = {
    IN_STOCK: {
        "_id": "5f1e2a3b4c5d6e7f80910111",
        "sku": IN_STOCK,
        "name": "Watson",
        "description": "Probably the smartest AI on the planet",
        "price": 2001,
        "instock": 2,
        "categories": ["Artificial Intelligence"],
    },
    OUT_OF_STOCK: {
        "_id": "5f1e2a3b4c5d6e7f80910112",
        "sku": OUT_OF_STOCK,
        "name": "Eve",
        "description": "Extraterrestrial Vegetation Evaluator",
        "price": 5000,
        "instock": 0,
        "categories": ["Robot"],
    },
}
RATED_SKUS = ("Watson", "EMM", "STAN-1")

LONDON_ID = 2643743
KNOWN_CART = "anonymous-1"


@asynccontextmanager
async def fake_catalogue(products: dict[str, dict[str, Any]]) -> AsyncIterator[str]:
    """The catalogue's ``GET /product/{sku}`` for ``products``, served on a free 127.0.0.1 port; yields its URL."""

    async def product(request: web.Request) -> web.Response:
        found = products.get(request.match_info["sku"])
        if found is None:
            return web.Response(status=404, text="SKU not found", content_type="text/html")
        return web.Response(body=orjson.dumps(found), content_type="application/json")

    app = web.Application()
    app.router.add_get("/product/{sku}", product)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class FakeCartService:
    """Shipping's cart port: one known cart takes a well-formed shipping line; every other call changes nothing.

    Its state (the lines it took) is part of what a rejected ``/confirm`` must leave alone.
    """

    def __init__(self, carts: tuple[str, ...] = (KNOWN_CART,)) -> None:
        self.carts = carts
        self.taken: list[tuple[str, Any]] = []

    async def add_shipping(self, cart_id: str, shipping: Any) -> bytes | None:
        if cart_id not in self.carts or not isinstance(shipping, dict):
            return None
        if not {"distance", "cost", "location"} <= shipping.keys():
            return None
        self.taken.append((cart_id, shipping))
        line = {"qty": 1, "sku": "SHIP", "name": f"shipping to {shipping['location']}", "price": shipping["cost"]}
        return orjson.dumps({"total": shipping["cost"], "tax": 0, "items": [{**line, "subtotal": shipping["cost"]}]})

    def state(self) -> object:
        return list(self.taken)


def _city(uuid: int, code: str, name: str, latitude: float, longitude: float, region: str) -> City:
    return City(uuid, code, ascii_city_name(name), name, region, latitude, longitude)


def small_geography() -> Geography:
    """A few countries and cities: enough for every route to find something, fast to seed."""
    countries = (
        Country(2635167, "GB", "United Kingdom"),
        Country(6252001, "US", "United States"),
        Country(2921044, "DE", "Germany"),
    )
    cities = (
        _city(LONDON_ID, "GB", "London", 51.514125, -0.093689, "ENG"),
        _city(2643734, "GB", "Londonderry County Borough", 54.99721, -7.30917, "NIR"),
        _city(5128581, "US", "New York City", 40.7141667, -74.0063889, "NY"),
        _city(5391811, "US", "San Diego", 32.71571, -117.16472, "CA"),
        _city(2934246, "DE", "Düsseldorf", 51.22172, 6.77616, "07"),
    )
    return Geography(countries=countries, cities=cities, source="fuzz tests")
