"""The user service's rules: registration details, session identities, key rotation, orders."""

from __future__ import annotations

import pytest

from roboshop.user.domain import (
    MAX_IDENTITIES,
    KeyVersion,
    User,
    anonymous_id,
    identities_after,
    new_object_id,
    new_order,
    published_keys,
    registration_problem,
    signing_key,
    subject_of,
)

GOOD = {"name": "robot.fan_2-b", "email": "fan@robots.example", "password": "correct horse"}


def test_well_formed_details_make_a_new_user() -> None:
    assert registration_problem(**GOOD) is None


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("name", "", "name must be 1 to 64"),
        ("name", "n" * 65, "name must be 1 to 64"),
        ("name", "robot fan", "name must be 1 to 64"),
        ("name", "robot/fan", "name must be 1 to 64"),
        ("name", "rôbot", "name must be 1 to 64"),
        ("name", "anonymous-7", "reserved"),
        ("name", "Anonymous-7", "reserved"),
        ("email", "fan.robots.example", "email must be a valid address"),
        ("email", "fan@robots", "email must be a valid address"),
        ("email", "fan @robots.example", "email must be a valid address"),
        ("email", "fan@@robots.example", "email must be a valid address"),
        ("email", "fan@robots..example", "email must be a valid address"),
        ("email", "f" * 64 + "@" + "r" * 185 + ".example", "at most 254"),
        ("password", "seven77", "password must be 8 to 128"),
        ("password", "p" * 129, "password must be 8 to 128"),
        ("password", "bad\ud800surrogate", "valid text"),
    ],
)
def test_registration_says_what_is_wrong_with_a_field(field: str, value: str, complaint: str) -> None:
    problem = registration_problem(**{**GOOD, field: value})
    assert problem is not None
    assert complaint in problem


@pytest.mark.parametrize("password", ["p" * 8, "p" * 128, "ünïcødé-paßwörd"])
def test_passwords_of_8_to_128_characters_are_accepted(password: str) -> None:
    assert registration_problem(**{**GOOD, "password": password}) is None


def test_a_name_of_64_characters_is_accepted() -> None:
    assert registration_problem(**{**GOOD, "name": "n" * 64}) is None


def test_a_user_on_the_wire_has_no_password_hash() -> None:
    user = User("0" * 24, "stan", "stan@instana.com", "$argon2id$v=19$secret")
    assert user.to_wire() == {"_id": "0" * 24, "name": "stan", "email": "stan@instana.com"}
    assert "argon2" not in repr(user)


def test_object_ids_look_like_mongo_ids_and_differ() -> None:
    first, second = new_object_id(), new_object_id()
    assert len(first) == 24
    assert int(first, 16) >= 0
    assert first != second


def test_anonymous_ids_are_numbered() -> None:
    assert anonymous_id(42) == "anonymous-42"


def test_a_session_gains_an_identity_after_those_it_owns() -> None:
    assert identities_after((), "anonymous-1") == ("anonymous-1",)
    assert identities_after(("anonymous-1",), "user") == ("anonymous-1", "user")


def test_gaining_an_identity_again_moves_it_to_the_end_once() -> None:
    assert identities_after(("user", "anonymous-1"), "user") == ("anonymous-1", "user")


def test_a_session_drops_its_oldest_anonymous_ids_first_when_full() -> None:
    owned: tuple[str, ...] = ("anonymous-1", "user")
    for number in range(2, 40):
        owned = identities_after(owned, anonymous_id(number))
    assert len(owned) == MAX_IDENTITIES
    assert "user" in owned
    assert owned[-1] == "anonymous-39"
    assert "anonymous-1" not in owned


def test_a_session_full_of_names_drops_the_oldest_name() -> None:
    owned: tuple[str, ...] = ()
    for number in range(MAX_IDENTITIES + 1):
        owned = identities_after(owned, f"user{number}")
    assert owned[0] == "user1"
    assert owned[-1] == f"user{MAX_IDENTITIES}"


def test_the_subject_is_the_newest_user_name_else_the_newest_anonymous_id() -> None:
    assert subject_of(["anonymous-1", "anonymous-2"]) == "anonymous-2"
    assert subject_of(["anonymous-1", "user", "anonymous-2"]) == "user"
    assert subject_of(["user", "stan", "anonymous-3"]) == "stan"
    with pytest.raises(ValueError, match="at least one"):
        subject_of([])


def test_an_order_needs_an_order_id_and_a_cart_object() -> None:
    assert new_order("abc", {"total": 1}).to_wire() == {"orderid": "abc", "cart": {"total": 1}}
    with pytest.raises(ValueError, match="orderid"):
        new_order(None, {})
    with pytest.raises(ValueError, match="orderid"):
        new_order("x" * 65, {})
    with pytest.raises(ValueError, match="cart"):
        new_order("abc", [1, 2])


FIRST = KeyVersion(1, "k1", activates_at=1000)
SECOND = KeyVersion(2, "k2", activates_at=5000)
THIRD = KeyVersion(3, "k3", activates_at=9000)


def test_the_newest_active_key_signs() -> None:
    assert signing_key([FIRST, SECOND, THIRD], now=6000) == SECOND
    assert signing_key([FIRST, SECOND, THIRD], now=9000) == THIRD
    assert signing_key([FIRST], now=0) == FIRST  # nothing active yet: the oldest key
    with pytest.raises(ValueError, match="no signing key"):
        signing_key([], now=0)


def test_a_key_not_yet_active_is_published_before_it_signs() -> None:
    assert published_keys([FIRST, SECOND], now=2000, retire_after_s=100) == [FIRST, SECOND]


def test_a_superseded_key_stays_published_until_its_tokens_have_expired() -> None:
    assert published_keys([FIRST, SECOND], now=5099, retire_after_s=100) == [FIRST, SECOND]
    assert published_keys([FIRST, SECOND], now=5100, retire_after_s=100) == [SECOND]


def test_a_key_is_retired_from_when_its_first_successor_took_over() -> None:
    keys = [FIRST, SECOND, THIRD]
    assert published_keys(keys, now=9050, retire_after_s=100) == [SECOND, THIRD]
    assert published_keys(keys, now=9100, retire_after_s=100) == [THIRD]
