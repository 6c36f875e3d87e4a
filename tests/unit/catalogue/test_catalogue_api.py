from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from roboshop.catalogue.app import create_app
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.catalogue.store import InMemoryProductStore, ProductStore, UnreachableProductStore

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

WATSON = {
    "_id": "586846807f97cc4f40000001",
    "sku": "Watson",
    "name": "Watson",
    "description": "Probably the smartest AI on the planet",
    "price": 2001,
    "instock": 2,
    "categories": ["Artificial Intelligence"],
}


@pytest.fixture
def catalogue() -> ClientFactory:
    """A catalogue app over a store (the seeded fake by default), with its lifespan running."""

    @asynccontextmanager
    async def start(store: ProductStore | None = None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(CatalogueSettings(**settings), store=store or InMemoryProductStore.seeded())
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://catalogue") as client,
        ):
            yield client

    return start


def skus(response: httpx.Response) -> list[str]:
    return [product["sku"] for product in response.json()]


async def test_health_reports_the_database_in_robot_shops_shape(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"app": "OK", "mongo": True}


async def test_health_stays_200_when_the_database_is_down(catalogue: ClientFactory) -> None:
    async with catalogue(UnreachableProductStore()) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"app": "OK", "mongo": False}


async def test_readiness_follows_the_database(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        assert (await client.get("/ready")).status_code == 200
    async with catalogue(UnreachableProductStore()) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("failing")


async def test_products_lists_the_seed_in_natural_order(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        response = await client.get("/products")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert skus(response) == ["Watson", "Ewooid", "HPTD", "UHJ", "EPE", "EMM", "SHCE", "RED", "RMC", "STAN-1", "CNA"]
    assert response.json()[0] == WATSON


async def test_a_product_is_found_by_its_sku(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        response = await client.get("/product/Watson")
    assert response.status_code == 200
    assert response.text == (
        '{"_id":"586846807f97cc4f40000001","sku":"Watson","name":"Watson",'
        '"description":"Probably the smartest AI on the planet","price":2001,"instock":2,'
        '"categories":["Artificial Intelligence"]}'
    )


async def test_an_unknown_sku_is_404_with_robot_shops_text(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        response = await client.get("/product/watson")
    assert response.status_code == 404
    assert response.text == "SKU not found"
    assert response.headers["content-type"].startswith("text/html")


async def test_a_category_lists_its_products_sorted_by_name(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        robots = await client.get("/products/Robot")
        minds = await client.get("/products/Artificial Intelligence")
    assert [p["name"] for p in robots.json()] == [
        "Cybernated Neutralization Android",
        "Exceptional Medical Machine",
        "Extreme Probe Emulator",
        "High-Powered Travel Droid",
        "Responsive Enforcer Droid",
        "Robotic Mining Cyborg",
        "Stan",
        "Strategic Human Control Emulator",
        "Ultimate Harvesting Juggernaut",
    ]
    assert skus(minds) == ["Ewooid", "STAN-1", "Watson"]


async def test_an_unknown_category_is_an_empty_list(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        unknown = await client.get("/products/Toasters")
        wrong_case = await client.get("/products/robot")
    assert (unknown.status_code, unknown.json()) == (200, [])
    assert (wrong_case.status_code, wrong_case.json()) == (200, [])


async def test_categories_are_sorted(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        response = await client.get("/categories")
    assert response.status_code == 200
    assert response.json() == ["Artificial Intelligence", "Robot"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("robot", ["RMC"]),
        ("guru", ["STAN-1"]),
        ("AI", ["Watson"]),
        ("droids", ["HPTD", "EMM", "RED"]),
        ("droid -security", ["HPTD", "EMM"]),
        ("emulators assistant", ["Ewooid", "EPE", "SHCE"]),
        ("intelligent", []),
        ("the", []),
    ],
)
async def test_search_finds_products_by_any_word_of_name_or_description(
    catalogue: ClientFactory, text: str, expected: list[str]
) -> None:
    async with catalogue() as client:
        response = await client.get(f"/search/{text}")
    assert response.status_code == 200
    assert skus(response) == expected


async def test_go_slow_delays_the_product_page_only(catalogue: ClientFactory) -> None:
    async with catalogue(go_slow_ms=300) as client:
        started = time.perf_counter()
        assert (await client.get("/product/Watson")).status_code == 200
        slow = time.perf_counter() - started
        started = time.perf_counter()
        assert (await client.get("/products")).status_code == 200
        fast = time.perf_counter() - started
    assert slow >= 0.3
    assert fast < 0.3


def test_go_slow_is_read_from_the_prefixed_variable_before_robot_shops_plain_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GO_SLOW", "250")
    assert CatalogueSettings().go_slow_ms == 250
    monkeypatch.setenv("ROBOSHOP_CATALOGUE_GO_SLOW_MS", "40")
    assert CatalogueSettings().go_slow_ms == 40


def test_settings_default_to_a_local_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBOSHOP_CATALOGUE_DATABASE_URL", raising=False)
    settings = CatalogueSettings()
    assert (settings.service_name, settings.database_url) == ("catalogue", "sqlite:///./.roboshop/catalogue.db")
    monkeypatch.setenv("ROBOSHOP_CATALOGUE_DATABASE_URL", "postgresql://db/catalogue")
    assert CatalogueSettings().database_url == "postgresql://db/catalogue"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/products", "database not avaiable"),
        ("/products/Robot", "database not avaiable"),
        ("/product/Watson", "database not available"),
        ("/categories", "database not available"),
        ("/search/robot", "database not available"),
    ],
)
async def test_a_database_outage_is_500_with_robot_shops_text(catalogue: ClientFactory, path: str, text: str) -> None:
    async with catalogue(UnreachableProductStore()) as client:
        response = await client.get(path)
    assert response.status_code == 500
    assert response.text == text


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/product/" + "x" * 101, "sku is too long: at most 100 characters"),
        ("/product/Wat%00son", "sku must not contain control characters"),
        ("/products/" + "x" * 101, "category is too long: at most 100 characters"),
        ("/products/Robot%0A", "category must not contain control characters"),
        ("/search/" + "x" * 201, "search text is too long: at most 200 characters"),
    ],
)
async def test_absurd_path_parameters_are_400_with_a_clear_text(catalogue: ClientFactory, path: str, text: str) -> None:
    async with catalogue() as client:
        response = await client.get(path)
    assert response.status_code == 400
    assert response.text == text


async def test_the_longest_acceptable_search_is_answered(catalogue: ClientFactory) -> None:
    async with catalogue() as client:
        response = await client.get("/search/" + "guru " * 40)
    assert response.status_code == 200
    assert skus(response) == ["STAN-1"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/product/", 404),
        ("GET", "/product/a/b", 404),
        ("DELETE", "/product/Watson", 405),
        ("POST", "/products", 405),
        ("GET", "/search/%E2%9C%93%F0%9F%A4%96", 200),
        ("GET", "/search/%22%27%3B--", 200),
        ("GET", "/product/%27%20OR%201%3D1--", 404),
    ],
)
async def test_bad_requests_get_a_4xx_never_a_5xx(
    catalogue: ClientFactory, method: str, path: str, status: int
) -> None:
    async with catalogue() as client:
        response = await client.request(method, path)
    assert response.status_code == status


async def test_an_oversized_body_is_refused_with_413(catalogue: ClientFactory) -> None:
    async with catalogue(max_body_bytes=1024) as client:
        response = await client.post("/products", content=b"x" * 4096)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
