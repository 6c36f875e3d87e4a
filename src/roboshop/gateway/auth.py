"""Session authorisation: who may call a route with ``auth: session``.

The caller's session token comes from ``Authorization: Bearer`` or the ``roboshop_session`` cookie (what a
browser or a Locust client keeps). It is verified against the JWKS the user service publishes, fetched
through the gateway's own discovery and upstream session, so no secret is shared. A route's ``owns``
parameters must each name an identity the session owns, after percent-decoding (the service decodes the
path the same way, so both see the same identity).

    no token, or a token that is malformed, forged, expired or meant for someone else   401 + WWW-Authenticate
    a valid session that does not own an identity the path names                       403, naming it
    no key set could be fetched                                                          503

Verifying ES256 costs more than the rest of the gateway's work on a request, so a verified token is
remembered for a short while (bounded in number, never past its ``exp``); the keyring behind it caches
the keys. Public routes are not wrapped at all. Tokens and cookies are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp
import orjson

from roboshop.gateway.exchange import Exchange, Handler
from roboshop.gateway.routing import SESSION, Route
from roboshop.gateway.settings import GatewaySettings
from roboshop.kit.discovery import Discovery
from roboshop.kit.errors import PeerUnavailable
from roboshop.user.tokens import (
    COOKIE_NAME,
    JWKS_PATH,
    InvalidSession,
    JwksKeyring,
    KeysUnavailable,
    Session,
    session_token,
)

log = logging.getLogger("roboshop.gateway")

_COOKIE_NAME = COOKIE_NAME.encode("ascii")
_CHALLENGE = b'Bearer realm="roboshop"'
_INVALID_TOKEN_CHALLENGE = b'Bearer realm="roboshop", error="invalid_token"'
_MAX_SHOWN = 100
JWKS_ATTEMPTS = 2


class SessionVerifier(Protocol):
    async def verify(self, token: str) -> Session:
        """The session ``token`` speaks for; raises InvalidSession or KeysUnavailable."""
        ...


class SessionCache:
    """Verified sessions by token string, each for at most ``ttl_s`` and never past its expiry.

    Bounded: when full, the entry stored first goes. A token is only ever found by itself, so the cache
    cannot hand one caller's session to another.
    """

    def __init__(self, ttl_s: float, max_entries: int, *, clock: Callable[[], float] = time.time) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Session, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Session | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        session, valid_until = entry
        if self._clock() >= valid_until:
            del self._entries[token]
            return None
        return session

    def put(self, token: str, session: Session) -> None:
        if self._ttl_s <= 0:
            return
        valid_until = min(self._clock() + self._ttl_s, float(session.expires_at))
        if valid_until <= self._clock():
            return
        if token not in self._entries and len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[token] = (session, valid_until)


class JwksUnavailable(Exception):
    """The JWKS could not be fetched from any instance of the keys service."""


class JwksSource:
    """Fetches the JWKS from an instance of the keys service, found through the gateway's discovery.

    One deadline covers a fetch, including a second attempt on another instance after a refused
    connection. After a failure, fetches fail at once for ``quiet_s``: while the user service is down,
    requests waiting on the keyring's lock must not each wait out a deadline of their own.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        discovery: Discovery,
        *,
        service: str,
        timeout_s: float,
        connect_timeout_s: float,
        quiet_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._discovery = discovery
        self._service = service
        self._timeout_s = timeout_s
        self._request_timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._quiet_s = quiet_s
        self._clock = clock
        self._quiet_until = float("-inf")

    async def __call__(self) -> Mapping[str, Any]:
        if self._clock() < self._quiet_until:
            raise JwksUnavailable(f"the last fetch from {self._service} failed a moment ago")
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._fetch()
        except Exception as exc:
            self._quiet_until = self._clock() + self._quiet_s
            log.warning("session keys unavailable", extra={"upstream": self._service, "error": _error(exc)})
            raise

    async def _fetch(self) -> Mapping[str, Any]:
        failure: Exception | None = None
        for _ in range(JWKS_ATTEMPTS):
            try:
                instance = await self._discovery.pick(self._service)
            except PeerUnavailable:
                if failure is None:
                    raise
                break
            try:
                async with self._session.get(instance.url + JWKS_PATH, timeout=self._request_timeout) as response:
                    if response.status != 200:
                        raise JwksUnavailable(f"{self._service} answered {response.status} for {JWKS_PATH}")
                    body = await response.read()
            except aiohttp.ClientConnectionError as exc:
                self._discovery.report_failure(instance)
                failure = exc
                continue
            document = orjson.loads(body)
            if not isinstance(document, dict):
                raise JwksUnavailable(f"{self._service} answered {JWKS_PATH} with something other than a JWKS")
            return document
        raise JwksUnavailable(f"could not reach {self._service} for {JWKS_PATH}") from failure


class SessionPolicy:
    """Wraps the routes with ``auth: session``; every other route keeps its handler untouched."""

    def __init__(self, verifier: SessionVerifier, cache: SessionCache) -> None:
        self._verifier = verifier
        self._cache = cache

    def wrap(self, route: Route, handler: Handler) -> Handler:
        if route.auth != SESSION:
            return handler
        label = route.label

        async def authorised(ex: Exchange) -> None:
            session = await self._session(ex)
            if session is None:
                return
            for param, identity in route.owned(ex.rest):
                if not session.owns(identity):
                    shown = identity if len(identity) <= _MAX_SHOWN else identity[:_MAX_SHOWN] + "..."
                    await ex.problem(403, f"this session does not own {shown!r} ({{{param}}} in {label})")
                    return
            ex.user = session.subject
            await handler(ex)

        return authorised

    async def _session(self, ex: Exchange) -> Session | None:
        """The caller's verified session; ``None`` once the refusal has been answered."""
        token = request_token(ex.scope["headers"])
        if token is None:
            await ex.problem(
                401,
                "this route needs a session: send the roboshop_session cookie or Authorization: Bearer",
                [(b"www-authenticate", _CHALLENGE)],
            )
            return None
        session = self._cache.get(token)
        if session is not None:
            return session
        try:
            session = await self._verifier.verify(token)
        except InvalidSession as exc:
            reason = str(exc)[:200]
            await ex.problem(
                401, f"the session token is not valid: {reason}", [(b"www-authenticate", _INVALID_TOKEN_CHALLENGE)]
            )
            return None
        except KeysUnavailable:
            await ex.problem(503, "sessions cannot be verified right now: the session keys are unavailable")
            return None
        self._cache.put(token, session)
        return session


def request_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The session token of a request's raw headers: Bearer first, else the first ``roboshop_session`` cookie."""
    authorization: str | None = None
    cookie: str | None = None
    for name, value in headers:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"cookie" and cookie is None:
            cookie = _session_cookie(value)
    return session_token({COOKIE_NAME: cookie} if cookie else {}, authorization)


def _session_cookie(header: bytes) -> str | None:
    for pair in header.split(b";"):
        name, separator, value = pair.partition(b"=")
        if separator and name.strip() == _COOKIE_NAME:
            return value.strip().decode("latin-1") or None
    return None


def session_policy(settings: GatewaySettings, session: aiohttp.ClientSession, discovery: Discovery) -> SessionPolicy:
    """The gateway's session policy: one keyring over the JWKS the keys service publishes."""
    source = JwksSource(
        session,
        discovery,
        service=settings.session_keys_service,
        timeout_s=settings.jwks_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
    )
    keyring = JwksKeyring(
        source,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        max_age_s=settings.jwks_max_age_s,
        min_refresh_interval_s=settings.jwks_min_refresh_interval_s,
    )
    return SessionPolicy(keyring, SessionCache(settings.session_cache_ttl_s, settings.session_cache_size))


def _error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
