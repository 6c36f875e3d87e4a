"""The real data set: GeoNames' cities of 15,000+ people and ISO 3166 names, seeded into a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roboshop.kit.db import create_engine, migrate
from roboshop.shipping.domain import Geography, by_name
from roboshop.shipping.seed import world_geography
from roboshop.shipping.store import SqlShippingStore

LONDON_GB = 2643743


@pytest.fixture(scope="module")
def world() -> Geography:
    return world_geography()


@pytest.fixture
async def seeded(database_url: str, world: Geography) -> AsyncIterator[SqlShippingStore]:
    engine = create_engine(database_url)
    try:
        await migrate(engine, "roboshop.shipping.migrations", service="shipping")
        store = SqlShippingStore(engine)
        assert await store.seed(lambda: world) is True
        yield store
    finally:
        await engine.dispose()


def test_the_world_has_every_sizeable_city_and_only_countries_with_cities(world: Geography) -> None:
    assert 30_000 < len(world.cities) < 40_000
    assert 200 < len(world.countries) < 250
    codes = {country.code for country in world.countries}
    assert codes == {city.code for city in world.cities}
    assert all(len(code) == 2 and code.isupper() for code in codes)


def test_the_same_data_gives_the_same_ids(world: Geography) -> None:
    again = world_geography()
    assert [(city.uuid, city.name) for city in again.cities] == [(city.uuid, city.name) for city in world.cities]
    assert again.countries == world.countries
    assert len({city.uuid for city in world.cities}) == len(world.cities)
    assert len({country.uuid for country in world.countries}) == len(world.countries)


def test_every_city_has_a_lower_case_ascii_name_to_match(world: Geography) -> None:
    assert all(city.city and city.city.isascii() and city.city == city.city.lower() for city in world.cities)
    assert all(len(city.name) <= 100 and len(city.region) <= 100 for city in world.cities)


def test_countries_have_their_iso_names_and_kosovo_its_geonames_one(world: Geography) -> None:
    by_code = {country.code: country.name for country in world.countries}
    assert by_code["GB"] == "United Kingdom"
    assert by_code["DE"] == "Germany"
    assert by_code["KR"] == "South Korea"
    assert by_code["XK"] == "Kosovo"


async def test_seeding_the_world_keeps_every_city_and_country(seeded: SqlShippingStore, world: Geography) -> None:
    assert await seeded.city_count() == len(world.cities)
    assert await seeded.countries() == by_name(world.countries)


async def test_london_is_in_great_britain(seeded: SqlShippingStore) -> None:
    london = await seeded.city(LONDON_GB)
    assert london is not None
    assert london.to_wire() == {
        "uuid": LONDON_GB,
        "code": "GB",
        "city": "london",
        "name": "London",
        "region": "ENG",
        "latitude": 51.50853,
        "longitude": -0.12574,
    }
    assert london in await seeded.cities_starting("GB", "london", limit=11)
    assert london in await seeded.cities_in("GB")


async def test_names_in_any_script_survive_the_database(seeded: SqlShippingStore, world: Geography) -> None:
    vietnam = {city.uuid: city for city in world.cities if city.code == "VN"}
    stored = {city.uuid: city for city in await seeded.cities_in("VN")}
    assert stored == vietnam
    assert any(not city.name.isascii() for city in stored.values())
