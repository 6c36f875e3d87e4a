from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from roboshop.kit.errors import PeerError, PeerTimeout, PeerUnavailable
from roboshop.ratings.app import create_app
from roboshop.ratings.products import InMemoryProductCatalogue
from roboshop.ratings.settings import RatingsSettings
from roboshop.ratings.store import InMemoryRatingStore, RatingStore, UnreachableRatingStore

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
SEED_SKUS = ["Watson", "Ewooid", "HPTD", "UHJ", "EPE", "EMM", "SHCE", "RED", "RMC", "STAN-1", "CNA"]


@pytest.fixture
def catalogue() -> InMemoryProductCatalogue:
    return InMemoryProductCatalogue(SEED_SKUS)


@pytest.fixture
def store() -> InMemoryRatingStore:
    return InMemoryRatingStore()


@pytest.fixture
def ratings(catalogue: InMemoryProductCatalogue, store: InMemoryRatingStore) -> ClientFactory:
    """A ratings app over the fakes (or the given ones), with its lifespan running."""

    @asynccontextmanager
    async def start(
        rating_store: RatingStore | None = None,
        product_catalogue: InMemoryProductCatalogue | None = None,
        **settings: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            RatingsSettings(**settings),
            store=rating_store or store,
            catalogue=product_catalogue or catalogue,
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ratings") as client,
        ):
            yield client

    return start


async def test_health_reports_pdo_connectivity(ratings: ClientFactory) -> None:
    async with ratings() as client:
        response = await client.get("/_health")
    assert (response.status_code, response.json()) == (200, {"pdo_connectivity": True})


async def test_health_is_400_when_the_database_is_down(ratings: ClientFactory) -> None:
    async with ratings(UnreachableRatingStore()) as client:
        response = await client.get("/_health")
    assert (response.status_code, response.json()) == (400, {"pdo_connectivity": False})


async def test_readiness_follows_the_database(ratings: ClientFactory) -> None:
    async with ratings() as client:
        assert (await client.get("/ready")).status_code == 200
    async with ratings(UnreachableRatingStore()) as client:
        assert (await client.get("/ready")).status_code == 503


async def test_an_unrated_product_has_zero_average_and_zero_votes(ratings: ClientFactory) -> None:
    async with ratings() as client:
        response = await client.get("/api/fetch/Watson")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{"avg_rating":0,"rating_count":0}'


async def test_an_unknown_product_fetches_like_an_unrated_one(ratings: ClientFactory) -> None:
    async with ratings() as client:
        response = await client.get("/api/fetch/no-such-robot")
    assert (response.status_code, response.json()) == (200, {"avg_rating": 0, "rating_count": 0})


async def test_rating_a_product_keeps_a_running_average(ratings: ClientFactory) -> None:
    async with ratings() as client:
        for score in (5, 4, 4):
            response = await client.put(f"/api/rate/Watson/{score}")
            assert (response.status_code, response.json()) == (200, {"success": True})
        fetched = await client.get("/api/fetch/Watson")
        other = await client.get("/api/fetch/RMC")
    assert fetched.json() == {"avg_rating": 4.33, "rating_count": 3}
    assert other.json() == {"avg_rating": 0, "rating_count": 0}


async def test_scores_are_clamped_to_one_to_five(ratings: ClientFactory) -> None:
    async with ratings() as client:
        assert (await client.put("/api/rate/RMC/0")).status_code == 200
        assert (await client.put("/api/rate/RMC/-3")).status_code == 200
        assert (await client.get("/api/fetch/RMC")).json() == {"avg_rating": 1.0, "rating_count": 2}
        assert (await client.put("/api/rate/EPE/42")).status_code == 200
        assert (await client.get("/api/fetch/EPE")).json() == {"avg_rating": 5.0, "rating_count": 1}


@pytest.mark.parametrize("score", ["abc", "2.5", "4stars", "%20", "1" * 31])
async def test_a_score_that_is_not_a_whole_number_is_400_and_changes_nothing(
    ratings: ClientFactory, store: InMemoryRatingStore, catalogue: InMemoryProductCatalogue, score: str
) -> None:
    async with ratings() as client:
        response = await client.put(f"/api/rate/Watson/{score}")
    assert (response.status_code, response.text) == (400, "score must be a whole number")
    assert await store.rating("Watson") is None
    assert catalogue.asked == []


async def test_rating_an_unknown_sku_is_404_and_changes_nothing(
    ratings: ClientFactory, store: InMemoryRatingStore, catalogue: InMemoryProductCatalogue
) -> None:
    async with ratings() as client:
        response = await client.put("/api/rate/watson/5")
    assert (response.status_code, response.text) == (404, "SKU not found")
    assert catalogue.asked == ["watson"]
    assert await store.rating("watson") is None


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (PeerError("could not reach catalogue"), 502),
        (PeerUnavailable("no healthy instance of service 'catalogue'"), 503),
        (PeerTimeout("catalogue did not answer in time"), 504),
    ],
)
async def test_when_the_catalogue_cannot_tell_the_rating_fails_with_its_peer_status(
    ratings: ClientFactory, store: InMemoryRatingStore, failure: PeerError, status: int
) -> None:
    broken = InMemoryProductCatalogue(SEED_SKUS, failure=failure)
    async with ratings(product_catalogue=broken) as client:
        response = await client.put("/api/rate/Watson/5")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == str(failure)
    assert await store.rating("Watson") is None


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/fetch/Watson"), ("PUT", "/api/rate/Watson/5")])
async def test_a_database_outage_is_500_with_a_text_body(ratings: ClientFactory, method: str, path: str) -> None:
    async with ratings(UnreachableRatingStore()) as client:
        response = await client.request(method, path)
    assert (response.status_code, response.text) == (500, "database not available")


@pytest.mark.parametrize(
    ("method", "path", "text"),
    [
        ("GET", "/api/fetch/" + "x" * 101, "sku is too long: at most 100 characters"),
        ("PUT", "/api/rate/" + "x" * 101 + "/5", "sku is too long: at most 100 characters"),
        ("GET", "/api/fetch/Wat%00son", "sku must not contain control characters"),
        ("PUT", "/api/rate/Wat%0Dson/5", "sku must not contain control characters"),
    ],
)
async def test_absurd_skus_are_400_with_a_clear_text(
    ratings: ClientFactory, catalogue: InMemoryProductCatalogue, method: str, path: str, text: str
) -> None:
    async with ratings() as client:
        response = await client.request(method, path)
    assert (response.status_code, response.text) == (400, text)
    assert catalogue.asked == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/rate/Watson/5", 405),
        ("POST", "/api/rate/Watson/5", 405),
        ("PUT", "/api/rate/Watson", 404),
        ("GET", "/api/fetch/", 404),
        ("GET", "/nowhere", 404),
        ("PUT", "/api/rate/Watson/5/extra", 404),
    ],
)
async def test_bad_requests_get_a_4xx_never_a_5xx(
    ratings: ClientFactory, store: InMemoryRatingStore, method: str, path: str, status: int
) -> None:
    async with ratings() as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert await store.rating("Watson") is None


async def test_an_oversized_body_is_413_and_changes_nothing(ratings: ClientFactory, store: InMemoryRatingStore) -> None:
    async with ratings(max_body_bytes=1024) as client:
        response = await client.put("/api/rate/Watson/5", content=b"x" * 4096)
    assert response.status_code == 413
    assert await store.rating("Watson") is None


def test_settings_use_the_ratings_prefix_and_a_local_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBOSHOP_RATINGS_DATABASE_URL", raising=False)
    settings = RatingsSettings()
    assert (settings.service_name, settings.database_url) == ("ratings", "sqlite:///./.roboshop/ratings.db")
    monkeypatch.setenv("ROBOSHOP_RATINGS_DATABASE_URL", "mysql://ratings@db/ratings")
    assert RatingsSettings().database_url == "mysql://ratings@db/ratings"
