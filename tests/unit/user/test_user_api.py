"""The user service's routes, in-process over the fakes: Robot Shop's shapes and texts, and sessions."""

from __future__ import annotations

import logging

import argon2
import httpx
import pytest
from fastapi import FastAPI

from roboshop.user.app import create_app
from roboshop.user.domain import User
from roboshop.user.settings import UserSettings
from roboshop.user.store import InMemorySigningKeyStore, InMemoryUserStore
from roboshop.user.tokens import COOKIE_NAME, Session, TokenVerifier

from .support import FakeClock, Shop

HTML = "text/html; charset=utf-8"
NEW_USER = {"name": "robofan", "email": "robofan@robots.example", "password": "correct horse"}


async def session_of(shop: Shop, token: str | None) -> Session:
    """Verify a token the way the gateway will: from the published JWKS only."""
    assert token is not None
    jwks = (await shop.client.get("/.well-known/jwks.json")).json()
    return TokenVerifier(jwks, clock=shop.clock).verify(token)


def cookie_of(response: httpx.Response) -> str | None:
    return response.cookies.get(COOKIE_NAME)


def set_cookie_header(response: httpx.Response) -> str:
    return response.headers["set-cookie"]


async def test_health_answers_in_robot_shops_shape(shop: Shop) -> None:
    response = await shop.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"app": "OK", "mongo": True}


async def test_health_says_mongo_false_when_the_database_does_not_answer(shop: Shop) -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("database down")

    shop.users.ping = broken  # type: ignore[method-assign]
    response = await shop.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"app": "OK", "mongo": False}
    assert (await shop.client.get("/ready")).status_code == 503


async def test_uniqueid_counts_anonymous_ids_from_one(shop: Shop) -> None:
    first = await shop.client.get("/uniqueid")
    second = await shop.client.get("/uniqueid")
    assert first.status_code == 200
    assert first.json() == {"uuid": "anonymous-1"}
    assert second.json() == {"uuid": "anonymous-2"}


async def test_uniqueid_sets_a_session_cookie_owning_the_new_id(shop: Shop) -> None:
    response = await shop.client.get("/uniqueid")
    session = await session_of(shop, cookie_of(response))
    assert session.subject == "anonymous-1"
    assert session.identities == ("anonymous-1",)


async def test_the_session_cookie_is_httponly_samesite_lax_and_lasts_as_long_as_the_token(shop: Shop) -> None:
    response = await shop.client.get("/uniqueid")
    attributes = [part.strip().lower() for part in set_cookie_header(response).split(";")]
    assert attributes[0].startswith(f"{COOKIE_NAME}=")
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "max-age=86400" in attributes
    assert "secure" not in attributes
    assert response.headers["cache-control"] == "no-store"


async def test_the_session_cookie_is_secure_when_the_settings_say_so(clock: FakeClock) -> None:
    settings = UserSettings(database_url="sqlite:///unused.db", cookie_secure=True, token_ttl_s=600)
    app = create_app(settings, users=InMemoryUserStore(), keys=InMemorySigningKeyStore(), clock=clock)
    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.get("/uniqueid")
    attributes = [part.strip().lower() for part in set_cookie_header(response).split(";")]
    assert "secure" in attributes
    assert "max-age=600" in attributes


async def test_uniqueid_with_a_session_owns_the_old_and_the_new_id(shop: Shop) -> None:
    await shop.client.get("/uniqueid")
    second = await shop.client.get("/uniqueid")  # the client sends the first cookie back
    session = await session_of(shop, cookie_of(second))
    assert session.identities == ("anonymous-1", "anonymous-2")
    assert session.subject == "anonymous-2"


async def test_a_bearer_token_counts_as_the_session_too(shop: Shop) -> None:
    token = cookie_of(await shop.client.get("/uniqueid"))
    shop.client.cookies.clear()
    response = await shop.client.get("/uniqueid", headers={"Authorization": f"Bearer {token}"})
    assert (await session_of(shop, cookie_of(response))).identities == ("anonymous-1", "anonymous-2")


async def test_an_invalid_or_expired_session_is_ignored_not_an_error(shop: Shop) -> None:
    old = cookie_of(await shop.client.get("/uniqueid"))
    shop.client.cookies.clear()
    forged = await shop.client.get("/uniqueid", headers={"Authorization": "Bearer forged.token.here"})
    assert forged.status_code == 200
    assert (await session_of(shop, cookie_of(forged))).identities == ("anonymous-2",)
    shop.clock.advance(86_400 + 60)
    shop.client.cookies.clear()
    expired = await shop.client.get("/uniqueid", headers={"Authorization": f"Bearer {old}"})
    assert (await session_of(shop, cookie_of(expired))).identities == ("anonymous-3",)


async def test_login_with_json_answers_the_user_without_the_password(shop: Shop) -> None:
    response = await shop.client.post("/login", json={"name": "user", "password": "password"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"_id", "name", "email"}
    assert body["name"] == "user"
    assert body["email"] == "user@me.com"
    assert len(body["_id"]) == 24
    assert "password" not in response.text
    assert "argon2" not in response.text


async def test_login_with_a_form_works_too(shop: Shop) -> None:
    response = await shop.client.post("/login", data={"name": "stan", "password": "bigbrain"})
    assert response.status_code == 200
    assert response.json()["email"] == "stan@instana.com"


@pytest.mark.parametrize(
    ("name", "password", "email"),
    [("user", "password", "user@me.com"), ("stan", "bigbrain", "stan@instana.com"),
     ("partner-57", "worktogether", "howdy@partner.com")],
)  # fmt: skip
async def test_every_seed_user_can_log_in(shop: Shop, name: str, password: str, email: str) -> None:
    response = await shop.client.post("/login", json={"name": name, "password": password})
    assert response.json()["email"] == email


async def test_seed_users_are_stored_hashed(shop: Shop) -> None:
    user = await shop.users.user("user")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")


async def test_login_gives_a_session_owning_the_name_and_the_anonymous_id(shop: Shop) -> None:
    await shop.client.get("/uniqueid")
    response = await shop.client.post("/login", json={"name": "user", "password": "password"})
    assert response.headers["cache-control"] == "no-store"
    session = await session_of(shop, cookie_of(response))
    assert session.identities == ("anonymous-1", "user")
    assert session.subject == "user"


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "user"}, {"password": "password"}, {"name": "", "password": "password"},
     {"name": "user", "password": ""}, {"name": 7, "password": "password"}],
)  # fmt: skip
async def test_login_without_name_or_password_is_400_with_robot_shops_text(shop: Shop, body: dict[str, object]) -> None:
    response = await shop.client.post("/login", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == HTML
    assert response.text == "name or passowrd not supplied"


async def test_login_with_an_empty_body_is_400(shop: Shop) -> None:
    response = await shop.client.post("/login")
    assert response.status_code == 400
    assert response.text == "name or passowrd not supplied"


async def test_login_with_a_body_that_is_not_json_or_a_form_is_a_clear_400(shop: Shop) -> None:
    broken = await shop.client.post("/login", content=b"{name", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert broken.text == "the body is not valid JSON"
    listed = await shop.client.post("/login", json=["user", "password"])
    assert listed.text == "the body must be a JSON object"
    other = await shop.client.post("/login", content=b"user:password", headers={"content-type": "text/plain"})
    assert other.status_code == 400
    assert "JSON" in other.text


async def test_login_of_an_unknown_name_is_404_name_not_found(shop: Shop) -> None:
    for name in ("nobody", "n" * 500):
        response = await shop.client.post("/login", json={"name": name, "password": "password"})
        assert response.status_code == 404
        assert response.headers["content-type"] == HTML
        assert response.text == "name not found"
        assert COOKIE_NAME not in response.headers.get("set-cookie", "")


async def test_login_with_a_wrong_password_is_404_incorrect_password(shop: Shop) -> None:
    response = await shop.client.post("/login", json={"name": "user", "password": "Password"})
    assert response.status_code == 404
    assert response.text == "incorrect password"
    assert "set-cookie" not in response.headers


async def test_login_upgrades_a_hash_made_with_weaker_parameters(shop: Shop) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("oldtimer")
    await shop.users.add_user(User("a" * 24, "oldtimer", "old@robots.example", weak))
    response = await shop.client.post("/login", json={"name": "oldtimer", "password": "oldtimer"})
    assert response.status_code == 200
    upgraded = await shop.users.user("oldtimer")
    assert upgraded is not None
    assert upgraded.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_register_answers_ok_and_a_session_owning_the_new_name(shop: Shop) -> None:
    await shop.client.get("/uniqueid")
    response = await shop.client.post("/register", json=NEW_USER)
    assert response.status_code == 200
    assert response.headers["content-type"] == HTML
    assert response.text == "OK"
    assert (await session_of(shop, cookie_of(response))).identities == ("anonymous-1", "robofan")
    login = await shop.client.post("/login", json={"name": "robofan", "password": "correct horse"})
    assert login.json()["email"] == "robofan@robots.example"


async def test_register_with_a_form_works_too(shop: Shop) -> None:
    response = await shop.client.post("/register", data=NEW_USER)
    assert response.status_code == 200
    assert await shop.users.user("robofan") is not None


async def test_register_stores_a_hash_never_the_password(shop: Shop) -> None:
    await shop.client.post("/register", json=NEW_USER)
    user = await shop.users.user("robofan")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash


@pytest.mark.parametrize("missing", ["name", "email", "password"])
async def test_register_without_a_field_is_400_insufficient_data(shop: Shop, missing: str) -> None:
    body = {key: value for key, value in NEW_USER.items() if key != missing}
    response = await shop.client.post("/register", json=body)
    assert response.status_code == 400
    assert response.text == "insufficient data"


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("name", "robo fan", "name must be 1 to 64 letters, digits, dots, dashes or underscores"),
        ("name", "anonymous-12", "names starting with 'anonymous-' are reserved"),
        ("email", "robofan", "email must be a valid address of at most 254 characters"),
        ("password", "short", "password must be 8 to 128 characters"),
    ],
)
async def test_register_with_a_malformed_field_is_400_saying_what_is_wrong(
    shop: Shop, field: str, value: str, complaint: str
) -> None:
    response = await shop.client.post("/register", json={**NEW_USER, field: value})
    assert response.status_code == 400
    assert response.headers["content-type"] == HTML
    assert response.text == complaint


async def test_register_an_existing_name_is_400_name_already_exists(shop: Shop) -> None:
    response = await shop.client.post("/register", json={**NEW_USER, "name": "stan"})
    assert response.status_code == 400
    assert response.text == "name already exists"
    assert (await shop.client.post("/login", json={"name": "stan", "password": "bigbrain"})).status_code == 200


async def test_register_when_a_concurrent_request_took_the_name_is_400_name_already_exists(shop: Shop) -> None:
    racing = User("b" * 24, "robofan", "first@robots.example", "$argon2id$placeholder")
    original_user = shop.users.user

    async def not_yet(name: str) -> User | None:
        # The racing registration lands between the check and the insert.
        await shop.users.add_user(racing)
        return None if name == "robofan" else await original_user(name)

    shop.users.user = not_yet  # type: ignore[method-assign]
    response = await shop.client.post("/register", json=NEW_USER)
    assert response.status_code == 400
    assert response.text == "name already exists"


async def test_check_answers_ok_for_a_user_and_404_otherwise(shop: Shop) -> None:
    found = await shop.client.get("/check/partner-57")
    assert (found.status_code, found.text, found.headers["content-type"]) == (200, "OK", HTML)
    missing = await shop.client.get("/check/nobody")
    assert (missing.status_code, missing.text) == (404, "user not found")


async def test_an_order_is_appended_to_the_history(shop: Shop) -> None:
    cart = {"total": 2036.2, "tax": 339.36666666666656, "items": [{"qty": 1, "sku": "Watson"}]}
    first = await shop.client.post("/order/user", json={"orderid": "order-1", "cart": cart})
    assert (first.status_code, first.text) == (200, "OK")
    await shop.client.post("/order/user", json={"orderid": "order-2", "cart": {"total": 1}})
    history = await shop.client.get("/history/user")
    assert history.status_code == 200
    user = await shop.users.user("user")
    assert user is not None
    assert history.json() == {
        "_id": user.object_id,
        "name": "user",
        "history": [{"orderid": "order-1", "cart": cart}, {"orderid": "order-2", "cart": {"total": 1}}],
    }


async def test_an_order_sent_twice_is_listed_once(shop: Shop) -> None:
    for _ in range(2):
        response = await shop.client.post("/order/user", json={"orderid": "order-1", "cart": {"total": 1}})
        assert response.status_code == 200
    assert len((await shop.client.get("/history/user")).json()["history"]) == 1


async def test_an_order_for_an_unknown_user_is_404_name_not_found(shop: Shop) -> None:
    response = await shop.client.post("/order/nobody", json={"orderid": "order-1", "cart": {}})
    assert (response.status_code, response.text) == (404, "name not found")


@pytest.mark.parametrize(
    ("body", "complaint"),
    [({"cart": {}}, "orderid"), ({"orderid": "o-1"}, "cart"), ({"orderid": "o-1", "cart": [1]}, "cart")],
)
async def test_an_order_without_an_id_or_a_cart_is_400(shop: Shop, body: dict[str, object], complaint: str) -> None:
    response = await shop.client.post("/order/user", json=body)
    assert response.status_code == 400
    assert complaint in response.text


async def test_history_of_a_user_without_orders_is_404_history_not_found(shop: Shop) -> None:
    for name in ("user", "nobody"):
        response = await shop.client.get(f"/history/{name}")
        assert (response.status_code, response.text) == (404, "history not found")


async def test_a_user_is_found_by_name_or_id_as_id_and_name_only(shop: Shop) -> None:
    by_name = await shop.client.get("/users/stan")
    assert by_name.status_code == 200
    assert set(by_name.json()) == {"id", "name"}
    by_id = await shop.client.get(f"/users/{by_name.json()['id']}")
    assert by_id.json() == by_name.json() == {"id": by_name.json()["id"], "name": "stan"}
    missing = await shop.client.get("/users/nobody")
    assert (missing.status_code, missing.text) == (404, "user not found")


async def test_the_list_of_all_users_does_not_exist(shop: Shop) -> None:
    response = await shop.client.get("/users")
    assert response.status_code in (404, 405)
    assert "stan" not in response.text


async def test_the_jwks_is_public_keys_only_and_cacheable(shop: Shop) -> None:
    response = await shop.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    (key,) = response.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key


async def test_a_session_from_before_a_key_rotation_still_counts(shop: Shop) -> None:
    before = cookie_of(await shop.client.get("/uniqueid"))
    shop.clock.advance(60)
    await shop.app.state.services.keys.rotate()
    response = await shop.client.get("/uniqueid")
    after = cookie_of(response)
    assert (await session_of(shop, before)).identities == ("anonymous-1",)
    assert (await session_of(shop, after)).identities == ("anonymous-1", "anonymous-2")
    assert len((await shop.client.get("/.well-known/jwks.json")).json()["keys"]) == 2


async def test_logs_never_hold_a_password_a_hash_or_a_token(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = [cookie_of(await shop.client.get("/uniqueid"))]
    tokens.append(cookie_of(await shop.client.post("/register", json=NEW_USER)))
    tokens.append(cookie_of(await shop.client.post("/login", json={"name": "robofan", "password": "correct horse"})))
    await shop.client.post("/login", json={"name": "robofan", "password": "wrong horse"})
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert caplog.records
    for secret in ("correct horse", "wrong horse", "$argon2", *(token for token in tokens if token)):
        assert secret not in logged


async def test_logins_and_registrations_are_counted_in_metrics(shop: Shop) -> None:
    await shop.client.post("/login", json={"name": "user", "password": "password"})
    await shop.client.post("/login", json={"name": "user", "password": "nope"})
    await shop.client.post("/register", json=NEW_USER)
    metrics = (await shop.client.get("/metrics")).text
    assert 'user_logins_total{outcome="success"} 1.0' in metrics
    assert 'user_logins_total{outcome="wrong_password"} 1.0' in metrics
    assert "user_registrations_total 1.0" in metrics


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://user.test")
