"""One contract for every ProductStore: the in-memory fake and the SQL adapter on each backend.

The SQL stores are seeded by the migrations; the fake by ``SEED_PRODUCTS``. Both must hold exactly the
products of Robot Shop's seed, as the wire contract lists them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roboshop.catalogue.domain import Product, parse_search
from roboshop.catalogue.store import InMemoryProductStore, ProductStore, SqlProductStore
from roboshop.kit.db import create_engine, migrate

AI = "Artificial Intelligence"
# sku, name, description, price, instock, categories: ROBOSHOP-API.md "Catalogue products", in order.
ROBOT_SHOP_SEED = [
    ("Watson", "Watson", "Probably the smartest AI on the planet", 2001, 2, [AI]),
    ("Ewooid", "Ewooid", "Fully sentient assistant", 200, 0, [AI]),
    (
        "HPTD",
        "High-Powered Travel Droid",
        "Traveling to the far reaches of the Galaxy? You need this for protection. "
        "Comes in handy when you are lost in space",
        1200,
        12,
        ["Robot"],
    ),
    ("UHJ", "Ultimate Harvesting Juggernaut", "Extraterrestrial vegetation harvester", 5000, 10, ["Robot"]),
    ("EPE", "Extreme Probe Emulator", "Versatile interface adapter for hacking into systems", 953, 1, ["Robot"]),
    (
        "EMM",
        "Exceptional Medical Machine",
        "Fully automatic surgery droid with exceptional bedside manner",
        1024,
        1,
        ["Robot"],
    ),
    ("SHCE", "Strategic Human Control Emulator", "Diplomatic protocol assistant", 300, 12, ["Robot"]),
    ("RED", "Responsive Enforcer Droid", "Security detail, will gaurd anything", 700, 5, ["Robot"]),
    (
        "RMC",
        "Robotic Mining Cyborg",
        "Excellent tunneling capability to get those rare minerals",
        42,
        48,
        ["Robot"],
    ),
    ("STAN-1", "Stan", "Observability guru", 67, 1000, ["Robot", AI]),
    (
        "CNA",
        "Cybernated Neutralization Android",
        "Is your spaceship a bit whiffy? This little fellow will bring a breath of fresh air",
        1000,
        0,
        ["Robot"],
    ),
]
STABLE_IDS = {
    "Watson": "586846807f97cc4f40000001",
    "STAN-1": "586846807f97cc4f4000000a",
    "CNA": "586846807f97cc4f4000000b",
}


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the fake, else a fresh database URL per backend, as the ``database_url`` fixture gives them."""
    if request.param == "memory":
        return None
    if request.param != "sqlite":
        request.applymarker(pytest.mark.integration)
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def store(backend: str | None) -> AsyncIterator[ProductStore]:
    if backend is None:
        yield InMemoryProductStore.seeded()
        return
    engine = create_engine(backend)
    try:
        await migrate(engine, "roboshop.catalogue.migrations", service="catalogue")
        yield SqlProductStore(engine)
    finally:
        await engine.dispose()


def row(product: Product) -> tuple[object, ...]:
    return (product.sku, product.name, product.description, product.price, product.instock, list(product.categories))


def skus(products: list[Product]) -> list[str]:
    return [product.sku for product in products]


async def test_the_catalogue_holds_exactly_robot_shops_seed_in_natural_order(store: ProductStore) -> None:
    products = await store.all_products()
    assert [row(p) for p in products] == [tuple(seed) for seed in ROBOT_SHOP_SEED]


async def test_every_product_has_its_own_stable_mongo_style_id(store: ProductStore) -> None:
    products = await store.all_products()
    ids = [p.id for p in products]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    assert {p.sku: p.id for p in products if p.sku in STABLE_IDS} == STABLE_IDS
    assert [p.id for p in await store.all_products()] == ids


async def test_a_product_is_found_by_its_exact_sku(store: ProductStore) -> None:
    stan = await store.product("STAN-1")
    assert stan is not None
    assert row(stan) == ("STAN-1", "Stan", "Observability guru", 67, 1000, ["Robot", AI])
    assert stan.id == STABLE_IDS["STAN-1"]


async def test_a_sku_that_differs_in_any_way_is_not_found(store: ProductStore) -> None:
    for sku in ["stan-1", "STAN-1 ", " STAN-1", "STAN", "nope", "Ü"]:
        assert await store.product(sku) is None, sku


async def test_a_category_lists_its_products_sorted_by_name(store: ProductStore) -> None:
    assert skus(await store.in_category(AI)) == ["Ewooid", "STAN-1", "Watson"]
    assert skus(await store.in_category("Robot")) == [
        "CNA",
        "EMM",
        "EPE",
        "HPTD",
        "RED",
        "RMC",
        "STAN-1",
        "SHCE",
        "UHJ",
    ]


async def test_a_category_that_differs_in_any_way_is_empty(store: ProductStore) -> None:
    for category in ["robot", "Robot ", "Toasters", ""]:
        assert await store.in_category(category) == [], category


async def test_categories_are_listed_once_each_and_sorted(store: ProductStore) -> None:
    assert await store.categories() == [AI, "Robot"]


SEARCHES = {
    "robot": ["RMC"],
    "ROBOTS": ["RMC"],
    "guru": ["STAN-1"],
    "AI": ["Watson"],
    "droid": ["HPTD", "EMM", "RED"],
    "droid -security": ["HPTD", "EMM"],
    "travelling galaxy": ["HPTD"],
    "harvest": ["UHJ"],
    "sentient cyborg": ["Ewooid", "RMC"],
    "high-powered": ["HPTD"],
    "gaurd": ["RED"],
    "guard": [],
    "intelligent": [],
    "the you this": [],
    "-droid": [],
    "'; DROP TABLE products; --": [],
}


async def test_search_answers_the_same_on_every_store(store: ProductStore) -> None:
    found = {text: skus(await store.search(parse_search(text))) for text in SEARCHES}
    assert found == SEARCHES


async def test_search_returns_whole_products(store: ProductStore) -> None:
    [stan] = await store.search(parse_search("observability"))
    assert stan == await store.product("STAN-1")


async def test_a_store_that_answers_pings(store: ProductStore) -> None:
    await store.ping()
