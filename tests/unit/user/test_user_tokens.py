"""Verifying session tokens from a JWKS: what the gateway relies on, including every way to forge one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from roboshop.user.tokens import (
    COOKIE_NAME,
    InvalidSession,
    JwksKeyring,
    KeysUnavailable,
    Session,
    TokenVerifier,
    UnknownSigningKey,
    session_token,
)

from .support import FakeClock


class Signer:
    """A key pair the way the user service makes one, and tokens signed with it."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private_key = ec.generate_private_key(ec.SECP256R1())

    @property
    def jwk(self) -> dict[str, Any]:
        public = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def token(self, headers: Mapping[str, Any] | None = None, **changes: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "roboshop-user",
            "aud": "roboshop",
            "sub": "user",
            "ids": ["anonymous-1", "user"],
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(changes)
        claims = {key: value for key, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid, **(headers or {})})


def jwks(*signers: Signer) -> dict[str, Any]:
    return {"keys": [signer.jwk for signer in signers]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


@pytest.fixture
def signer() -> Signer:
    return Signer("key-1")


@pytest.fixture
def verifier(signer: Signer) -> TokenVerifier:
    return TokenVerifier(jwks(signer))


def test_a_token_signed_with_a_published_key_gives_its_session(signer: Signer, verifier: TokenVerifier) -> None:
    session = verifier.verify(signer.token())
    assert session.subject == "user"
    assert session.identities == ("anonymous-1", "user")
    assert session.expires_at - session.issued_at == 3600
    assert session.owns("anonymous-1")
    assert session.owns("user")
    assert not session.owns("stan")


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(verifier: TokenVerifier) -> None:
    forger = Signer("key-1")
    with pytest.raises(InvalidSession, match="InvalidSignature"):
        verifier.verify(forger.token())


def test_a_token_whose_claims_were_changed_after_signing_is_refused(signer: Signer, verifier: TokenVerifier) -> None:
    header, _, signature = signer.token().split(".")
    now = int(time.time())
    greedy = {"iss": "roboshop-user", "aud": "roboshop", "sub": "stan", "ids": ["stan"], "iat": now, "exp": now + 60}
    tampered = f"{header}.{b64(json.dumps(greedy).encode())}.{signature}"
    with pytest.raises(InvalidSession):
        verifier.verify(tampered)


def test_an_unsigned_token_alg_none_is_refused(signer: Signer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    claims = {"iss": "roboshop-user", "aud": "roboshop", "sub": "user", "ids": ["user"], "iat": now, "exp": now + 60}
    for alg in ("none", "None", "NONE"):
        with pytest.raises(InvalidSession, match="not accepted"):
            verifier.verify(unsigned({"alg": alg, "kid": signer.kid, "typ": "JWT"}, claims) + ".")


@pytest.mark.parametrize("header", [{"alg": ["ES256"]}, {"alg": "ES384"}, {"alg": "RS256"}, {}])
def test_a_token_naming_another_or_no_algorithm_is_refused(
    signer: Signer, verifier: TokenVerifier, header: dict[str, Any]
) -> None:
    now = int(time.time())
    claims = {"iss": "roboshop-user", "aud": "roboshop", "sub": "user", "ids": ["user"], "iat": now, "exp": now + 60}
    signing_input = unsigned({**header, "kid": signer.kid}, claims)
    with pytest.raises(InvalidSession, match="not accepted"):
        verifier.verify(f"{signing_input}.{b64(b'signature')}")


def test_a_token_with_a_critical_extension_nobody_understands_is_refused(
    signer: Signer, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidSession):
        verifier.verify(signer.token(headers={"crit": ["exp-future"], "exp-future": True}))


def test_an_hmac_token_keyed_with_the_public_key_is_refused(signer: Signer, verifier: TokenVerifier) -> None:
    # The classic algorithm confusion: HS256 with the verifier's public key as the shared secret.
    now = int(time.time())
    claims = {"iss": "roboshop-user", "aud": "roboshop", "sub": "user", "ids": ["user"], "iat": now, "exp": now + 60}
    public_pem = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = unsigned({"alg": "HS256", "kid": signer.kid, "typ": "JWT"}, claims)
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidSession, match="not accepted"):
        verifier.verify(f"{signing_input}.{b64(mac)}")


def test_an_expired_token_is_refused_after_the_leeway(signer: Signer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    with pytest.raises(InvalidSession, match="expired"):
        verifier.verify(signer.token(iat=now - 7200, exp=now - 60))
    assert verifier.verify(signer.token(iat=now - 7200, exp=now - 5)).subject == "user"


def test_a_verifier_judges_times_by_its_own_clock(signer: Signer) -> None:
    now = int(time.time())
    token = signer.token(iat=now, exp=now + 3600)
    assert TokenVerifier(jwks(signer), clock=lambda: now + 3600 + 30).verify(token).subject == "user"
    with pytest.raises(InvalidSession, match="expired"):
        TokenVerifier(jwks(signer), clock=lambda: now + 3600 + 31).verify(token)
    with pytest.raises(InvalidSession, match="not valid yet"):
        TokenVerifier(jwks(signer), clock=lambda: now - 31).verify(token)


def test_a_token_issued_in_the_future_is_refused(signer: Signer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    with pytest.raises(InvalidSession, match="not valid yet"):
        verifier.verify(signer.token(iat=now + 600, exp=now + 4200))
    with pytest.raises(InvalidSession, match="not valid yet"):
        verifier.verify(signer.token(nbf=now + 600))


@pytest.mark.parametrize(("claim", "value"), [("aud", "someone-else"), ("aud", ["a", "b"]), ("iss", "evil")])
def test_a_token_for_another_audience_or_from_another_issuer_is_refused(
    signer: Signer, verifier: TokenVerifier, claim: str, value: object
) -> None:
    with pytest.raises(InvalidSession):
        verifier.verify(signer.token(**{claim: value}))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
def test_a_token_without_a_required_claim_is_refused(signer: Signer, verifier: TokenVerifier, claim: str) -> None:
    with pytest.raises(InvalidSession, match="MissingRequiredClaim"):
        verifier.verify(signer.token(**{claim: None}))


@pytest.mark.parametrize(
    "changes",
    [
        {"ids": None},
        {"ids": "user"},
        {"ids": ["user", 7]},
        {"ids": ["anonymous-1"], "sub": "user"},
        {"exp": float(time.time() + 60)},
        {"iat": True},
        {"nbf": "soon"},
    ],
)
def test_a_token_with_malformed_identities_or_times_is_refused(
    signer: Signer, verifier: TokenVerifier, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidSession):
        verifier.verify(signer.token(**changes))


def test_a_token_naming_an_unknown_key_says_so(verifier: TokenVerifier) -> None:
    with pytest.raises(UnknownSigningKey, match="key-2"):
        verifier.verify(Signer("key-2").token())


def test_a_token_without_a_kid_is_refused(signer: Signer, verifier: TokenVerifier) -> None:
    token = jwt.encode({"sub": "user"}, signer.private_key, algorithm="ES256")
    with pytest.raises(InvalidSession, match="kid"):
        verifier.verify(token)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "x" * 9000])
def test_garbage_is_refused_as_an_invalid_session(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(InvalidSession):
        verifier.verify(garbage)


def test_a_jwks_key_for_another_algorithm_or_with_private_members_is_ignored(signer: Signer) -> None:
    other = Signer("key-2")
    leaked = Signer("key-3")
    private = ECAlgorithm.to_jwk(leaked.private_key, as_dict=True)
    document = {
        "keys": [
            signer.jwk,
            {**other.jwk, "alg": "ES384"},
            {**private, "kid": "key-3", "alg": "ES256"},
            {"kid": "key-4", "alg": "ES256", "kty": "EC"},
            "junk",
        ]
    }
    verifier = TokenVerifier(document)
    assert verifier.key_ids == {"key-1"}


def test_a_jwks_without_a_key_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="keys"):
        TokenVerifier({"kty": "EC"})


def test_the_token_comes_from_a_bearer_header_before_the_cookie() -> None:
    assert session_token({COOKIE_NAME: "from-cookie"}, "Bearer from-header") == "from-header"
    assert session_token({COOKIE_NAME: "from-cookie"}, "bearer  from-header ") == "from-header"
    assert session_token({COOKIE_NAME: "from-cookie"}, None) == "from-cookie"
    assert session_token({COOKIE_NAME: "from-cookie"}, "Basic dXNlcjpwYXNz") == "from-cookie"
    assert session_token({}, "Bearer ") is None
    assert session_token({"other": "x"}, None) is None


class JwksServer:
    """Stands in for GET /.well-known/jwks.json, counting fetches."""

    def __init__(self, *signers: Signer) -> None:
        self.signers = list(signers)
        self.fetches = 0
        self.failing = False

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0)
        if self.failing:
            raise ConnectionError("user service down")
        return jwks(*self.signers)


def keyring(server: JwksServer, clock: FakeClock) -> JwksKeyring:
    return JwksKeyring(server.fetch, max_age_s=300, min_refresh_interval_s=5, clock=clock)


async def test_the_keyring_fetches_once_and_verifies_from_its_cache(signer: Signer, clock: FakeClock) -> None:
    server = JwksServer(signer)
    ring = keyring(server, clock)
    results = await asyncio.gather(*(ring.verify(signer.token()) for _ in range(10)))
    assert all(isinstance(session, Session) for session in results)
    assert server.fetches == 1
    clock.advance(301)
    await ring.verify(signer.token())
    assert server.fetches == 2


async def test_the_keyring_keeps_verifying_through_a_key_rotation(signer: Signer, clock: FakeClock) -> None:
    server = JwksServer(signer)
    ring = keyring(server, clock)
    before_rotation = signer.token()
    await ring.verify(before_rotation)
    clock.advance(10)
    successor = Signer("key-2")
    server.signers.append(successor)  # the user service publishes the new key next to the old one
    assert (await ring.verify(successor.token())).subject == "user"
    assert (await ring.verify(before_rotation)).subject == "user"
    assert server.fetches == 2


async def test_the_keyring_refetches_for_unknown_kids_at_most_once_per_interval(
    signer: Signer, clock: FakeClock
) -> None:
    server = JwksServer(signer)
    ring = keyring(server, clock)
    await ring.verify(signer.token())
    clock.advance(10)
    for number in range(20):
        with pytest.raises(UnknownSigningKey):
            await ring.verify(Signer(f"made-up-{number}").token())
    assert server.fetches == 2


async def test_the_keyring_keeps_its_last_keys_while_the_user_service_is_down(signer: Signer, clock: FakeClock) -> None:
    server = JwksServer(signer)
    ring = keyring(server, clock)
    await ring.verify(signer.token())
    server.failing = True
    clock.advance(301)
    assert (await ring.verify(signer.token())).subject == "user"
    assert server.fetches == 2
    # The failed refresh is retried soon, not after another full max age.
    server.failing = False
    clock.advance(6)
    await ring.verify(signer.token())
    assert server.fetches == 3


async def test_the_keyring_without_any_keys_reports_them_unavailable(signer: Signer, clock: FakeClock) -> None:
    server = JwksServer(signer)
    server.failing = True
    with pytest.raises(KeysUnavailable):
        await keyring(server, clock).verify(signer.token())
