"""Rate limiting and API consumers at the gateway: 429 with the IETF headers, per address, consumer and route."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from roboshop.gateway.consumers import key_digest
from roboshop.gateway.ratelimit import Limit, build_limiter
from roboshop.gateway.routing import RouteTableError, parse_rate_limit, parse_route_table
from tests.support import require_server

from .conftest import MakeSettings
from .servers import shop_with, unused_port

LOADGEN_KEY = "loadgen-" + "k" * 32
PARTNER_KEY = "partner-" + "p" * 32
ROUTES = f"""
consumers:
  load-generator:
    key_sha256: {key_digest(LOADGEN_KEY)}
    rate_limit: 1000/minute
  partner:
    key_sha256: {key_digest(PARTNER_KEY)}
services:
  catalogue:
    routes:
      - {{methods: [GET], path: /products}}
      - {{methods: [GET], path: "/search/{{text}}", rate_limit: 2/minute}}
      - {{methods: [GET], path: /stock, auth: api_key}}
"""


@pytest.fixture
def limited_routes(tmp_path: Path) -> Path:
    path = tmp_path / "limited-routes.yaml"
    path.write_text(ROUTES)
    return path


async def test_an_address_over_its_limit_gets_429_with_retry_after_and_the_ratelimit_headers(
    make_settings: MakeSettings, limited_routes: Path
) -> None:
    async with shop_with(
        make_settings, "catalogue", routes_file=limited_routes, rate_limit_anonymous="5 per 10 seconds"
    ) as shop:
        answers = [await shop.client.get("/api/catalogue/products") for _ in range(7)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429] * 2
    refused = answers[5]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["ratelimit-policy"] == '"address";q=5;w=10'
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 20
    assert refused.headers["ratelimit"] == f'"address";r=0;t={retry_after}'
    assert "5 per 10 second" in refused.json()["detail"]
    assert len(shop.upstream.seen) == 5


async def test_a_route_limit_counts_per_caller_on_that_route_only(
    make_settings: MakeSettings, limited_routes: Path
) -> None:
    async with shop_with(make_settings, "catalogue", routes_file=limited_routes) as shop:
        searches = [await shop.client.get(f"/api/catalogue/search/robot{n}") for n in range(3)]
        other_route = await shop.client.get("/api/catalogue/products")
        as_consumer = await shop.client.get("/api/catalogue/search/robot", headers={"X-API-Key": PARTNER_KEY})
    assert [answer.status_code for answer in searches] == [200, 200, 429]
    assert searches[2].headers["ratelimit-policy"] == '"route";q=2;w=60'
    assert other_route.status_code == 200
    assert as_consumer.status_code == 200  # another caller, counted on its own


async def test_a_consumer_is_limited_by_its_own_limit_not_by_its_address(
    make_settings: MakeSettings, limited_routes: Path
) -> None:
    async with shop_with(
        make_settings, "catalogue", routes_file=limited_routes, rate_limit_anonymous="2/minute"
    ) as shop:
        anonymous = [(await shop.client.get("/api/catalogue/products")).status_code for _ in range(3)]
        loadgen = [
            (await shop.client.get("/api/catalogue/products", headers={"X-API-Key": LOADGEN_KEY})).status_code
            for _ in range(20)
        ]
        # Without a limit of its own a consumer gets the anonymous one, counted for the consumer alone.
        partner = [
            await shop.client.get("/api/catalogue/products", headers={"X-API-Key": PARTNER_KEY}) for _ in range(3)
        ]
    assert anonymous == [200, 200, 429]
    assert loadgen == [200] * 20
    assert [answer.status_code for answer in partner] == [200, 200, 429]
    assert partner[2].headers["ratelimit-policy"] == '"consumer";q=2;w=60'


async def test_an_api_key_route_admits_only_a_known_key(make_settings: MakeSettings, limited_routes: Path) -> None:
    async with shop_with(make_settings, "catalogue", routes_file=limited_routes) as shop:
        without = await shop.client.get("/api/catalogue/stock")
        wrong = await shop.client.get("/api/catalogue/stock", headers={"X-API-Key": "guessed"})
        wrong_elsewhere = await shop.client.get("/api/catalogue/products", headers={"X-API-Key": "guessed"})
        known = await shop.client.get("/api/catalogue/stock", headers={"X-API-Key": PARTNER_KEY})
    assert without.status_code == 401
    assert without.headers["www-authenticate"].startswith("ApiKey")
    assert without.json()["detail"] == "/api/catalogue/stock needs an API key: send X-API-Key"
    assert wrong.status_code == 401
    assert wrong_elsewhere.status_code == 401
    assert known.status_code == 200
    assert len(shop.upstream.seen) == 1
    assert shop.upstream.seen[0].header("x-api-key") == [PARTNER_KEY]


async def test_rate_limiting_can_be_switched_off(make_settings: MakeSettings, limited_routes: Path) -> None:
    async with shop_with(make_settings, "catalogue", routes_file=limited_routes, rate_limit_enabled=False) as shop:
        statuses = {(await shop.client.get("/api/catalogue/search/robot")).status_code for _ in range(5)}
    assert statuses == {200}


async def test_an_unreachable_redis_lets_requests_through(make_settings: MakeSettings, limited_routes: Path) -> None:
    storage = f"redis://127.0.0.1:{unused_port()}"
    async with shop_with(make_settings, "catalogue", routes_file=limited_routes, rate_limit_storage=storage) as shop:
        statuses = [(await shop.client.get("/api/catalogue/search/robot")).status_code for _ in range(4)]
    assert statuses == [200] * 4


@pytest.mark.integration
async def test_gateways_sharing_redis_share_their_counters() -> None:
    require_server("Redis", "127.0.0.1", 6379)
    first, second = build_limiter("redis://127.0.0.1:6379"), build_limiter("redis://127.0.0.1:6379")
    limit = Limit("address", parse_rate_limit("3/minute"))
    caller = ("address", f"test-{uuid.uuid4().hex}")
    try:
        results = [await limiter.hit(limit, caller) for limiter in (first, second, first, second)]
    finally:
        await first.close()
        await second.close()
    assert results[:3] == [None, None, None]
    assert results[3] is not None
    item, wait_s, remaining = results[3]
    assert (item.amount, remaining) == (3, 0)
    assert 0 < wait_s <= 120


async def test_concurrent_hits_never_exceed_the_limit() -> None:
    limiter = build_limiter("memory://")
    limit = Limit("address", parse_rate_limit("10/minute"))
    try:
        results = await asyncio.gather(*(limiter.hit(limit, ("address", "10.0.0.1")) for _ in range(50)))
    finally:
        await limiter.close()
    assert sum(result is None for result in results) == 10


@pytest.mark.parametrize(
    ("table", "where", "says"),
    [
        (
            {"services": {"catalogue": {"routes": [{"methods": ["GET"], "path": "/a", "rate_limit": "lots"}]}}},
            "services.catalogue.routes[0] (/a).rate_limit: ",
            "'lots' is not a rate limit",
        ),
        (
            {
                "services": {"catalogue": {"routes": [{"methods": ["GET"], "path": "/a"}]}},
                "consumers": {"partner": {"key_sha256": "the-key-itself"}},
            },
            "consumers.partner.key_sha256: ",
            "never the key itself",
        ),
        (
            {
                "services": {"catalogue": {"routes": [{"methods": ["GET"], "path": "/a"}]}},
                "consumers": {"partner": {"key_sha256": 1234e5}},
            },
            "consumers.partner.key_sha256: ",
            "quote the digest",
        ),
        (
            {
                "services": {"catalogue": {"routes": [{"methods": ["GET"], "path": "/a"}]}},
                "consumers": {"partner": {"key_sha256": key_digest("k"), "rate_limit": "0/second"}},
            },
            "consumers.partner.rate_limit: ",
            "is not a rate limit",
        ),
        (
            {
                "services": {"catalogue": {"routes": [{"methods": ["GET"], "path": "/a"}]}},
                "consumers": {"one": {"key_sha256": key_digest("k")}, "two": {"key_sha256": key_digest("k")}},
            },
            "consumers: ",
            "consumers 'one' and 'two' have the same key",
        ),
    ],
)
def test_an_invalid_limit_or_consumer_is_reported_with_its_entry_and_field(
    table: dict[str, Any], where: str, says: str
) -> None:
    with pytest.raises(RouteTableError) as caught:
        parse_route_table(table, source="routes.yaml")
    assert where in str(caught.value)
    assert says in str(caught.value)


def test_the_anonymous_limit_setting_is_validated(make_settings: MakeSettings) -> None:
    with pytest.raises(ValueError, match="is not a rate limit"):
        make_settings(rate_limit_anonymous="fast")
