"""Ratings against a real catalogue served over HTTP, and a real database on every backend."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from roboshop.catalogue.app import create_app as create_catalogue
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.kit.discovery import StaticDiscovery
from roboshop.kit.errors import PeerError
from roboshop.kit.peer import PeerClient
from roboshop.ratings.app import create_app as create_ratings
from roboshop.ratings.products import InMemoryProductCatalogue, PeerProductCatalogue, ProductCatalogue
from roboshop.ratings.settings import RatingsSettings

CONCURRENT_RATES = 30
START_DEADLINE_S = 10.0
SEED_SKUS = ["Watson", "Ewooid", "HPTD", "UHJ", "EPE", "EMM", "SHCE", "RED", "RMC", "STAN-1", "CNA"]
# SKUs that only reach the catalogue intact if they are quoted on the way.
NOT_IN_THE_CATALOGUE = [
    "watson",
    "Watson ",
    "no such robot",
    "Ü-bot",
    "STAN-1?x=1",
    "STAN-1#top",
    "%57atson",
    "STAN-1%2Fx",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + START_DEADLINE_S
    while not server.started:
        assert not task.done(), "the server failed to start"
        assert time.monotonic() < deadline, "the server did not start in time"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def catalogue_url(tmp_path: Path) -> AsyncIterator[str]:
    app = create_catalogue(CatalogueSettings(database_url=f"sqlite:///{tmp_path / 'catalogue.db'}"))
    async with serving(app) as url:
        yield url


@asynccontextmanager
async def ratings(database_url: str, catalogue_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = RatingsSettings(database_url=database_url, peers={"catalogue": catalogue_url})
    app = create_ratings(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ratings") as client,
    ):
        yield client


async def test_a_product_the_catalogue_knows_is_rated_on_every_database(database_url: str, catalogue_url: str) -> None:
    async with ratings(database_url, catalogue_url) as client:
        for score in (5, 4, 9):
            response = await client.put(f"/api/rate/STAN-1/{score}")
            assert (response.status_code, response.json()) == (200, {"success": True})
        fetched = await client.get("/api/fetch/STAN-1")
        health = await client.get("/_health")
    assert fetched.json() == {"avg_rating": 4.67, "rating_count": 3}
    assert (health.status_code, health.json()) == (200, {"pdo_connectivity": True})


async def test_a_sku_the_catalogue_does_not_know_is_404_and_never_rated(sqlite_url: str, catalogue_url: str) -> None:
    async with ratings(sqlite_url, catalogue_url) as client:
        for sku in NOT_IN_THE_CATALOGUE:
            path_sku = quote(sku, safe="")
            response = await client.put(f"/api/rate/{path_sku}/5")
            assert (response.status_code, response.text) == (404, "SKU not found"), sku
            fetched = await client.get(f"/api/fetch/{path_sku}")
            assert fetched.json() == {"avg_rating": 0, "rating_count": 0}, sku


async def test_concurrent_rates_through_http_all_count_on_every_database(database_url: str, catalogue_url: str) -> None:
    async with ratings(database_url, catalogue_url) as client:
        responses = await asyncio.gather(*(client.put("/api/rate/RMC/3") for _ in range(CONCURRENT_RATES)))
        fetched = await client.get("/api/fetch/RMC")
    assert [r.status_code for r in responses] == [200] * CONCURRENT_RATES
    assert fetched.json() == {"avg_rating": 3.0, "rating_count": CONCURRENT_RATES}


async def test_with_the_catalogue_down_a_rating_fails_as_a_bad_gateway_and_changes_nothing(
    sqlite_url: str,
) -> None:
    async with ratings(sqlite_url, f"http://127.0.0.1:{free_port()}") as client:
        response = await client.put("/api/rate/Watson/5")
        fetched = await client.get("/api/fetch/Watson")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "could not reach catalogue" in response.json()["detail"]
    assert fetched.json() == {"avg_rating": 0, "rating_count": 0}


@pytest.fixture(params=["memory", "peer"])
async def product_catalogue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ProductCatalogue]:
    """The fake, then the adapter asking a real catalogue: they must agree."""
    if request.param == "memory":
        yield InMemoryProductCatalogue(SEED_SKUS)
        return
    app = create_catalogue(CatalogueSettings(database_url=f"sqlite:///{tmp_path / 'catalogue.db'}"))
    async with serving(app) as url:
        peers = PeerClient(StaticDiscovery({"catalogue": url}))
        await peers.start()
        try:
            yield PeerProductCatalogue(peers)
        finally:
            await peers.close()


async def test_the_product_catalogue_knows_exactly_the_seed_skus(product_catalogue: ProductCatalogue) -> None:
    for sku in SEED_SKUS:
        assert await product_catalogue.has_product(sku), sku
    for sku in NOT_IN_THE_CATALOGUE:
        assert not await product_catalogue.has_product(sku), sku


async def test_the_peer_catalogue_raises_a_peer_error_when_nobody_answers() -> None:
    peers = PeerClient(StaticDiscovery({"catalogue": f"http://127.0.0.1:{free_port()}"}))
    await peers.start()
    try:
        with pytest.raises(PeerError, match="could not reach catalogue"):
            await PeerProductCatalogue(peers).has_product("Watson")
    finally:
        await peers.close()
