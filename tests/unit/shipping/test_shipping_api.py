from __future__ import annotations

import orjson
import pytest

from roboshop.shipping.store import UnreachableShippingStore
from tests.support import free_port
from tests.unit.shipping.fakes import CART_WITH_SHIPPING, ClientFactory, FakeCart
from tests.unit.shipping.geography import CITIES, COUNTRIES, LONDON_ID, SAN_DIEGO_ID

LONDON = {
    "uuid": LONDON_ID,
    "code": "GB",
    "city": "london",
    "name": "London",
    "region": "ENG",
    "latitude": 51.514125,
    "longitude": -0.093689,
}
SHIPPING_TO_LONDON = {"distance": 704, "cost": 35.2, "location": "United Kingdom London"}


def names(cities: list[dict[str, object]]) -> list[object]:
    return [city["name"] for city in cities]


async def test_health_is_the_text_ok(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["content-type"].startswith("text/plain")


async def test_health_stays_ok_while_the_database_is_down(shipping: ClientFactory) -> None:
    async with shipping(UnreachableShippingStore()) as client:
        response = await client.get("/health")
    assert (response.status_code, response.text) == (200, "OK")


async def test_readiness_follows_the_database(shipping: ClientFactory) -> None:
    async with shipping() as client:
        assert (await client.get("/ready")).status_code == 200
    async with shipping(UnreachableShippingStore()) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("failing")


async def test_count_is_the_number_of_cities_as_text(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/count")
    assert response.status_code == 200
    assert response.text == str(len(CITIES))
    assert response.headers["content-type"].startswith("text/plain")


async def test_codes_lists_every_country_sorted_by_name(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/codes")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    codes = response.json()
    assert [code["name"] for code in codes] == sorted(
        (country.name for country in COUNTRIES), key=lambda name: name.replace("Å", "A")
    )
    assert codes[5] == {"uuid": 2635167, "code": "GB", "name": "United Kingdom"}


async def test_cities_lists_every_city_of_a_country_in_robot_shops_shape(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/cities/GB")
    assert response.status_code == 200
    cities = response.json()
    assert len(cities) == 5
    assert LONDON in cities
    assert response.text.count('{"uuid":') == 5
    assert list(cities[0]) == ["uuid", "code", "city", "name", "region", "latitude", "longitude"]


async def test_a_country_code_in_lower_case_lists_the_same_cities(shipping: ClientFactory) -> None:
    async with shipping() as client:
        upper = await client.get("/cities/GB")
        lower = await client.get("/cities/gb")
    assert lower.json() == upper.json()


@pytest.mark.parametrize("code", ["ZZ", "GBR", "G", "G%25", "%C4%9EB"])
async def test_an_unknown_country_has_no_cities(shipping: ClientFactory, code: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/cities/{code}")
    assert (response.status_code, response.json()) == (200, [])


async def test_match_finds_cities_by_the_start_of_their_name(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/match/GB/lon")
    assert response.status_code == 200
    assert names(response.json()) == ["London", "Londonderry County Borough", "Long Eaton", "Longfield"]
    assert response.json()[0] == LONDON


@pytest.mark.parametrize("text", ["LON", "Lon", "lOn"])
async def test_match_ignores_case(shipping: ClientFactory, text: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/match/gb/{text}")
    assert names(response.json()) == ["London", "Londonderry County Borough", "Long Eaton", "Longfield"]


@pytest.mark.parametrize(("code", "text", "expected"), [("DE", "Düs", "Düsseldorf"), ("PL", "LODZ", "Łódź")])
async def test_match_ignores_accents(shipping: ClientFactory, code: str, text: str, expected: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/match/{code}/{text}")
    assert names(response.json()) == [expected]


async def test_more_than_ten_matches_give_nine(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/match/US/san")
    assert response.status_code == 200
    assert len(response.json()) == 9
    assert names(response.json())[:2] == ["San Angelo", "San Antonio"]


async def test_exactly_ten_matches_give_all_ten(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/match/MA/ait")
    assert len(response.json()) == 10


@pytest.mark.parametrize("text", ["l", "lo", "%C5%81%C3%B3"])
async def test_match_refuses_fewer_than_three_characters(shipping: ClientFactory, text: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/match/GB/{text}")
    assert response.status_code == 400
    assert response.text == "text must be at least 3 characters"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("GB", "xyz"),
        ("ZZ", "lon"),
        ("DE", "lon"),
        ("GB", "北京市"),
        ("US", "%25%25%25"),
        ("US", "___"),
        ("GB", "x" * 150),
    ],
)
async def test_match_without_hits_is_an_empty_list(shipping: ClientFactory, code: str, text: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/match/{code}/{text}")
    assert (response.status_code, response.json()) == (200, [])


async def test_match_takes_percent_and_underscore_literally(shipping: ClientFactory) -> None:
    async with shipping() as client:
        percent = await client.get("/match/US/100%25")
        underscore = await client.get("/match/US/under_")
    assert names(percent.json()) == ["100% Town"]
    assert names(underscore.json()) == ["Under_score"]


async def test_calc_gives_robot_shops_distance_and_cost(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get(f"/calc/{LONDON_ID}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{"distance":704,"cost":35.2}'


async def test_calc_gives_the_great_circle_distance_when_configured(shipping: ClientFactory) -> None:
    async with shipping(distance_formula="great_circle") as client:
        response = await client.get(f"/calc/{LONDON_ID}")
    assert response.json() == {"distance": 499, "cost": 24.95}


async def test_calc_cost_is_always_a_decimal_number(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get(f"/calc/{SAN_DIEGO_ID}")
    body = response.json()
    assert isinstance(body["distance"], int)
    assert isinstance(body["cost"], float)
    assert body["cost"] == round(body["distance"] * 5) / 100


@pytest.mark.parametrize("uuid", ["0", "-1", "12345678", "+2643744", "9223372036854775807"])
async def test_calc_for_an_unknown_city_is_404(shipping: ClientFactory, uuid: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/calc/{uuid}")
    assert response.status_code == 404
    assert response.text == "city not found"


@pytest.mark.parametrize("uuid", ["abc", "2643743abc", "1.5", "0x10", "9223372036854775808", "%20"])
async def test_calc_for_a_non_numeric_id_is_400(shipping: ClientFactory, uuid: str) -> None:
    async with shipping() as client:
        response = await client.get(f"/calc/{uuid}")
    assert response.status_code == 400
    assert response.text == "city id must be a whole number"


async def test_calc_while_the_database_is_down_is_500_with_a_text(shipping: ClientFactory) -> None:
    async with shipping(UnreachableShippingStore()) as client:
        responses = [await client.get(path) for path in ("/calc/1", "/count", "/codes", "/cities/GB", "/match/GB/lon")]
    assert {(response.status_code, response.text) for response in responses} == {(500, "database not available")}


async def test_confirm_forwards_the_shipping_to_the_cart_and_answers_its_cart(
    shipping: ClientFactory, fake_cart: FakeCart
) -> None:
    async with shipping() as client:
        response = await client.post("/confirm/anonymous-1", json=SHIPPING_TO_LONDON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == CART_WITH_SHIPPING
    [call] = fake_cart.calls
    assert call.path == "/shipping/anonymous-1"
    assert call.content_type == "application/json"
    assert orjson.loads(call.body) == SHIPPING_TO_LONDON


async def test_confirm_accepts_json_with_a_charset(shipping: ClientFactory, fake_cart: FakeCart) -> None:
    async with shipping() as client:
        response = await client.post(
            "/confirm/stan",
            content=orjson.dumps(SHIPPING_TO_LONDON),
            headers={"content-type": "application/json; charset=UTF-8"},
        )
    assert response.status_code == 200
    assert len(fake_cart.calls) == 1


async def test_confirm_quotes_the_cart_id_it_forwards(shipping: ClientFactory, fake_cart: FakeCart) -> None:
    async with shipping() as client:
        response = await client.post("/confirm/a%20b%3Fc", json=SHIPPING_TO_LONDON)
    assert response.status_code == 200
    assert fake_cart.calls[0].path == "/shipping/a b?c"


@pytest.mark.parametrize("status", [400, 404, 500, 503])
async def test_confirm_answers_cart_not_found_for_any_cart_failure(
    shipping: ClientFactory, fake_cart: FakeCart, status: int
) -> None:
    fake_cart.status, fake_cart.body = status, b"cart not found"
    async with shipping() as client:
        response = await client.post("/confirm/anonymous-1", json=SHIPPING_TO_LONDON)
    assert response.status_code == 404
    assert response.text == "cart not found"
    assert len(fake_cart.calls) == 1


async def test_confirm_answers_cart_not_found_when_the_cart_is_unreachable(shipping: ClientFactory) -> None:
    async with shipping(peers={"cart": f"http://127.0.0.1:{free_port()}"}) as client:
        response = await client.post("/confirm/anonymous-1", json=SHIPPING_TO_LONDON)
    assert (response.status_code, response.text) == (404, "cart not found")


@pytest.mark.parametrize(
    "headers", [{}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}]
)
async def test_confirm_refuses_a_body_that_is_not_json_typed(
    shipping: ClientFactory, fake_cart: FakeCart, headers: dict[str, str]
) -> None:
    async with shipping() as client:
        response = await client.post("/confirm/anonymous-1", content=orjson.dumps(SHIPPING_TO_LONDON), headers=headers)
    assert response.status_code == 415
    assert response.text == "Content-Type must be application/json"
    assert fake_cart.calls == []


@pytest.mark.parametrize("body", [b"", b"{", b"distance=704", b"\xff\xfe"])
async def test_confirm_refuses_malformed_json_without_calling_the_cart(
    shipping: ClientFactory, fake_cart: FakeCart, body: bytes
) -> None:
    async with shipping() as client:
        response = await client.post("/confirm/anonymous-1", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.text) == (400, "body must be JSON")
    assert fake_cart.calls == []


async def test_memory_keeps_chunks_until_its_limit_then_answers_507(shipping: ClientFactory) -> None:
    async with shipping(memory_chunk_mib=1, memory_max_mib=2) as client:
        grown = [await client.get("/memory") for _ in range(3)]
        freed = await client.get("/free")
        again = await client.get("/memory")
    assert [(r.status_code, r.text) for r in grown[:2]] == [(200, "1"), (200, "2")]
    assert grown[2].status_code == 507
    assert grown[2].text == "memory limit reached: 2 chunks of 1 MiB held"
    assert (freed.status_code, freed.text) == (200, "0")
    assert (again.status_code, again.text) == (200, "1")


async def test_free_with_nothing_held_is_zero(shipping: ClientFactory) -> None:
    async with shipping() as client:
        response = await client.get("/free")
    assert (response.status_code, response.json()) == (200, 0)


async def test_actuator_health_and_info_answer_like_spring_boot(shipping: ClientFactory) -> None:
    async with shipping() as client:
        health = await client.get("/actuator/health")
        info = await client.get("/actuator/info")
    assert (health.status_code, health.json()) == (200, {"status": "UP"})
    assert (info.status_code, info.json()) == (200, {})


async def test_metrics_count_requests_by_route_template(shipping: ClientFactory) -> None:
    async with shipping() as client:
        await client.get(f"/calc/{LONDON_ID}")
        metrics = await client.get("/metrics")
    assert 'route="/calc/{uuid}"' in metrics.text
