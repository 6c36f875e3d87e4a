"""Verifying RoboShop session tokens against the user service's published keys (JWKS).

This module has no web framework and no HTTP client, so the gateway (or any service) can reuse it: give
:class:`TokenVerifier` a JWKS document, or give :class:`JwksKeyring` a coroutine that fetches one.

A session token is a JWT (RFC 7519) signed by the user service with an asymmetric key named by ``kid``.
Following RFC 8725 the algorithm is pinned (``ES256``; the header's ``alg`` must name it and match the key),
and ``iss``, ``aud``, ``exp``, ``iat`` and ``sub`` are required. ``ids`` lists every identity the session owns
(its anonymous ids and, after login, the user name); ``sub`` is the primary one and is always in ``ids``.

    InvalidSession            the token must not be trusted (answer 401, or treat as no session)
     +-- UnknownSigningKey    its ``kid`` is not in the key set (refresh the JWKS once, then give up)
    KeysUnavailable           no key set could be fetched at all (answer 503: not the caller's fault)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS: tuple[str, ...] = ("ES256",)
COOKIE_NAME = "roboshop_session"
JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_ISSUER = "roboshop-user"
DEFAULT_AUDIENCE = "roboshop"
LEEWAY_S = 30.0
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp")
MAX_TOKEN_LENGTH = 8192


class InvalidSession(Exception):
    """The token is malformed, forged, expired or meant for someone else."""


class UnknownSigningKey(InvalidSession):
    """The token names a key the verifier does not have (maybe a key newer than its JWKS)."""


class KeysUnavailable(Exception):
    """No key set is known and none could be fetched."""


@dataclass(frozen=True, slots=True)
class Session:
    """Who a verified token speaks for."""

    subject: str
    identities: tuple[str, ...]
    issued_at: int
    expires_at: int

    def owns(self, identity: str) -> bool:
        """Whether this session may act as ``identity`` (a cart id, a user name)."""
        return identity in self.identities


class TokenVerifier:
    """Verifies tokens against one JWKS document, accepting only the pinned algorithms."""

    def __init__(
        self,
        jwks: Mapping[str, Any],
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway_s: float = LEEWAY_S,
        algorithms: Iterable[str] = ALGORITHMS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._algorithms = frozenset(algorithms)
        self._clock = clock
        self._keys = _usable_keys(jwks, self._algorithms)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, token: str) -> Session:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidSession("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidSession("malformed token") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise InvalidSession(f"algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidSession("token names no key (kid)")
        key = self._keys.get(kid)
        if key is None:
            raise UnknownSigningKey(f"unknown signing key {kid!r}")
        if key.algorithm_name != algorithm:
            raise InvalidSession("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                # The times are checked below against this verifier's clock (PyJWT reads the system's).
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidSession(f"token rejected: {type(exc).__name__}") from exc
        return self._session(claims)

    def _session(self, claims: Mapping[str, Any]) -> Session:
        subject = claims["sub"]
        identities = claims.get("ids")
        issued_at, expires_at = claims["iat"], claims["exp"]
        if not isinstance(identities, list) or not all(isinstance(i, str) and i for i in identities):
            raise InvalidSession("token has no valid identity list (ids)")
        if not isinstance(subject, str) or subject not in identities:
            raise InvalidSession("token subject is not one of its identities")
        not_before = claims.get("nbf", issued_at)
        if not all(type(moment) is int for moment in (issued_at, expires_at, not_before)):
            raise InvalidSession("token times are not integers")
        now = self._clock()
        if now > expires_at + self._leeway_s:
            raise InvalidSession("token expired")
        if max(issued_at, not_before) > now + self._leeway_s:
            raise InvalidSession("token not valid yet (issued in the future)")
        return Session(subject, tuple(identities), issued_at, expires_at)


class JwksKeyring:
    """Verifies with a JWKS fetched on demand and cached.

    The cache is refreshed when it is older than ``max_age_s``, and when a token names an unknown ``kid``
    (a key rotation: the user service publishes the new key before or as it starts signing with it), but
    such forced refreshes happen at most once per ``min_refresh_interval_s``, so tokens with made-up ``kid``s
    cannot turn into a flood of fetches. A failed refresh keeps the last good key set.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Mapping[str, Any]]],
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway_s: float = LEEWAY_S,
        max_age_s: float = 300.0,
        min_refresh_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._max_age_s = max_age_s
        self._min_refresh_interval_s = min_refresh_interval_s
        self._clock = clock
        self._verifier: TokenVerifier | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Session:
        verifier = await self._current()
        try:
            return verifier.verify(token)
        except UnknownSigningKey:
            if self._clock() - self._fetched_at < self._min_refresh_interval_s:
                raise
            verifier = await self._refresh(stale_after=self._min_refresh_interval_s)
            return verifier.verify(token)

    async def _current(self) -> TokenVerifier:
        if self._verifier is not None and self._clock() - self._fetched_at < self._max_age_s:
            return self._verifier
        return await self._refresh(stale_after=self._max_age_s)

    async def _refresh(self, *, stale_after: float) -> TokenVerifier:
        async with self._lock:
            # Another caller may have refreshed while this one waited for the lock.
            if self._verifier is not None and self._clock() - self._fetched_at < stale_after:
                return self._verifier
            try:
                jwks = await self._fetch()
                verifier = TokenVerifier(jwks, issuer=self._issuer, audience=self._audience, leeway_s=self._leeway_s)
            except Exception as exc:
                if self._verifier is None:
                    raise KeysUnavailable(f"could not fetch the session keys: {type(exc).__name__}") from exc
                # Keep the last good keys; try again after the short interval, not the long one.
                self._fetched_at = self._clock() - self._max_age_s + self._min_refresh_interval_s
                return self._verifier
            self._verifier = verifier
            self._fetched_at = self._clock()
            return verifier


def session_token(cookies: Mapping[str, str], authorization: str | None) -> str | None:
    """The token a request carries: ``Authorization: Bearer <token>`` first, else the session cookie."""
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    token = cookies.get(COOKIE_NAME)
    return token or None


def _usable_keys(jwks: Mapping[str, Any], algorithms: frozenset[str]) -> dict[str, jwt.PyJWK]:
    """The keys of a JWKS that may verify session tokens, by ``kid``; any other key is ignored."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS needs a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, algorithm = entry.get("kid"), entry.get("alg")
        if not isinstance(kid, str) or algorithm not in algorithms or entry.get("use", "sig") != "sig":
            continue
        if any(field in entry for field in ("d", "p", "q")):
            continue  # a private key has no business in a JWKS; never trust one
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm)
        except jwt.PyJWTError:
            continue
    return keys
