"""The cart service's routes, in-process, over the in-memory store and a fake catalogue on loopback."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import orjson
import pytest

from roboshop.cart.app import create_app
from roboshop.cart.settings import CartSettings
from roboshop.cart.store import InMemoryCartStore
from tests.support import free_port
from tests.unit.cart.fakes import FakeCatalogue
from tests.unit.cart.shop import Shop, running_shop

WATSON_CART = (
    b'{"total":2001,"tax":333.5,"items":[{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001}]}'
)
WATSON_SHIPPED_CART = (
    b'{"total":2036.2,"tax":339.36666666666656,"items":['
    b'{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001},'
    b'{"qty":1,"sku":"SHIP","name":"shipping to United Kingdom London","price":35.2,"subtotal":35.2}]}'
)
LONDON = {"distance": 704, "cost": 35.2, "location": "United Kingdom London"}
TEXT = "text/html; charset=utf-8"


def segment(text: str) -> str:
    return quote(text, safe="")


def assert_text_error(response: httpx.Response, status: int, body: str) -> None:
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["content-type"] == TEXT


async def cart_of(shop: Shop, cart_id: str) -> bytes | None:
    response = await shop.client.get(f"/cart/{segment(cart_id)}")
    return response.content if response.status_code == 200 else None


# --- the worked examples of the contract ---


async def test_adding_one_watson_answers_robot_shops_cart_byte_for_byte(shop: Shop) -> None:
    response = await shop.client.get("/add/anonymous-1/Watson/1")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == WATSON_CART
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


async def test_shipping_to_london_adds_a_ship_line_to_the_tax_inclusive_totals(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    response = await shop.client.post("/shipping/anonymous-1", json=LONDON)

    assert response.status_code == 200
    assert response.content == WATSON_SHIPPED_CART
    assert await cart_of(shop, "anonymous-1") == WATSON_SHIPPED_CART


async def test_two_stans_and_a_mining_cyborg_total_176(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-2/STAN-1/2")
    response = await shop.client.get("/add/anonymous-2/RMC/1")

    assert response.content == (
        b'{"total":176,"tax":29.333333333333314,"items":['
        b'{"qty":2,"sku":"STAN-1","name":"Stan","price":67,"subtotal":134},'
        b'{"qty":1,"sku":"RMC","name":"Robotic Mining Cyborg","price":42,"subtotal":42}]}'
    )


# --- add ---


async def test_adding_a_product_again_adds_to_its_line_at_the_price_it_was_added_at(
    shop: Shop, catalogue: FakeCatalogue
) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    catalogue.products["Watson"]["price"] = 999

    cart = (await shop.client.get("/add/anonymous-1/Watson/2")).json()

    assert cart["items"] == [{"qty": 3, "sku": "Watson", "name": "Watson", "price": 2001, "subtotal": 6003}]
    assert cart["total"] == 6003


async def test_stock_is_not_compared_with_the_quantity_asked_for(shop: Shop) -> None:
    response = await shop.client.get("/add/anonymous-1/Watson/5")

    assert response.status_code == 200
    assert response.json()["items"][0]["qty"] == 5


@pytest.mark.parametrize(("qty", "added"), [("2abc", 2), (" 3", 3), ("0x10", 16), ("1.9", 1), ("+4", 4)])
async def test_the_quantity_is_read_like_javascripts_parse_int(shop: Shop, qty: str, added: int) -> None:
    response = await shop.client.get(f"/add/anonymous-1/RMC/{segment(qty)}")

    assert response.status_code == 200
    assert response.json()["items"][0]["qty"] == added


@pytest.mark.parametrize(
    ("qty", "message"),
    [
        ("abc", "quantity must be a number"),
        ("Infinity", "quantity must be a number"),
        ("0", "quantity has to be greater than zero"),
        ("-1", "quantity has to be greater than zero"),
        ("1000001", "quantity is too large: at most 1000000 of a product"),
        ("9" * 500, "quantity is too large: at most 1000000 of a product"),
    ],
)
async def test_a_quantity_to_add_that_is_not_a_positive_number_is_refused_before_asking_the_catalogue(
    shop: Shop, catalogue: FakeCatalogue, qty: str, message: str
) -> None:
    response = await shop.client.get(f"/add/anonymous-1/Watson/{qty}")

    assert_text_error(response, 400, message)
    assert catalogue.asked == []
    assert await cart_of(shop, "anonymous-1") is None


async def test_a_line_that_would_grow_beyond_the_largest_quantity_is_refused_and_kept(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/RMC/1000000")

    response = await shop.client.get("/add/anonymous-1/RMC/1")

    assert_text_error(response, 400, "quantity is too large: at most 1000000 of a product")
    assert orjson.loads(await cart_of(shop, "anonymous-1") or b"")["items"][0]["qty"] == 1000000


async def test_a_product_the_catalogue_does_not_know_is_not_found(shop: Shop) -> None:
    assert_text_error(await shop.client.get("/add/anonymous-1/NOPE/1"), 404, "product not found")
    assert await cart_of(shop, "anonymous-1") is None


async def test_a_failing_catalogue_answer_means_product_not_found(shop: Shop, catalogue: FakeCatalogue) -> None:
    catalogue.status = 500

    assert_text_error(await shop.client.get("/add/anonymous-1/Watson/1"), 404, "product not found")


@pytest.mark.parametrize("sku", ["Ewooid", "CNA"])
async def test_a_product_out_of_stock_cannot_be_added(shop: Shop, sku: str) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    assert_text_error(await shop.client.get(f"/add/anonymous-1/{sku}/1"), 404, "out of stock")
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


async def test_the_catalogue_is_asked_for_the_sku_url_encoded(shop: Shop, catalogue: FakeCatalogue) -> None:
    catalogue.products["odd sku?#%"] = {"sku": "odd sku?#%", "name": "Odd", "price": 1, "instock": 1}

    response = await shop.client.get(f"/add/anonymous-1/{segment('odd sku?#%')}/1")

    assert response.status_code == 200
    assert catalogue.asked == ["/product/odd%20sku%3F%23%25"]
    assert response.json()["items"][0]["sku"] == "odd sku?#%"


async def test_a_product_the_catalogue_describes_without_a_price_is_a_bad_gateway(
    shop: Shop, catalogue: FakeCatalogue
) -> None:
    catalogue.products["Watson"]["price"] = "a lot"

    response = await shop.client.get("/add/anonymous-1/Watson/1")

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert await cart_of(shop, "anonymous-1") is None


async def test_a_catalogue_answer_that_is_not_json_is_a_bad_gateway(shop: Shop, catalogue: FakeCatalogue) -> None:
    catalogue.products["Watson"] = b"<html>"

    assert (await shop.client.get("/add/anonymous-1/Watson/1")).status_code == 502


async def test_a_catalogue_nobody_answers_at_is_a_bad_gateway() -> None:
    refusing = f"http://127.0.0.1:{free_port()}"
    async with running_shop(CartSettings(peers={"catalogue": refusing}), InMemoryCartStore()) as shop:
        response = await shop.client.get("/add/anonymous-1/Watson/1")
        assert await cart_of(shop, "anonymous-1") is None

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_catalogue_too_slow_to_answer_is_a_gateway_timeout(shop: Shop, catalogue: FakeCatalogue) -> None:
    catalogue.delay_s = 2.0

    response = await shop.client.get("/add/anonymous-1/Watson/1")

    assert response.status_code == 504
    assert await cart_of(shop, "anonymous-1") is None


async def test_a_catalogue_with_no_known_instance_is_service_unavailable() -> None:
    settings = CartSettings(peers={"catalogue": "http://"})
    async with running_shop(settings, InMemoryCartStore()) as shop:
        response = await shop.client.get("/add/anonymous-1/Watson/1")

    assert response.status_code == 503


# --- update ---


async def test_updating_a_quantity_sets_it_and_recomputes_the_totals(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/STAN-1/1")
    await shop.client.get("/add/anonymous-1/RMC/1")

    cart = (await shop.client.get("/update/anonymous-1/STAN-1/3")).json()

    assert [(item["sku"], item["qty"], item["subtotal"]) for item in cart["items"]] == [
        ("STAN-1", 3, 201),
        ("RMC", 1, 42),
    ]
    assert cart["total"] == 243


async def test_updating_a_quantity_to_zero_removes_the_line(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    await shop.client.get("/add/anonymous-1/RMC/1")

    response = await shop.client.get("/update/anonymous-1/RMC/0")

    assert response.content == WATSON_CART


async def test_updating_shipping_to_zero_removes_shipping_as_the_ui_does(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    await shop.client.post("/shipping/anonymous-1", json=LONDON)

    response = await shop.client.get("/update/anonymous-1/SHIP/0")

    assert response.content == WATSON_CART


async def test_updating_reads_the_quantity_like_parse_int(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/RMC/1")

    assert (await shop.client.get("/update/anonymous-1/RMC/2abc")).json()["items"][0]["qty"] == 2


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/update/anonymous-1/RMC/abc", 400, "quantity must be a number"),
        ("/update/anonymous-1/RMC/-1", 400, "negative quantity not allowed"),
        ("/update/anonymous-1/RMC/2000000", 400, "quantity is too large: at most 1000000 of a product"),
        ("/update/anonymous-9/RMC/1", 404, "cart not found"),
        ("/update/anonymous-1/Watson/1", 404, "not in cart"),
    ],
)
async def test_an_update_that_breaks_a_rule_is_refused_and_changes_nothing(
    shop: Shop, path: str, status: int, message: str
) -> None:
    before = (await shop.client.get("/add/anonymous-1/RMC/1")).content

    assert_text_error(await shop.client.get(path), status, message)
    assert await cart_of(shop, "anonymous-1") == before
    assert await cart_of(shop, "anonymous-9") is None


# --- shipping ---


async def test_shipping_again_replaces_the_shipping_line_in_place(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    await shop.client.post("/shipping/anonymous-1", json=LONDON)
    await shop.client.get("/add/anonymous-1/RMC/1")

    cart = (
        await shop.client.post("/shipping/anonymous-1", json={"distance": 633, "cost": 31.65, "location": "Berlin"})
    ).json()

    assert [item["sku"] for item in cart["items"]] == ["Watson", "SHIP", "RMC"]
    assert cart["items"][1] == {
        "qty": 1,
        "sku": "SHIP",
        "name": "shipping to Berlin",
        "price": 31.65,
        "subtotal": 31.65,
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"cost": 35.2, "location": "London"}',
        b'{"distance": 704, "location": "London"}',
        b'{"distance": 704, "cost": 35.2}',
        b'{"distance": 704, "cost": 35.2, "location": null}',
        b"[]",
        b"not json",
        b"",
    ],
)
async def test_shipping_without_distance_cost_and_location_is_missing(shop: Shop, body: bytes) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    response = await shop.client.post(
        "/shipping/anonymous-1", content=body, headers={"content-type": "application/json"}
    )

    assert_text_error(response, 400, "shipping data missing")
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"distance": 1, "cost": "35.2", "location": "London"}, "shipping cost must be a number from 0 to 1000000"),
        ({"distance": 1, "cost": -5, "location": "London"}, "shipping cost must be a number from 0 to 1000000"),
        ({"distance": 1, "cost": 5, "location": ["London"]}, "shipping location must be text"),
        ({"distance": 1, "cost": 5, "location": "L" * 201}, "shipping location is too long: at most 200 characters"),
    ],
)
async def test_shipping_that_cannot_be_a_cart_line_is_refused(
    shop: Shop, body: dict[str, object], message: str
) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    assert_text_error(await shop.client.post("/shipping/anonymous-1", json=body), 400, message)
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


async def test_shipping_a_cart_that_does_not_exist_is_not_found(shop: Shop) -> None:
    assert_text_error(await shop.client.post("/shipping/anonymous-9", json=LONDON), 404, "cart not found")
    assert await cart_of(shop, "anonymous-9") is None


# --- cart, rename, delete ---


async def test_a_cart_that_does_not_exist_is_not_found(shop: Shop) -> None:
    assert_text_error(await shop.client.get("/cart/anonymous-9"), 404, "cart not found")


async def test_renaming_copies_the_cart_and_keeps_the_old_one(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    response = await shop.client.get("/rename/anonymous-1/stan")

    assert response.content == WATSON_CART
    assert await cart_of(shop, "stan") == WATSON_CART
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


async def test_renaming_overwrites_the_cart_the_new_id_had(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    await shop.client.get("/add/stan/RMC/7")

    await shop.client.get("/rename/anonymous-1/stan")

    assert await cart_of(shop, "stan") == WATSON_CART


async def test_renaming_a_cart_that_does_not_exist_is_not_found(shop: Shop) -> None:
    assert_text_error(await shop.client.get("/rename/anonymous-9/stan"), 404, "cart not found")
    assert await cart_of(shop, "stan") is None


async def test_deleting_a_cart_answers_ok_and_the_cart_is_gone(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    response = await shop.client.delete("/cart/anonymous-1")

    assert (response.status_code, response.text, response.headers["content-type"]) == (200, "OK", TEXT)
    assert await cart_of(shop, "anonymous-1") is None
    assert_text_error(await shop.client.delete("/cart/anonymous-1"), 404, "cart not found")


# --- ids and skus ---


ROUTES_NAMING_AN_ID = [
    ("GET", "/cart/{id}"),
    ("DELETE", "/cart/{id}"),
    ("GET", "/rename/{id}/stan"),
    ("GET", "/rename/anonymous-1/{id}"),
    ("GET", "/add/{id}/Watson/1"),
    ("GET", "/update/{id}/Watson/1"),
    ("POST", "/shipping/{id}"),
]


@pytest.mark.parametrize(("method", "template"), ROUTES_NAMING_AN_ID)
@pytest.mark.parametrize(
    ("cart_id", "message"),
    [
        ("x" * 101, "cart id is too long: at most 100 characters"),
        ("anon\x01ymous", "cart id must not contain control characters"),
    ],
)
async def test_a_cart_id_too_long_or_with_control_characters_is_refused(
    shop: Shop, method: str, template: str, cart_id: str, message: str
) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")

    response = await shop.client.request(method, template.format(id=segment(cart_id)), json=LONDON)

    assert_text_error(response, 400, message)
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


@pytest.mark.parametrize("route", ["add", "update"])
@pytest.mark.parametrize(
    ("sku", "message"),
    [
        ("S" * 101, "sku is too long: at most 100 characters"),
        ("Wat\tson", "sku must not contain control characters"),
    ],
)
async def test_a_sku_too_long_or_with_control_characters_is_refused(
    shop: Shop, catalogue: FakeCatalogue, route: str, sku: str, message: str
) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    catalogue.asked.clear()

    assert_text_error(await shop.client.get(f"/{route}/anonymous-1/{segment(sku)}/1"), 400, message)
    assert catalogue.asked == []
    assert await cart_of(shop, "anonymous-1") == WATSON_CART


async def test_ids_and_skus_are_otherwise_free_form(shop: Shop, catalogue: FakeCatalogue) -> None:
    catalogue.products["R2 D2"] = {"sku": "R2 D2", "name": "Astromech", "price": 10, "instock": 1}
    cart_id = "Stän O'Neil <stan@example.com>"

    response = await shop.client.get(f"/add/{segment(cart_id)}/{segment('R2 D2')}/1")

    assert response.status_code == 200
    assert orjson.loads(await cart_of(shop, cart_id) or b"")["items"][0]["sku"] == "R2 D2"


# --- health, metrics, readiness ---


async def test_health_says_the_app_is_ok_and_the_store_answers(shop: Shop) -> None:
    response = await shop.client.get("/health")

    assert (response.status_code, response.content) == (200, b'{"app":"OK","redis":true}')


async def test_ready_checks_the_store(shop: Shop) -> None:
    response = await shop.client.get("/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"store": "ok"}


async def test_items_added_counts_the_quantities_added(shop: Shop) -> None:
    await shop.client.get("/add/anonymous-1/Watson/1")
    await shop.client.get("/add/anonymous-1/RMC/3")
    await shop.client.get("/update/anonymous-1/RMC/10")
    await shop.client.get("/add/anonymous-1/CNA/5")
    await shop.client.get("/add/anonymous-1/RMC/abc")

    assert shop.items_added() == 4
    metrics = (await shop.client.get("/metrics")).text
    assert "# HELP items_added_total running count of items added to cart" in metrics
    assert "items_added_total 4.0" in metrics


def test_a_store_url_the_cart_cannot_use_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="store_url must be"):
        create_app(CartSettings(store_url="mongodb://127.0.0.1/cart"))


def test_settings_come_from_roboshop_cart_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOSHOP_CART_STORE_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("ROBOSHOP_CART_CART_TTL_S", "60")

    settings = CartSettings()

    assert (settings.service_name, settings.store_url, settings.cart_ttl_s) == ("cart", "redis://127.0.0.1:6379/3", 60)
    assert CartSettings.model_fields["store_url"].default == "sqlite:///./.roboshop/cart.db"
    assert CartSettings.model_fields["cart_ttl_s"].default == 3600
