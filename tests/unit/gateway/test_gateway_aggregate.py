"""GET /api/products/{sku}/details: the product, its rating and its stock, asked concurrently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiohttp import web

from .conftest import MakeSettings
from .servers import WebServer, running_gateway, unused_port

WATSON = {"sku": "Watson", "name": "Watson", "price": 2001, "instock": 2, "categories": ["Artificial Intelligence"]}
DELAY_S = 0.3


def catalogue_app() -> web.Application:
    async def product(request: web.Request) -> web.Response:
        await asyncio.sleep(DELAY_S)
        if request.match_info["sku"] != "Watson":
            return web.Response(status=404, text="SKU not found")
        return web.json_response(WATSON)

    app = web.Application()
    app.router.add_get("/product/{sku}", product)
    return app


def ratings_app(*, failing: bool = False) -> web.Application:
    async def fetch(request: web.Request) -> web.Response:
        await asyncio.sleep(DELAY_S)
        if failing:
            return web.Response(status=500, text="database error")
        return web.json_response({"avg_rating": 4.5, "rating_count": 2})

    app = web.Application()
    app.router.add_get("/api/fetch/{sku}", fetch)
    return app


@asynccontextmanager
async def gateway_over(make_settings: MakeSettings, peers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_gateway(make_settings(peers=peers)) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
    ):
        yield client


async def test_details_combine_product_rating_and_stock_fetched_concurrently(make_settings: MakeSettings) -> None:
    async with (
        WebServer(catalogue_app()) as catalogue,
        WebServer(ratings_app()) as ratings,
        gateway_over(make_settings, {"catalogue": catalogue.url, "ratings": ratings.url}) as client,
    ):
        started = time.monotonic()
        response = await client.get("/api/products/Watson/details")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json() == {
        "product": WATSON,
        "rating": {"avg_rating": 4.5, "rating_count": 2},
        "stock": {"instock": 2, "available": True},
    }
    assert elapsed < 2 * DELAY_S  # both asked at once, not one after the other


async def test_details_without_ratings_are_partial_but_still_200(make_settings: MakeSettings) -> None:
    async with WebServer(catalogue_app()) as catalogue, WebServer(ratings_app(failing=True)) as ratings:
        async with gateway_over(make_settings, {"catalogue": catalogue.url, "ratings": ratings.url}) as client:
            failing = await client.get("/api/products/Watson/details")
        async with gateway_over(
            make_settings, {"catalogue": catalogue.url, "ratings": f"http://127.0.0.1:{unused_port()}"}
        ) as client:
            down = await client.get("/api/products/Watson/details")
    for response in (failing, down):
        assert response.status_code == 200
        body = response.json()
        assert body["product"] == WATSON
        assert body["rating"] is None
        assert body["partial"] is True
    assert failing.json()["errors"] == {"rating": "ratings answered 500"}
    assert down.json()["errors"] == {"rating": "could not reach ratings"}


async def test_details_of_an_unknown_sku_are_404_and_without_the_catalogue_502(make_settings: MakeSettings) -> None:
    async with WebServer(catalogue_app()) as catalogue, WebServer(ratings_app()) as ratings:
        async with gateway_over(make_settings, {"catalogue": catalogue.url, "ratings": ratings.url}) as client:
            unknown = await client.get("/api/products/Robbie/details")
            posted = await client.post("/api/products/Watson/details")
        async with gateway_over(
            make_settings, {"catalogue": f"http://127.0.0.1:{unused_port()}", "ratings": ratings.url}
        ) as client:
            no_catalogue = await client.get("/api/products/Watson/details")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "SKU not found")
    assert posted.status_code == 405
    assert no_catalogue.status_code == 502
    assert no_catalogue.headers["content-type"] == "application/problem+json"
