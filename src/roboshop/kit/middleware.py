"""The ASGI middleware every service runs: request ids, server spans, access log, RED metrics, body size limit.

``X-RoboShop-User`` names the caller's user for the logs. Only the gateway sets it (from the session it has
verified, after dropping any the client sent); a service never trusts it for authorisation.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import Token
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Tracer
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roboshop.kit import context, tracing
from roboshop.kit.metrics import HttpMetrics

REQUEST_ID_HEADER = b"x-request-id"
CORRELATION_ID_HEADER = b"x-correlation-id"
USER_HEADER = b"x-roboshop-user"
_UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})
_MAX_ID_LENGTH = 128

access_log = logging.getLogger("roboshop.access")
error_log = logging.getLogger("roboshop.app")


def _clean_id(raw: bytes | None) -> str | None:
    """Accept a caller's id only if it is short printable ASCII (it ends up in logs and headers)."""
    if not raw or len(raw) > _MAX_ID_LENGTH:
        return None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() and " " not in text else None


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class ServiceMiddleware:
    """Outermost middleware: sets the request context, limits bodies, logs and measures each request."""

    def __init__(
        self, app: ASGIApp, *, metrics: HttpMetrics, max_body_bytes: int, tracer: Tracer | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.tracer = tracer
        self._trace_fields = tracing.trace_header_names()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = _clean_id(headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        correlation = _clean_id(headers.get(CORRELATION_ID_HEADER)) or request_id
        user = _clean_id(headers.get(USER_HEADER))
        tokens = (context.request_id.set(request_id), context.correlation_id.set(correlation), context.user.set(user))
        span, span_token = self._start_span(scope, headers)
        status = 500
        response_started = False
        started = time.perf_counter()
        declared = headers.get(b"content-length")
        try:
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                status = 413 if declared.isdigit() else 400
                await _send_problem(send, status, _too_large(self.max_body_bytes, declared), request_id)
                return
            if declared is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                # A streamed body's size is known only once it is read: read it (up to the limit) before the app
                # runs, so that an oversized one is refused even by a route that never reads its body.
                buffered = await _buffered_body(receive, self.max_body_bytes)
                if buffered is None:
                    status = 413
                    await _send_problem(send, 413, _too_large(self.max_body_bytes, None), request_id)
                    return
                receive = _replaying(buffered, receive)

            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise _BodyTooLarge(self.max_body_bytes)
                return message

            async def send_with_id(message: Message) -> None:
                nonlocal status, response_started
                if message["type"] == "http.response.start":
                    status = message["status"]
                    response_started = True
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (REQUEST_ID_HEADER, request_id.encode())]
                await send(message)

            self.metrics.in_flight.labels(self.metrics.service).inc()
            try:
                await self.app(scope, limited_receive, send_with_id)
            except _BodyTooLarge:
                status = 413
                await _send_problem(send, 413, _too_large(self.max_body_bytes, None), request_id)
            except Exception:
                # Starlette runs the app's handler for Exception outside this middleware, after the request
                # context is gone: answer here, so that the log line and the 500 carry the request id.
                if response_started:
                    raise
                error_log.exception("unhandled error")
                status = 500
                await _send_problem(send, 500, "an unexpected error occurred; see the service log", request_id)
            finally:
                self.metrics.in_flight.labels(self.metrics.service).dec()
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            if span is not None:
                tracing.describe_server_span(span, scope["method"], route, status)
            if route not in ("/metrics", "/health", "/ready"):
                self.metrics.observe(route, scope["method"], status, elapsed)
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )
            if span is not None:
                tracing.end_server_span(span, span_token)
            for var, token in zip((context.request_id, context.correlation_id, context.user), tokens, strict=True):
                var.reset(token)

    def _start_span(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[trace.Span | None, Token[otel_context.Context] | None]:
        # Probes and scrapes arrive every few seconds from the registry and Prometheus: traces of them are noise.
        if self.tracer is None or scope["path"] in _UNTRACED_PATHS:
            return None, None
        carrier = {
            name.decode(): value.decode("latin-1") for name, value in headers.items() if name in self._trace_fields
        }
        return tracing.start_server_span(self.tracer, scope["method"], scope["path"], carrier)


async def _buffered_body(receive: Receive, limit: int) -> list[Message] | None:
    """The request's body messages, up to the end of the body (or a disconnect); ``None`` past ``limit`` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands out ``messages`` again."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``. An HTTPException, because FastAPI turns any other error raised while it parses a
    body into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit, None))


def _too_large(limit: int, declared: bytes | None) -> str:
    if declared is not None and not declared.isdigit():
        return "Content-Length is not a number"
    return f"request body is larger than the limit of {limit} bytes"


_TITLES = {400: "Bad Request", 413: "Payload Too Large", 500: "Internal Server Error"}


async def _send_problem(send: Send, status: int, detail: str, request_id: str) -> None:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES[status],
        "status": status,
        "detail": detail,
    }
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (REQUEST_ID_HEADER, request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
