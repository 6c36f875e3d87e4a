"""One contract for every RatingStore: the in-memory fake and the SQL adapter on each backend."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from roboshop.kit.db import create_engine, migrate
from roboshop.ratings.domain import UNRATED, Rating
from roboshop.ratings.store import InMemoryRatingStore, RatingStore, SqlRatingStore

CONCURRENT_RATES = 40


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
async def store(backend: str | None) -> AsyncIterator[RatingStore]:
    if backend is None:
        yield InMemoryRatingStore()
        return
    engine = create_engine(backend, pool_size=10)
    try:
        await migrate(engine, "roboshop.ratings.migrations", service="ratings")
        yield SqlRatingStore(engine)
    finally:
        await engine.dispose()


async def test_nobody_has_rated_a_new_product(store: RatingStore) -> None:
    assert await store.rating("Watson") is None


async def test_a_first_score_is_the_average(store: RatingStore) -> None:
    await store.rate("Watson", 4)
    assert await store.rating("Watson") == Rating(Decimal("4.00"), 1)


async def test_scores_fold_into_a_running_average_rounded_to_the_cent(store: RatingStore) -> None:
    for score in (5, 4, 4):
        await store.rate("STAN-1", score)
    assert await store.rating("STAN-1") == Rating(Decimal("4.33"), 3)
    await store.rate("STAN-1", 5)  # (4.33 * 3 + 5) / 4 = 4.4975, stored half up
    assert await store.rating("STAN-1") == Rating(Decimal("4.50"), 4)


async def test_a_long_sequence_of_scores_matches_the_domains_arithmetic(store: RatingStore) -> None:
    rng = random.Random(42)
    expected = UNRATED
    for _ in range(60):
        score = rng.randint(1, 5)
        expected = expected.with_score(score)
        await store.rate("RMC", score)
    assert await store.rating("RMC") == expected


async def test_each_sku_has_its_own_rating_and_skus_compare_exactly(store: RatingStore) -> None:
    await store.rate("Watson", 5)
    await store.rate("watson", 1)
    await store.rate("Watson ", 3)
    await store.rate("Ü-bot", 2)
    assert await store.rating("Watson") == Rating(Decimal("5.00"), 1)
    assert await store.rating("watson") == Rating(Decimal("1.00"), 1)
    assert await store.rating("Watson ") == Rating(Decimal("3.00"), 1)
    assert await store.rating("Ü-bot") == Rating(Decimal("2.00"), 1)
    assert await store.rating("EPE") is None


async def test_a_sku_of_a_hundred_characters_can_be_rated(store: RatingStore) -> None:
    sku = "x" * 100
    await store.rate(sku, 3)
    assert await store.rating(sku) == Rating(Decimal("3.00"), 1)


async def test_concurrent_rates_of_a_new_product_all_count(store: RatingStore) -> None:
    await asyncio.gather(*(store.rate("HPTD", 4) for _ in range(CONCURRENT_RATES)))
    assert await store.rating("HPTD") == Rating(Decimal("4.00"), CONCURRENT_RATES)


async def test_concurrent_mixed_rates_all_count(store: RatingStore) -> None:
    await store.rate("CNA", 3)
    await asyncio.gather(*(store.rate("CNA", 1 + i % 5) for i in range(CONCURRENT_RATES)))
    rating = await store.rating("CNA")
    assert rating is not None
    assert rating.count == CONCURRENT_RATES + 1
    assert Decimal(1) <= rating.average <= Decimal(5)


async def test_a_store_that_answers_pings(store: RatingStore) -> None:
    await store.ping()
