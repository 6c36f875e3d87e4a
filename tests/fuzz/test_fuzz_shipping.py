"""The shipping service under bad input: every route fuzzed from its own OpenAPI description, then the ids, bodies,
content types, paths and sizes that property fuzzing rarely produces. Shipping's own data is only ever read;
``/confirm`` changes the cart, and only when it answers 200."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzz_harness import (
    FUZZ_SETTINGS,
    FuzzCase,
    Route,
    RunningService,
    assert_oversized_bodies_refused,
    assert_refused_clearly,
    assert_survives_awkward_segments,
    assert_unknown_routes_refused,
    exercise,
    fuzz_schema,
    route_of,
)
from tests.fuzz.fuzz_shop import APPS, KNOWN_CART, LONDON_ID

KNOWN = {"code": "GB", "text": "lon", "uuid": str(LONDON_ID), "id": KNOWN_CART}
schema = fuzz_schema(
    APPS["shipping"](),
    known={"code": ["GB", "us"], "text": ["lon", "San", "düs"], "uuid": [str(LONDON_ID)], "id": [KNOWN_CART]},
)

CONFIRM = f"/confirm/{KNOWN_CART}"
SHIPPING = b'{"distance": 704, "cost": 35.2, "location": "United Kingdom London"}'
MALFORMED_BODIES = {
    "no body": b"",
    "cut-short JSON": b'{"distance": 704, "cost": ',
    "not UTF-8": b'{"location": "\xff\xfe"}',
    "a JSON array": b"[704, 35.2]",
    "JSON null": b"null",
    "deep nesting": b"[" * 100_000,
    "a lone surrogate": b'{"distance": 704, "cost": 35.2, "location": "\\ud800"}',
}
WRONG_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "")


def changes_the_cart(route: Route) -> bool:
    return route == ("POST", "/confirm/{id}")


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_shipping_answers_bad_input_with_4xx_and_changes_nothing(
    case: FuzzCase, shipping_service: RunningService
) -> None:
    exercise(shipping_service, case, read_only=not changes_the_cart(route_of(case)))


def test_fuzz_shipping_survives_awkward_path_segments(shipping_service: RunningService) -> None:
    # City ids such as -1, 2^63, 400 nines and 1e309 are among the segments.
    assert_survives_awkward_segments(shipping_service, KNOWN, may_change=changes_the_cart)


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_fuzz_shipping_refuses_malformed_confirmations_clearly(shipping_service: RunningService, body: bytes) -> None:
    before = shipping_service.state()
    assert_refused_clearly(shipping_service.send("POST", CONFIRM, body, {"Content-Type": "application/json"}))
    assert shipping_service.state() == before


@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
def test_fuzz_shipping_refuses_confirmations_that_are_not_json(
    shipping_service: RunningService, content_type: str
) -> None:
    before = shipping_service.state()
    answer = shipping_service.send("POST", CONFIRM, SHIPPING, {"Content-Type": content_type} if content_type else {})
    assert answer.status == 415
    assert_refused_clearly(answer)
    assert shipping_service.state() == before


def test_fuzz_shipping_refuses_oversized_confirmations(shipping_service: RunningService) -> None:
    assert_oversized_bodies_refused(shipping_service, "POST", CONFIRM)


def test_fuzz_shipping_state_shows_an_accepted_confirmation(shipping_service: RunningService) -> None:
    # Else every "changed nothing" above would hold for want of looking.
    before = shipping_service.state()
    assert shipping_service.send("POST", CONFIRM, SHIPPING, {"Content-Type": "application/json"}).status == 200
    assert shipping_service.state() != before


def test_fuzz_shipping_refuses_unknown_routes_and_methods(shipping_service: RunningService) -> None:
    assert_unknown_routes_refused(shipping_service, KNOWN)
