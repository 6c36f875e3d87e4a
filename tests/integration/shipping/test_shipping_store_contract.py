"""One contract for every ShippingStore: the in-memory fake and the SQL adapter on SQLite, PostgreSQL, MariaDB.

Each store is seeded with the same small geography (``tests/unit/shipping/geography.py``) and must answer
every question alike; the test of the real data set is ``test_shipping_seed.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from roboshop.kit.db import create_engine, migrate
from roboshop.shipping.domain import City, Geography
from roboshop.shipping.store import InMemoryShippingStore, ShippingStore, SqlShippingStore
from tests.unit.shipping.geography import CITIES, GEOGRAPHY, LONDON_ID

BACKENDS = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}


def small_geography() -> Geography:
    return GEOGRAPHY


def must_not_load() -> Geography:
    raise AssertionError("a seeded store must not load the geography again")


@pytest.fixture(params=["memory", *BACKENDS])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the fake, then a fresh database on each backend (same servers and marks as ``database_url``)."""
    if request.param == "memory":
        return None
    if request.param != "sqlite":
        request.applymarker(pytest.mark.integration)
    url: str = request.getfixturevalue(BACKENDS[request.param])
    return url


@pytest.fixture
async def empty_store(store_url: str | None) -> AsyncIterator[ShippingStore]:
    if store_url is None:
        yield InMemoryShippingStore()
        return
    engine = create_engine(store_url)
    try:
        await migrate(engine, "roboshop.shipping.migrations", service="shipping")
        yield SqlShippingStore(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def store(empty_store: ShippingStore) -> ShippingStore:
    assert await empty_store.seed(small_geography) is True
    return empty_store


def names(cities: list[City]) -> list[str]:
    return [city.name for city in cities]


async def test_seeding_fills_an_empty_store_once(empty_store: ShippingStore) -> None:
    assert await empty_store.seed(small_geography) is True
    assert await empty_store.seed(must_not_load) is False
    assert await empty_store.city_count() == len(CITIES)


async def test_the_city_count_is_every_seeded_city(store: ShippingStore) -> None:
    assert await store.city_count() == len(CITIES)


async def test_countries_are_sorted_by_name_with_accents_ignored(store: ShippingStore) -> None:
    countries = await store.countries()
    assert [country.name for country in countries] == [
        "Åland Islands",
        "Albania",
        "Germany",
        "Morocco",
        "Poland",
        "United Kingdom",
        "United States",
        "Vietnam",
    ]
    assert countries[5].to_wire() == {"uuid": 2635167, "code": "GB", "name": "United Kingdom"}


async def test_a_country_lists_all_its_cities_by_id(store: ShippingStore) -> None:
    found = await store.cities_in("GB")
    assert [city.uuid for city in found] == [2643696, 2643697, 2643734, LONDON_ID, 2653822]
    assert found[3] == next(city for city in CITIES if city.uuid == LONDON_ID)


@pytest.mark.parametrize("code", ["gb", "G", "GBR", "ZZ", "", "G%"])
async def test_a_code_that_is_not_exactly_a_seeded_one_lists_nothing(store: ShippingStore, code: str) -> None:
    assert await store.cities_in(code) == []


async def test_a_city_is_found_by_id_with_exact_coordinates(store: ShippingStore) -> None:
    london = await store.city(LONDON_ID)
    assert london is not None
    assert london.to_wire() == {
        "uuid": LONDON_ID,
        "code": "GB",
        "city": "london",
        "name": "London",
        "region": "ENG",
        "latitude": 51.514125,
        "longitude": -0.093689,
    }


@pytest.mark.parametrize("uuid", [0, -1, 1, 2**63 - 1, -(2**63)])
async def test_an_unknown_city_id_is_none(store: ShippingStore, uuid: int) -> None:
    assert await store.city(uuid) is None


async def test_names_outside_latin1_keep_every_letter(store: ShippingStore) -> None:
    [city] = await store.cities_in("VN")
    assert (city.name, city.city) == ("Bồ Đề", "bo de")
    [lodz] = await store.cities_in("PL")
    assert (lodz.name, lodz.city) == ("Łódź", "lodz")


async def test_cities_starting_with_a_prefix_come_in_name_order(store: ShippingStore) -> None:
    found = await store.cities_starting("GB", "lon", limit=11)
    assert names(found) == ["London", "Londonderry County Borough", "Long Eaton", "Longfield"]


async def test_a_prefix_match_stays_inside_its_country(store: ShippingStore) -> None:
    assert await store.cities_starting("DE", "lon", limit=11) == []
    assert names(await store.cities_starting("DE", "dus", limit=11)) == ["Düsseldorf"]


async def test_a_prefix_match_returns_at_most_the_limit(store: ShippingStore) -> None:
    found = await store.cities_starting("US", "san", limit=11)
    assert names(found) == [
        "San Angelo",
        "San Antonio",
        "San Bernardino",
        "San Diego",
        "San Francisco",
        "San Jose",
        "San Leandro",
        "San Marcos",
        "San Mateo",
        "San Rafael",
        "Sanford",
    ]
    assert names(await store.cities_starting("US", "san", limit=3)) == ["San Angelo", "San Antonio", "San Bernardino"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("100%", ["100% Town"]),
        ("100", ["100% Town", "1000 Oaks"]),
        ("under_", ["Under_score"]),
        ("under", ["Under_score", "Underscore"]),
        ("%", []),
        ("_", []),
        ("lon'", []),
        ("'; drop table cities; --", []),
        ("\\", []),
    ],
)
async def test_wildcards_in_a_prefix_are_taken_literally(
    store: ShippingStore, prefix: str, expected: list[str]
) -> None:
    assert names(await store.cities_starting("US", prefix, limit=11)) == expected


async def test_a_prefix_match_ignores_case(store: ShippingStore) -> None:
    assert await store.cities_starting("GB", "LoN", limit=11) == await store.cities_starting("GB", "lon", limit=11)


async def test_a_store_that_answers_pings(store: ShippingStore) -> None:
    await store.ping()


@pytest.fixture(params=list(BACKENDS))
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param != "sqlite":
        request.applymarker(pytest.mark.integration)
    url: str = request.getfixturevalue(BACKENDS[request.param])
    return url


async def test_replicas_starting_together_seed_exactly_once(backend_url: str) -> None:
    replicas = [create_engine(backend_url) for _ in range(3)]
    try:
        await migrate(replicas[0], "roboshop.shipping.migrations", service="shipping")
        stores = [SqlShippingStore(engine) for engine in replicas]
        seeded = await asyncio.gather(*(store.seed(small_geography) for store in stores))
        assert sorted(seeded) == [False, False, True]
        assert [await store.city_count() for store in stores] == [len(CITIES)] * 3
    finally:
        for engine in replicas:
            await engine.dispose()
