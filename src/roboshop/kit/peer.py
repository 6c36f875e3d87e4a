"""The HTTP client services use to call each other.

Each call names a service, not a host, and carries this deployment's service credential. The client picks an
instance through discovery, enforces one deadline for the whole call (retries included), propagates request and
correlation ids and the W3C trace context (one client span per attempt), retries an idempotent call that could not
connect (on another instance, after a short jittered backoff, at most ``attempts`` times in all), reports the failed
instance to discovery, and keeps a circuit breaker per peer service so a dead peer fails fast.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from roboshop.kit import context
from roboshop.kit.breaker import CircuitBreaker
from roboshop.kit.discovery import Discovery, Instance
from roboshop.kit.errors import PeerError, PeerTimeout, PeerUnavailable
from roboshop.kit.internal import INTERNAL_TOKEN_HEADER

log = logging.getLogger("roboshop.peer")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
FAILURE_STATUSES = frozenset({502, 503, 504})
BACKOFF_S = (0.02, 0.1)


@dataclass(frozen=True)
class PeerResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class PeerClient:
    def __init__(
        self,
        discovery: Discovery,
        *,
        timeout_s: float = 5.0,
        attempts: int = 2,
        breaker_threshold: int = 5,
        breaker_reset_s: float = 5.0,
        internal_token: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.discovery = discovery
        self._tracer = tracer
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._breaker_threshold = breaker_threshold
        self._breaker_reset_s = breaker_reset_s
        self.breakers: dict[str, CircuitBreaker] = {}
        self._credential = {INTERNAL_TOKEN_HEADER: internal_token} if internal_token else {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=100, limit_per_host=50, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(connector=connector, json_serialize=lambda o: orjson.dumps(o).decode())
        await self.discovery.start(self._session)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "PeerClient.start() was not called"
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def breaker(self, service: str) -> CircuitBreaker:
        found = self.breakers.get(service)
        if found is None:
            found = CircuitBreaker(self._breaker_threshold, self._breaker_reset_s)
            self.breakers[service] = found
        return found

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> PeerResponse:
        """Call ``path`` on an instance of ``service``; any HTTP status is returned, not raised."""
        method = method.upper()
        breaker = self.breaker(service)
        if not breaker.allow():
            raise PeerUnavailable(
                f"{service} is failing; calls are paused for {breaker.retry_after_s():.1f}s (circuit open)"
            )
        attempts = self._attempts if method in IDEMPOTENT_METHODS else 1
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        sent_headers = _context_headers() | (headers or {}) | self._credential
        last_error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(random.uniform(*BACKOFF_S))  # noqa: S311 - jitter, not crypto
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                instance = await self.discovery.pick(service)
            except PeerUnavailable:
                breaker.record_failure()
                raise
            span = self._start_span(service, method, instance, attempt)
            try:
                with trace.use_span(span, end_on_exit=True):
                    attempt_headers = dict(sent_headers)
                    propagate.inject(attempt_headers)
                    async with self.session.request(
                        method,
                        instance.url + path,
                        json=json,
                        headers=attempt_headers,
                        timeout=aiohttp.ClientTimeout(total=remaining),
                    ) as response:
                        body = await response.read()
                    span.set_attribute("http.response.status_code", response.status)
                    if response.status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
            except TimeoutError as exc:
                breaker.record_failure()
                raise PeerTimeout(f"{service} did not answer {method} {path} in time") from exc
            except aiohttp.ClientConnectionError as exc:
                last_error = exc
                self.discovery.report_failure(instance)
                log.warning("peer connection failed", extra={"peer": service, "instance": instance.id})
                continue
            except aiohttp.ClientError as exc:
                # It answered, but not with a whole HTTP response (a truncated body, a malformed header).
                breaker.record_failure()
                raise PeerError(f"{service} answered {method} {path} badly: {exc}") from exc
            if response.status in FAILURE_STATUSES:
                breaker.record_failure()
            else:
                breaker.record_success()
            return PeerResponse(response.status, response.headers, body)
        breaker.record_failure()
        if last_error is None:
            raise PeerTimeout(f"{service} did not answer {method} {path} in time")
        raise PeerError(f"could not reach {service} for {method} {path}: {last_error}") from last_error

    def _start_span(self, service: str, method: str, instance: Instance, attempt: int) -> trace.Span:
        if self._tracer is None:
            return trace.INVALID_SPAN
        # Named by peer service, not path: paths carry ids (the path stays out of the attributes for the same reason).
        span = self._tracer.start_span(
            f"{method} {service}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "peer.service": service,
                "server.address": instance.address,
                "server.port": instance.port,
            },
        )
        if attempt:
            span.set_attribute("http.request.resend_count", attempt)
        return span

    async def get(self, service: str, path: str, **kwargs: Any) -> PeerResponse:
        return await self.request(service, "GET", path, **kwargs)

    async def post(self, service: str, path: str, **kwargs: Any) -> PeerResponse:
        return await self.request(service, "POST", path, **kwargs)

    async def put(self, service: str, path: str, **kwargs: Any) -> PeerResponse:
        return await self.request(service, "PUT", path, **kwargs)

    async def delete(self, service: str, path: str, **kwargs: Any) -> PeerResponse:
        return await self.request(service, "DELETE", path, **kwargs)


def _context_headers() -> dict[str, str]:
    headers: dict[str, str] = {}
    request_id = context.request_id.get()
    correlation = context.correlation_id.get()
    if request_id:
        headers["X-Request-ID"] = request_id
    if correlation:
        headers["X-Correlation-ID"] = correlation
    return headers
