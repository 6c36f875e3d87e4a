"""The user service under bad input: every route fuzzed from its own OpenAPI description, then the bodies, paths
and sizes that property fuzzing rarely produces."""

from __future__ import annotations

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
from tests.fuzz.fuzz_shop import APPS

# Seeded users: requests also name someone who exists.
KNOWN = {"name": "user", "id": "user"}
schema = fuzz_schema(APPS["user"](), known={"name": ["user", "stan"], "id": ["user"]})

BODY_ROUTES = ("/login", "/register", "/order/user")
MALFORMED_BODIES = {
    "cut-short JSON": b'{"name": "user", "password": ',
    "a JSON array": b'["user", "password"]',
    "a JSON string": b'"user"',
    "JSON null": b"null",
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "numbers for text": b'{"name": 1e999, "password": -1, "email": 12, "orderid": 9223372036854775808, "cart": 1}',
    "deep nesting": b"[" * 100_000,
    "a NUL in a name": b'{"name": "us\\u0000er", "password": "password", "email": "a@b.co"}',
    "a lone surrogate": b'{"name": "\\ud800", "password": "password", "email": "a@b.co"}',
    "huge text": b'{"name": "' + b"n" * 5000 + b'", "password": "' + b"p" * 5000 + b'", "email": "e@x.io"}',
}
WRONG_CONTENT_TYPES = ("text/plain", "multipart/form-data; boundary=x", "application/xml")


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_user_answers_bad_input_with_4xx_and_changes_nothing(case: FuzzCase, user_service: RunningService) -> None:
    exercise(user_service, case)


def test_fuzz_user_survives_awkward_path_segments(user_service: RunningService) -> None:
    assert_survives_awkward_segments(user_service, KNOWN)


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_fuzz_user_refuses_malformed_bodies_clearly(user_service: RunningService, path: str, body: bytes) -> None:
    before = user_service.state()
    assert_refused_clearly(user_service.send("POST", path, body, {"Content-Type": "application/json"}))
    assert user_service.state() == before


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
def test_fuzz_user_refuses_bodies_of_other_content_types(
    user_service: RunningService, path: str, content_type: str
) -> None:
    body = b'{"name": "fuzzed", "password": "long enough", "email": "f@x.io", "orderid": "1", "cart": {}}'
    before = user_service.state()
    answer = user_service.send("POST", path, body, {"Content-Type": content_type})
    assert_refused_clearly(answer)
    assert user_service.state() == before


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_fuzz_user_refuses_oversized_bodies(user_service: RunningService, path: str) -> None:
    assert_oversized_bodies_refused(user_service, "POST", path)


def test_fuzz_user_state_shows_an_accepted_change(user_service: RunningService) -> None:
    # Else every "changed nothing" above would hold for want of looking.
    before = user_service.state()
    assert user_service.send("GET", "/uniqueid").status == 200
    assert user_service.state() != before


def test_fuzz_user_refuses_unknown_routes_and_methods(user_service: RunningService) -> None:
    assert_unknown_routes_refused(user_service, KNOWN)
