"""Forwarding a matched request to an instance of its service, found through discovery.

The request keeps its method, raw path (after the ``/api/<service>`` prefix), raw query string, body and
end-to-end headers; hop-by-hop headers are dropped both ways (RFC 9110 section 7.6.1). The gateway never
holds a whole large body in memory.

A body that arrives in one piece is sent as bytes; a larger one is streamed from ASGI ``receive`` to the
upstream connection as it comes, and the response goes back chunk by chunk.

The instance comes from the :class:`~roboshop.gateway.balancer.Balancer` (round robin or least outstanding,
outlier ejection, a circuit breaker per service). A connection failure on an idempotent method is reported to
discovery and retried on another instance, within the retry budget, after a jittered backoff (not with a
streamed body, which cannot be sent twice). Every attempt carries ``X-RoboShop-Deadline-Ms``, the time left
of the route's deadline, which also bounds the attempt. Failures answer problem+json: no instance or an
open circuit 503, connection or protocol failure 502, deadline 504, body over the limit 413.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
from yarl import URL

from roboshop.gateway.balancer import Balancer, RetryBudget
from roboshop.gateway.exchange import Exchange
from roboshop.gateway.faults import Fault, Faults
from roboshop.gateway.metrics import GatewayMetrics
from roboshop.gateway.routing import IDEMPOTENT_METHODS
from roboshop.kit import tracing
from roboshop.kit.breaker import CircuitBreaker
from roboshop.kit.discovery import Instance
from roboshop.kit.errors import PeerUnavailable

log = logging.getLogger("roboshop.gateway")

HOP_BY_HOP: Final = frozenset({b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"})
# Replaced by the gateway on the way up: Host is the upstream's, X-Forwarded-* and X-Request-ID are ours,
# Expect is answered by the gateway's own server, not by the upstream, and a client never passes on a
# service credential (X-RoboShop-Internal-Token): only services send it, to each other.
_REPLACED_UP: Final = frozenset(
    {
        b"host",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"expect",
        b"x-roboshop-internal-token",
        b"x-roboshop-deadline-ms",
        b"x-roboshop-user",
        b"traceparent",
        b"tracestate",
    }
)
_TRACE_HEADERS: Final = frozenset({b"traceparent", b"tracestate"})
# The time left of the request's deadline when it is sent up, so a service can give up when nobody waits.
DEADLINE_HEADER: Final = "X-RoboShop-Deadline-Ms"
RETRY_AFTER: Final = b"retry-after"
# Answers that say the instance (or what is behind it) failed, not the request: outliers and breakers count them.
_GATEWAY_FAILURES: Final = frozenset({502, 503, 504})
# The gateway's server adds its own Date, and the gateway its own X-Request-ID.
_REPLACED_DOWN: Final = frozenset({b"date", b"x-request-id"})
# The gateway sets these itself: aiohttp must not invent a User-Agent, Accept, Accept-Encoding or Content-Type.
_NO_AUTO_HEADERS: Final = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def _hop_by_hop(name: bytes) -> bool:
    return name in HOP_BY_HOP or name.startswith(b"proxy-")


def _connection_tokens(value: bytes) -> set[bytes]:
    """Header names a Connection header declares hop-by-hop (beyond the fixed ones)."""
    return {token.strip().lower() for token in value.split(b",")} - HOP_BY_HOP - {b"close", b""}


class UpstreamRequest:
    """What the gateway sends up, built in one pass over the client's headers."""

    __slots__ = ("body", "chunked", "content_length", "headers", "streamed")

    def __init__(self, ex: Exchange) -> None:
        self.body: bytes | AsyncIterator[bytes] | None = None
        self.streamed: StreamedBody | None = None
        scope = ex.scope
        headers: list[tuple[str, str]] = []
        connection: bytes | None = None
        forwarded_for: bytes | None = None
        host: bytes | None = None
        trace_headers: list[tuple[str, str]] = []  # passed on as they came only when the gateway does not trace
        self.content_length: bytes | None = None
        self.chunked = False
        for name, value in scope["headers"]:
            if _hop_by_hop(name):
                if name == b"connection":
                    connection = value if connection is None else connection + b"," + value
                elif name == b"transfer-encoding":
                    self.chunked = True
                continue
            if name in _REPLACED_UP:
                if name in _TRACE_HEADERS:
                    trace_headers.append((name.decode("latin-1"), value.decode("latin-1")))
                elif name == b"host":
                    host = value
                elif name == b"x-forwarded-for":
                    forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
                continue
            if name == b"content-length":
                self.content_length = value
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if connection is not None and (tokens := _connection_tokens(connection)):
            headers = [(name, value) for name, value in headers if name.encode("latin-1") not in tokens]
            if b"content-length" in tokens:
                self.content_length = None
        client = scope.get("client")
        if client:
            address = client[0].encode("latin-1")
            forwarded_for = address if forwarded_for is None else forwarded_for + b", " + address
        if forwarded_for is not None:
            headers.append(("X-Forwarded-For", forwarded_for.decode("latin-1")))
        headers.append(("X-Forwarded-Proto", scope.get("scheme", "http")))
        if host is not None:
            headers.append(("X-Forwarded-Host", host.decode("latin-1")))
        headers.append(("X-Request-ID", ex.request_id))
        if ex.user is not None:
            # Only the gateway says who the caller is (services log it); a client's own claim was dropped above.
            headers.append(("X-RoboShop-User", ex.user))
        # The upstream's parent is the gateway's span (itself a child of the caller's traceparent, if any).
        carrier: dict[str, str] = {}
        tracing.inject(carrier)
        if carrier:
            headers.extend(carrier.items())
        elif trace_headers:
            headers.extend(trace_headers)
        self.headers = headers


def downstream_headers(raw_headers: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    connection: bytes | None = None
    for name, value in raw_headers:
        lower = name.lower()
        if _hop_by_hop(lower):
            if lower == b"connection":
                connection = value if connection is None else connection + b"," + value
            continue
        if lower not in _REPLACED_DOWN:
            headers.append((lower, value))
    if connection is not None and (tokens := _connection_tokens(connection)):
        headers = [(name, value) for name, value in headers if name not in tokens]
    return headers


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class StreamedBody:
    """The rest of a request body, pulled from ASGI ``receive`` as the upstream connection takes it."""

    __slots__ = ("_first", "_limit", "_receive", "client_gone", "received", "too_large")

    def __init__(self, ex: Exchange, first: bytes, limit: int) -> None:
        self._receive = ex.receive
        self._first = first
        self._limit = limit
        self.received = len(first)
        self.too_large = False
        self.client_gone = False

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._first:
            yield self._first
        more = True
        while more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                raise _ClientGone
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            self.received += len(chunk)
            if self.received > self._limit:
                self.too_large = True
                raise _BodyTooLarge
            if chunk:
                yield chunk


def create_session(*, pool_size: int, keepalive_s: float) -> aiohttp.ClientSession:
    """The one pooled upstream client of the gateway (discovery's registry lookups share it)."""
    connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=0, keepalive_timeout=keepalive_s)
    return aiohttp.ClientSession(
        connector=connector,
        # A proxy relays bytes: no decompression, no cookies kept between clients, no proxies from the env.
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=_NO_AUTO_HEADERS,
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None),
    )


class Proxy:
    """The innermost handler of every route."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        balancer: Balancer,
        metrics: GatewayMetrics,
        *,
        max_body_bytes: int,
        connect_timeout_s: float,
        attempts: int = 2,
        budget: RetryBudget | None = None,
        backoff_s: float = 0.01,
        faults: Faults | None = None,
    ) -> None:
        self._session = session
        self._balancer = balancer
        self._discovery = balancer.discovery
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._connect_timeout_s = connect_timeout_s
        self._attempts = attempts
        self._budget = budget or RetryBudget()
        self._backoff_s = backoff_s
        self._faults = faults or Faults()

    async def __call__(self, ex: Exchange) -> None:
        route = ex.route
        assert route is not None, "the proxy serves matched routes only"
        service = route.service
        balancer = self._balancer.services[service]
        breaker = balancer.breaker
        if not breaker.allow():
            wait = str(max(1, math.ceil(breaker.retry_after_s()))).encode()
            await ex.problem(
                503, f"{service} is failing: the gateway stopped calling it for now", [(RETRY_AFTER, wait)]
            )
            return
        fault = self._faults.get(service)
        if fault is not None and await self._injected(ex, breaker, fault):
            return
        request = UpstreamRequest(ex)
        if not await self._read_body(ex, request):
            return
        query: bytes = ex.scope.get("query_string", b"")
        target = ex.rest + "?" + query.decode("latin-1") if query else ex.rest
        deadline = ex.started + route.timeout_s
        # A streamed body cannot be sent twice; bytes can.
        attempts = self._attempts if ex.method in IDEMPOTENT_METHODS and request.streamed is None else 1
        self._budget.deposit()
        tried: list[Instance] = []
        failure = ""
        while True:
            try:
                instance = await self._balancer.pick(service, tried)
            except PeerUnavailable as exc:
                if failure:  # after a failed attempt, that failure says more than "no other instance"
                    await self._failed(ex, breaker, 502, failure)
                else:
                    await ex.problem(503, str(exc))
                return
            if instance is None:
                await ex.problem(503, f"no instance of service '{service}'")
                return
            tried.append(instance)
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                await self._failed(ex, breaker, 504, f"{service} did not answer {ex.method} {route.template} in time")
                return
            headers = [*request.headers, (DEADLINE_HEADER, str(max(1, int(remaining * 1000))))]
            timeout = aiohttp.ClientTimeout(total=remaining, connect=min(self._connect_timeout_s, remaining))
            state = balancer.begin(instance)
            sent = time.perf_counter()
            try:
                response = await self._session.request(
                    ex.method,
                    URL(instance.url + target, encoded=True),
                    headers=headers,
                    data=request.body,
                    timeout=timeout,
                    allow_redirects=False,
                )
            except TimeoutError as exc:
                balancer.end(instance, state, ok=False)
                self._metrics.observe_upstream(service, "timeout", time.perf_counter() - sent)
                # A connect timeout sent nothing: as safe to retry elsewhere as a refused connection.
                if isinstance(exc, aiohttp.ConnectionTimeoutError):
                    self._discovery.report_failure(instance)
                    if await self._may_retry(len(tried), attempts, deadline):
                        continue
                _warn(ex, "upstream timed out", instance)
                await self._failed(ex, breaker, 504, f"{service} did not answer {ex.method} {route.template} in time")
                return
            except aiohttp.ClientError as exc:
                balancer.end(instance, state, ok=False)
                self._metrics.observe_upstream(service, "error", time.perf_counter() - sent)
                streamed = request.streamed
                if streamed is not None and streamed.client_gone:
                    return
                if streamed is not None and streamed.too_large:
                    await self._too_large(ex)
                    return
                if not isinstance(exc, aiohttp.ClientConnectionError):
                    _warn(ex, "upstream answered badly", instance, exc)
                    detail = f"{service} answered {ex.method} {route.template} with an invalid response"
                    await self._failed(ex, breaker, 502, detail)
                    return
                self._discovery.report_failure(instance)
                _warn(ex, "upstream connection failed", instance, exc, attempt=len(tried))
                failure = f"could not reach {service} for {ex.method} {route.template}"
                if await self._may_retry(len(tried), attempts, deadline):
                    continue
                await self._failed(ex, breaker, 502, failure)
                return
            status = response.status
            self._metrics.observe_upstream(service, status, time.perf_counter() - sent)
            ex.upstream = instance.id
            ok = status not in _GATEWAY_FAILURES
            try:
                await self._relay(ex, response)
            finally:
                balancer.end(instance, state, ok=ok)
            if ok:
                breaker.record_success()
            else:
                breaker.record_failure()
            return

    @staticmethod
    async def _injected(ex: Exchange, breaker: CircuitBreaker, fault: Fault) -> bool:
        """Apply an injected fault; True when it answered the request itself."""
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.error_rate and random.random() < fault.error_rate:  # noqa: S311 - a drill, not a secret
            breaker.record_failure()
            await ex.problem(503, "an injected fault (admin API) failed this request")
            return True
        return False

    async def _may_retry(self, tried: int, attempts: int, deadline: float) -> bool:
        """Another attempt is allowed, budgeted, and fits in the deadline after its jittered backoff."""
        if tried >= attempts or not self._budget.withdraw():
            return False
        self._metrics.retries.inc()
        pause = random.uniform(0, self._backoff_s * 2 ** (tried - 1))  # noqa: S311 - jitter, not a secret
        if time.perf_counter() + pause >= deadline:
            return False
        if pause:
            await asyncio.sleep(pause)
        return True

    @staticmethod
    async def _failed(ex: Exchange, breaker: CircuitBreaker, status: int, detail: str) -> None:
        breaker.record_failure()
        await ex.problem(status, detail)

    async def _read_body(self, ex: Exchange, request: UpstreamRequest) -> bool:
        """Set ``request.body``: bytes when it arrived whole, else a stream. False when already answered."""
        declared = request.content_length
        if declared is not None and not declared.isdigit():
            await ex.problem(400, "Content-Length is not a number", [(b"connection", b"close")])
            return False
        limit = self._body_limit(ex)
        if declared is not None and int(declared) > limit:
            await self._too_large(ex)
            return False
        if not request.chunked and (declared is None or declared == b"0"):
            return True
        message = await ex.receive()
        if message["type"] == "http.disconnect":
            return False
        first: bytes = message.get("body", b"")
        if len(first) > limit:
            await self._too_large(ex)
            return False
        if message.get("more_body", False):
            request.streamed = StreamedBody(ex, first, limit)
            request.body = request.streamed.chunks()
        else:
            request.body = first
        return True

    async def _relay(self, ex: Exchange, response: aiohttp.ClientResponse) -> None:
        try:
            await ex.start_response(response.status, downstream_headers(response.raw_headers))
            content = response.content
            send = ex.send
            while True:
                chunk = await content.readany()
                if not chunk:
                    await send({"type": "http.response.body", "body": b""})
                    return
                if content.at_eof():
                    await send({"type": "http.response.body", "body": chunk})
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The status line is out: returning with the body incomplete makes the server cut the
            # connection, so the client sees a broken response rather than a short one.
            log.warning(
                "upstream failed while streaming its response",
                extra={"instance": ex.upstream, "error": _error(exc), "request_id": ex.request_id},
            )
        finally:
            response.release()

    async def _too_large(self, ex: Exchange) -> None:
        # The connection stays open: the server discards the rest of the body once the response is complete.
        # Closing it with unread data in flight would reset it, and the client would lose this answer.
        await ex.problem(413, f"request body is larger than the limit of {self._body_limit(ex)} bytes")

    def _body_limit(self, ex: Exchange) -> int:
        route = ex.route
        return route.max_body_bytes if route is not None and route.max_body_bytes else self._max_body_bytes


def _error(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _warn(ex: Exchange, event: str, instance: Instance, exc: BaseException | None = None, **extra: object) -> None:
    fields: dict[str, object] = {
        "upstream": instance.service,
        "instance": instance.id,
        "request_id": ex.request_id,
        **extra,
    }
    if exc is not None:
        fields["error"] = _error(exc)
    log.warning(event, extra=fields)
