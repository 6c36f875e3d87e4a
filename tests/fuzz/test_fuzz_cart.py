"""The cart service under bad input, against a cart that holds a line: every route fuzzed from its own OpenAPI
description, then the quantities, bodies, paths and sizes that property fuzzing rarely produces."""

from __future__ import annotations

import orjson
import pytest

from tests.fuzz.fuzz_harness import (
    FUZZ_SETTINGS,
    FuzzCase,
    RunningService,
    assert_oversized_bodies_refused,
    assert_refused_clearly,
    assert_survives_awkward_segments,
    assert_unknown_routes_refused,
    exercise,
    fuzz_schema,
)
from tests.fuzz.fuzz_shop import APPS, IN_STOCK, KNOWN_CART, OUT_OF_STOCK

KNOWN = {"id": KNOWN_CART, "from": KNOWN_CART, "to": "fuzzed-copy", "sku": IN_STOCK, "qty": "1"}
schema = fuzz_schema(
    APPS["cart"](),
    known={"id": [KNOWN_CART], "from": [KNOWN_CART], "sku": [IN_STOCK, OUT_OF_STOCK, "SHIP"], "qty": ["1", "0"]},
)

SHIPPING = f"/shipping/{KNOWN_CART}"
BAD_SHIPPING = {
    "cut-short JSON": b'{"distance": 704, "cost": ',
    "a JSON array": b'[704, 35.2, "London"]',
    "JSON null": b"null",
    "not UTF-8": b'{"distance": 704, "cost": 35.2, "location": "\xff"}',
    "a missing cost": b'{"distance": 704, "location": "London"}',
    "a negative cost": b'{"distance": 704, "cost": -35.2, "location": "London"}',
    "an absurd cost": b'{"distance": 704, "cost": 1e308, "location": "London"}',
    "an infinite cost": b'{"distance": 704, "cost": 1e999, "location": "London"}',
    "a cost as text": b'{"distance": 704, "cost": "35.2", "location": "London"}',
    "a cost as a boolean": b'{"distance": 704, "cost": true, "location": "London"}',
    "a location as a number": b'{"distance": 704, "cost": 35.2, "location": 12}',
    "a huge location": b'{"distance": 704, "cost": 35.2, "location": "' + b"L" * 5000 + b'"}',
    "a NUL in the location": b'{"distance": 704, "cost": 35.2, "location": "Lon\\u0000don"}',
    "deep nesting": b'{"distance": ' + b"[" * 100_000,
}


def holding_a_product(service: RunningService) -> RunningService:
    """The service, its known cart holding a product whatever the requests before did to it."""
    answer = service.send("GET", f"/cart/{KNOWN_CART}")
    if answer.status != 200 or not any(item["sku"] == IN_STOCK for item in orjson.loads(answer.body)["items"]):
        assert service.send("GET", f"/add/{KNOWN_CART}/{IN_STOCK}/1").status == 200
    return service


@pytest.fixture
def cart(cart_service: RunningService) -> RunningService:
    return holding_a_product(cart_service)


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_cart_answers_bad_input_with_4xx_and_changes_nothing(case: FuzzCase, cart_service: RunningService) -> None:
    exercise(holding_a_product(cart_service), case)


def test_fuzz_cart_survives_awkward_path_segments(cart: RunningService) -> None:
    # Quantities such as -1, 1e309, 400 nines and 0x10 (parseInt reads 16) are among the segments.
    assert_survives_awkward_segments(cart, KNOWN)


@pytest.mark.parametrize("body", BAD_SHIPPING.values(), ids=BAD_SHIPPING.keys())
def test_fuzz_cart_refuses_bad_shipping_clearly(cart: RunningService, body: bytes) -> None:
    before = cart.state()
    assert_refused_clearly(cart.send("POST", SHIPPING, body, {"Content-Type": "application/json"}))
    assert cart.state() == before


def test_fuzz_cart_refuses_oversized_shipping(cart: RunningService) -> None:
    assert_oversized_bodies_refused(cart, "POST", SHIPPING)


def test_fuzz_cart_state_shows_an_accepted_change(cart: RunningService) -> None:
    # Else every "changed nothing" above would hold for want of looking.
    before = cart.state()
    assert cart.send("GET", f"/update/{KNOWN_CART}/{IN_STOCK}/3").status == 200
    assert cart.state() != before


def test_fuzz_cart_refuses_unknown_routes_and_methods(cart: RunningService) -> None:
    assert_unknown_routes_refused(cart, KNOWN)
