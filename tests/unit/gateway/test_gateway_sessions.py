"""Session authorisation at the gateway, against real tokens signed by the user service's own key code and
verified from a JWKS that a stub user service publishes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from roboshop.gateway.auth import SessionCache, SessionPolicy, request_token
from roboshop.gateway.exchange import Exchange
from roboshop.gateway.routing import compile_routes, parse_route_table
from roboshop.gateway.settings import GatewaySettings, packaged_routes_file
from roboshop.user.keys import SigningKeys
from roboshop.user.store import InMemorySigningKeyStore, StoredKey
from roboshop.user.tokens import JWKS_PATH, InvalidSession, Session

from .conftest import MakeSettings
from .servers import EchoService, RunningGateway, WebServer, running_gateway, unused_port

PROBLEM = "application/problem+json"
ISSUER, AUDIENCE = "roboshop-user", "roboshop"


def new_keys(store: InMemorySigningKeyStore | None = None, **overrides: Any) -> SigningKeys:
    values: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "token_ttl_s": 3600}
    values.update(overrides)
    return SigningKeys(store or InMemorySigningKeyStore(), **values)


@pytest.fixture
def store() -> InMemorySigningKeyStore:
    return InMemorySigningKeyStore()


@pytest.fixture
async def keys(store: InMemorySigningKeyStore) -> SigningKeys:
    """The user service's signing keys, as it keeps them (in memory here)."""
    signing_keys = new_keys(store)
    await signing_keys.start()
    return signing_keys


async def current_key(store: InMemorySigningKeyStore) -> StoredKey:
    return (await store.signing_keys())[-1]


async def mint(store: InMemorySigningKeyStore, **changes: Any) -> str:
    """A token signed with the newest stored key, with claims of the test's choosing (``None`` drops one)."""
    key = await current_key(store)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "anonymous-1",
        "ids": ["anonymous-1"],
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    private_key = serialization.load_pem_private_key(key.private_pem, password=None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    present = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(present, private_key, algorithm="ES256", headers={"kid": key.kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class UserStub:
    """The user service as the gateway sees it: publishes the JWKS of ``keys`` and echoes any other route."""

    keys: SigningKeys
    echo: EchoService
    jwks_fetches: int = 0
    status: int = 200
    delay_s: float = 0.0
    extra_keys: list[dict[str, Any]] = field(default_factory=list)

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return web.Response(status=self.status, text="database not available")
        document = await self.keys.jwks()
        return web.json_response({"keys": [*document["keys"], *self.extra_keys]})


@dataclass
class GuardedShop:
    gateway: RunningGateway
    client: httpx.AsyncClient
    upstream: EchoService
    user: UserStub

    async def get(self, path: str, token: str | None = None, *, cookie: bool = False) -> httpx.Response:
        headers: dict[str, str] = {}
        if token is not None:
            headers["Cookie" if cookie else "Authorization"] = (
                f"roboshop_session={token}" if cookie else f"Bearer {token}"
            )
        return await self.client.get(path, headers=headers)


@asynccontextmanager
async def guarded_shop(
    make_settings: MakeSettings, keys: SigningKeys, *, user_url: str | None = None, **overrides: Any
) -> AsyncIterator[GuardedShop]:
    """The gateway with the packaged route table; every service is one echoing upstream, except that the
    user service (unless ``user_url`` points elsewhere) also publishes the JWKS."""
    upstream = EchoService("shop")
    user = UserStub(keys, EchoService("user"))
    async with (
        WebServer(upstream.app()) as shop_server,
        WebServer(user.echo.app([web.get(JWKS_PATH, user.jwks)])) as user_server,
    ):
        peers = dict.fromkeys(("cart", "catalogue", "ratings", "shipping"), shop_server.url)
        peers["user"] = user_url or user_server.url
        values: dict[str, Any] = {"routes_file": packaged_routes_file(), "peers": peers}
        values.update(overrides)
        async with (
            running_gateway(make_settings(**values)) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
        ):
            yield GuardedShop(gateway, client, upstream, user)


def assert_unauthorised(response: httpx.Response, challenge: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == challenge


INVALID = 'Bearer realm="roboshop", error="invalid_token"'


# Who gets through -----------------------------------------------------------------------------------------


async def test_a_cart_route_without_a_session_is_401_with_a_bearer_challenge_and_never_reaches_the_cart(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    async with guarded_shop(make_settings, keys) as shop:
        response = await shop.get("/api/cart/cart/anonymous-1")
        head = await shop.client.head("/api/cart/cart/anonymous-1")
        confirm = await shop.client.post("/api/shipping/confirm/anonymous-1", json={"cost": 1})
    assert_unauthorised(response, 'Bearer realm="roboshop"')
    assert "needs a session" in response.json()["detail"]
    assert (head.status_code, confirm.status_code) == (401, 401)
    assert shop.upstream.seen == []
    assert shop.user.jwks_fetches == 0


@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
async def test_the_session_that_owns_the_cart_reaches_it_with_a_bearer_token_or_the_cookie(
    make_settings: MakeSettings, keys: SigningKeys, carrier: str
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys) as shop:
        response = await shop.get("/api/cart/add/anonymous-1/Watson/1", token, cookie=carrier == "cookie")
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/add/anonymous-1/Watson/1"
    seen = shop.upstream.seen[0]
    # The service sees the caller's credentials too: the user service extends the session on login.
    assert seen.header("cookie" if carrier == "cookie" else "authorization") == [
        f"roboshop_session={token}" if carrier == "cookie" else f"Bearer {token}"
    ]


async def test_another_shoppers_cart_is_403_naming_the_identity_the_session_does_not_own(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys) as shop:
        cart = await shop.get("/api/cart/cart/anonymous-2", token)
        update = await shop.get("/api/cart/update/anonymous-2/Watson/0", token)
        confirm = await shop.client.post(
            "/api/shipping/confirm/anonymous-2", json={"cost": 1}, headers={"Authorization": f"Bearer {token}"}
        )
    assert cart.status_code == 403
    assert cart.headers["content-type"] == PROBLEM
    assert cart.json()["detail"] == "this session does not own 'anonymous-2' ({id} in /api/cart/cart/{id})"
    assert "www-authenticate" not in cart.headers
    assert (update.status_code, confirm.status_code) == (403, 403)
    assert shop.upstream.seen == []


async def test_after_login_the_session_owns_its_anonymous_cart_and_the_user_name(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1", "user"])
    async with guarded_shop(make_settings, keys) as shop:
        rename = await shop.get("/api/cart/rename/anonymous-1/user", token)
        history = await shop.get("/api/user/history/user", token)
        stans = await shop.get("/api/user/history/stan", token)
        steal = await shop.get("/api/cart/rename/anonymous-2/user", token)
        give = await shop.get("/api/cart/rename/anonymous-1/stan", token)
    assert (rename.status_code, rename.json()["path"]) == (200, "/rename/anonymous-1/user")
    assert (history.status_code, history.json()["path"]) == (200, "/history/user")
    assert shop.user.echo.seen[0].raw_path == "/history/user"
    assert stans.status_code == 403
    assert "'anonymous-2' ({from} in " in steal.json()["detail"]
    assert "'stan' ({to} in " in give.json()["detail"]


async def test_identities_are_compared_after_percent_decoding_and_reach_the_service_as_written(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys) as shop:
        encoded = await shop.get("/api/cart/cart/anonymous%2D1", token)
        lookalike = await shop.get("/api/cart/cart/anonymous-1%20", token)
    assert encoded.status_code == 200
    assert shop.upstream.seen[0].raw_path == "/cart/anonymous%2D1"
    assert lookalike.status_code == 403


@pytest.mark.parametrize(
    "forgery",
    [
        "garbage",
        "expired",
        "alg-none",
        "alg-hs256",
        "wrong-audience",
        "wrong-issuer",
        "unknown-kid",
        "forged-signature",
        "no-identities",
    ],
)
async def test_a_token_that_must_not_be_trusted_is_401_invalid_token(
    make_settings: MakeSettings, keys: SigningKeys, store: InMemorySigningKeyStore, forgery: str
) -> None:
    token = await forged(keys, store, forgery)
    async with guarded_shop(make_settings, keys) as shop:
        response = await shop.get("/api/cart/cart/anonymous-1", token)
        by_cookie = await shop.get("/api/cart/cart/anonymous-1", token, cookie=True)
    assert_unauthorised(response, INVALID)
    assert response.json()["detail"].startswith("the session token is not valid: ")
    assert by_cookie.status_code == 401
    assert shop.upstream.seen == []


async def forged(keys: SigningKeys, store: InMemorySigningKeyStore, forgery: str) -> str:
    key = await current_key(store)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "anonymous-1", "ids": ["anonymous-1"], "iat": now}
    match forgery:
        case "garbage":
            return "not.a-token"
        case "expired":
            return await mint(store, iat=now - 7200, exp=now - 3600)
        case "alg-none":
            header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": key.kid}).encode())
            return f"{header}.{b64(json.dumps({**claims, 'exp': now + 60}).encode())}."
        case "alg-hs256":
            # The public key as an HMAC secret: the classic algorithm confusion (signed by hand, since PyJWT
            # itself refuses to).
            header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
            signing_input = f"{header}.{b64(json.dumps({**claims, 'exp': now + 60}).encode())}"
            secret = json.dumps(key.public_jwk).encode()
            return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
        case "wrong-audience":
            return await mint(store, aud="another-shop")
        case "wrong-issuer":
            return await mint(store, iss="someone-else")
        case "unknown-kid":
            stranger = new_keys()
            await stranger.start()
            return await stranger.issue(["anonymous-1"])
        case "forged-signature":
            # A genuine token for anonymous-2, its claims rewritten to own anonymous-1.
            header, _, signature = (await keys.issue(["anonymous-2"])).split(".")
            payload = b64(json.dumps({**claims, "exp": now + 3600}).encode())
            return f"{header}.{payload}.{signature}"
        case "no-identities":
            return await mint(store, ids=None)
    raise AssertionError(forgery)


async def test_a_route_that_needs_any_session_lets_every_valid_one_through(
    make_settings: MakeSettings, keys: SigningKeys, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "services:\n  cart:\n    routes:\n"
        '      - {methods: [GET], path: "/mine/{sku}", auth: session}\n'
        "      - {methods: [GET], path: /health}\n"
    )
    async with guarded_shop(make_settings, keys, routes_file=routes) as shop:
        anyone = await shop.get("/api/cart/mine/Watson", await keys.issue(["anonymous-9"]))
        nobody = await shop.get("/api/cart/mine/Watson")
        health = await shop.get("/api/cart/health")
    assert anyone.status_code == 200
    assert nobody.status_code == 401
    assert health.status_code == 200
    assert shop.user.jwks_fetches == 1


async def test_the_gateway_accepts_only_the_issuer_and_audience_it_is_configured_with(
    make_settings: MakeSettings, keys: SigningKeys, store: InMemorySigningKeyStore
) -> None:
    default = await keys.issue(["anonymous-1"])
    theirs = await mint(store, iss="partner-user", aud="partner-shop")
    async with guarded_shop(make_settings, keys, token_issuer="partner-user", token_audience="partner-shop") as shop:
        refused = await shop.get("/api/cart/cart/anonymous-1", default)
        accepted = await shop.get("/api/cart/cart/anonymous-1", theirs)
    assert (refused.status_code, accepted.status_code) == (401, 200)


def test_issuer_and_audience_come_from_the_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOSHOP_GATEWAY_TOKEN_ISSUER", "partner-user")
    monkeypatch.setenv("ROBOSHOP_GATEWAY_TOKEN_AUDIENCE", "partner-shop")
    settings = GatewaySettings()
    assert (settings.token_issuer, settings.token_audience) == ("partner-user", "partner-shop")
    monkeypatch.delenv("ROBOSHOP_GATEWAY_TOKEN_ISSUER")
    monkeypatch.delenv("ROBOSHOP_GATEWAY_TOKEN_AUDIENCE")
    assert (GatewaySettings().token_issuer, GatewaySettings().token_audience) == (ISSUER, AUDIENCE)


# Keys -----------------------------------------------------------------------------------------------------


async def test_after_a_key_rotation_tokens_of_the_old_and_the_new_key_are_both_accepted(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    old_token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys, jwks_min_refresh_interval_s=0, session_cache_ttl_s=0) as shop:
        before = await shop.get("/api/cart/cart/anonymous-1", old_token)
        await keys.rotate()
        new_token = await keys.issue(["anonymous-1"])
        new = await shop.get("/api/cart/cart/anonymous-1", new_token)
        old = await shop.get("/api/cart/cart/anonymous-1", old_token)
        published = await keys.jwks()
    assert jwt.get_unverified_header(old_token)["kid"] != jwt.get_unverified_header(new_token)["kid"]
    assert len(published["keys"]) == 2
    assert (before.status_code, new.status_code, old.status_code) == (200, 200, 200)
    # One fetch at first; the unknown kid of the new key fetched the rotated set once more.
    assert shop.user.jwks_fetches == 2


async def test_made_up_key_ids_do_not_turn_into_a_jwks_fetch_each(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    async with guarded_shop(make_settings, keys) as shop:
        await shop.get("/api/cart/cart/anonymous-1", await keys.issue(["anonymous-1"]))
        for _ in range(5):
            stranger = new_keys()
            await stranger.start()
            response = await shop.get("/api/cart/cart/anonymous-1", await stranger.issue(["anonymous-1"]))
            assert response.status_code == 401
    assert shop.user.jwks_fetches == 1


async def test_without_a_reachable_user_service_session_routes_are_503_and_public_routes_still_work(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys, user_url=f"http://127.0.0.1:{unused_port()}") as shop:
        cart = await shop.get("/api/cart/cart/anonymous-1", token)
        products = await shop.get("/api/catalogue/products")
    assert cart.status_code == 503
    assert cart.headers["content-type"] == PROBLEM
    assert "session keys are unavailable" in cart.json()["detail"]
    assert products.status_code == 200
    assert [seen.raw_path for seen in shop.upstream.seen] == ["/products"]


async def test_a_user_service_that_fails_to_publish_its_keys_gives_503(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys) as shop:
        shop.user.status = 500
        failing = await shop.get("/api/cart/cart/anonymous-1", token)
        shop.user.status = 200
        nobody = await shop.get("/api/cart/cart/anonymous-1")
    assert failing.status_code == 503
    # No token needs no keys: still a 401, whatever the keys do.
    assert nobody.status_code == 401


async def test_a_hanging_user_service_costs_a_session_request_no_more_than_the_jwks_deadline(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys, jwks_timeout_s=0.3) as shop:
        shop.user.delay_s = 5
        started = time.monotonic()
        answers = await asyncio.gather(*(shop.get("/api/cart/cart/anonymous-1", token) for _ in range(5)))
        elapsed = time.monotonic() - started
    assert [answer.status_code for answer in answers] == [503] * 5
    assert elapsed < 2.0
    assert shop.user.jwks_fetches == 1


async def test_keys_fetched_once_stay_in_use_while_the_user_service_is_down(
    make_settings: MakeSettings, keys: SigningKeys
) -> None:
    token = await keys.issue(["anonymous-1"])
    async with guarded_shop(make_settings, keys, jwks_max_age_s=0.05, session_cache_ttl_s=0) as shop:
        first = await shop.get("/api/cart/cart/anonymous-1", token)
        shop.user.status = 503
        await asyncio.sleep(0.1)  # the key set is now older than its max age
        later = await shop.get("/api/cart/cart/anonymous-1", token)
    assert (first.status_code, later.status_code) == (200, 200)
    assert shop.user.jwks_fetches == 2


# Logs and the hot path ------------------------------------------------------------------------------------


async def test_the_access_log_names_the_session_subject_and_never_the_token(
    make_settings: MakeSettings, keys: SigningKeys, store: InMemorySigningKeyStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = await keys.issue(["anonymous-1", "user"])
    async with guarded_shop(make_settings, keys) as shop:
        await shop.get("/api/user/history/user", token, cookie=True)
        await shop.get("/api/cart/cart/anonymous-1", await mint(store, aud="another-shop"))
    entries: list[Any] = [record for record in caplog.records if record.name == "roboshop.access"]
    assert [(entry.route, entry.status, getattr(entry, "user", None)) for entry in entries] == [
        ("/api/user/history/{name}", 200, "user"),
        ("/api/cart/cart/{id}", 401, None),
    ]
    signature = token.rsplit(".", 1)[1]
    assert all(signature not in json.dumps(vars(record), default=str) for record in caplog.records)


def test_public_routes_are_served_without_the_policy_in_between() -> None:
    router = compile_routes(
        parse_route_table(
            {
                "services": {
                    "cart": {
                        "routes": [
                            {"methods": ["GET"], "path": "/health"},
                            {"methods": ["GET"], "path": "/cart/{id}", "auth": "session", "owns": ["id"]},
                        ]
                    }
                }
            }
        ),
        default_timeout_s=5,
    )
    health, cart = router.routes

    async def proxy(ex: Exchange) -> None:
        return None

    policy = SessionPolicy(RefusingVerifier(), SessionCache(10, 10))
    assert policy.wrap(health, proxy) is proxy
    assert policy.wrap(cart, proxy) is not proxy


class RefusingVerifier:
    async def verify(self, token: str) -> Session:
        raise InvalidSession("no")


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        ([(b"authorization", b"Bearer abc.def.ghi")], "abc.def.ghi"),
        ([(b"authorization", b"bearer   abc ")], "abc"),
        ([(b"cookie", b"flavour=mint; roboshop_session=xyz; other=1")], "xyz"),
        ([(b"cookie", b"roboshop_session=")], None),
        ([(b"cookie", b"roboshop_session_old=nope")], None),
        ([(b"cookie", b"a=1"), (b"cookie", b"roboshop_session=second")], "second"),
        ([(b"authorization", b"Basic dXNlcjpwYXNz"), (b"cookie", b"roboshop_session=xyz")], "xyz"),
        ([(b"cookie", b"roboshop_session=xyz"), (b"authorization", b"Bearer abc")], "abc"),
    ],
)
def test_the_token_is_taken_from_bearer_first_then_the_session_cookie(
    headers: list[tuple[bytes, bytes]], token: str | None
) -> None:
    assert request_token(headers) == token


# The cache of verified sessions ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def session(expires_at: float) -> Session:
    return Session("anonymous-1", ("anonymous-1",), 0, int(expires_at))


def test_a_verified_session_is_remembered_for_the_cache_ttl_only() -> None:
    clock = Clock()
    cache = SessionCache(10, 100, clock=clock)
    cache.put("token", session(clock.now + 3600))
    clock.now += 9.9
    assert cache.get("token") is not None
    clock.now += 0.2
    assert cache.get("token") is None
    assert len(cache) == 0


def test_a_cached_session_is_never_used_past_its_expiry() -> None:
    clock = Clock()
    cache = SessionCache(60, 100, clock=clock)
    cache.put("token", session(clock.now + 5))
    clock.now += 5
    assert cache.get("token") is None
    cache.put("expired", session(clock.now - 1))
    assert len(cache) == 0


def test_the_cache_holds_a_bounded_number_of_sessions_dropping_the_oldest() -> None:
    clock = Clock()
    cache = SessionCache(60, 3, clock=clock)
    for name in ("a", "b", "c", "d"):
        cache.put(name, session(clock.now + 3600))
    assert len(cache) == 3
    assert cache.get("a") is None
    assert all(cache.get(name) is not None for name in ("b", "c", "d"))


def test_a_cache_ttl_of_zero_remembers_nothing() -> None:
    cache = SessionCache(0, 3)
    cache.put("token", session(time.time() + 3600))
    assert cache.get("token") is None
