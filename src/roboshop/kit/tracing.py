"""Traces: one OpenTelemetry tracer provider per service app, configured by the standard ``OTEL_*`` variables.

- ``OTEL_SDK_DISABLED=true``: no spans at all (log lines carry no trace ids, nothing is propagated).
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set: spans are exported with OTLP over
  HTTP/protobuf (the only protocol installed; another ``OTEL_EXPORTER_OTLP_PROTOCOL`` is refused with a warning).
  ``OTEL_TRACES_EXPORTER=none`` turns the export off.
- No endpoint: spans and ids are still made, so every log line of a request carries its trace and span id and
  peers continue the trace, but nothing is exported.
- ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` choose the sampler (default ``parentbased_always_on``). A span
  that is not sampled still has valid ids (logs keep them), it is only not exported.
- ``OTEL_SERVICE_NAME`` defaults to the service's name; ``OTEL_RESOURCE_ATTRIBUTES`` adds resource attributes.

The provider is built by the app factory (it starts no thread) and the exporter is added and flushed by the app's
lifespan. The provider is the app's own, not OpenTelemetry's global one, so that tests can build many apps; code
that has no app at hand (engines made by :func:`roboshop.kit.db.create_engine`) finds it through :func:`active`.

For broker messages (the messaging work), :func:`inject` and :func:`extract` carry the W3C context in a message's
headers dict.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import event

from roboshop.kit.settings import ServiceSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("roboshop.tracing")

INSTRUMENTATION_NAME = "roboshop.kit"
_SUPPORTED_PROTOCOLS = frozenset({"http/protobuf"})
_active: ContextVar[Telemetry | None] = ContextVar("roboshop_telemetry", default=None)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


class DatabasePoolMetrics:
    """Connection pool use of the engines a service's kit creates, labelled by service only."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.in_use = Gauge(
            "db_pool_connections_in_use",
            "Database connections checked out of the pool",
            ("service",),
            registry=registry,
        )
        self.open = Gauge(
            "db_pool_connections_open", "Database connections the pool holds open", ("service",), registry=registry
        )
        self.limit = Gauge(
            "db_pool_connections_max", "Most database connections the pools may open", ("service",), registry=registry
        )

    def watch(self, engine: AsyncEngine) -> None:
        pool = engine.sync_engine.pool
        in_use, opened, limit = (g.labels(self.service) for g in (self.in_use, self.open, self.limit))
        size = _pool_limit(pool)
        limit.inc(size)
        # Pool events run in SQLAlchemy's worker greenlets; Gauge updates are thread-safe.
        event.listen(pool, "checkout", lambda *_: in_use.inc())
        event.listen(pool, "checkin", lambda *_: in_use.dec())
        event.listen(pool, "connect", lambda *_: opened.inc())
        event.listen(pool, "close", lambda *_: opened.dec())
        event.listen(pool, "close_detached", lambda *_: opened.dec())
        event.listen(engine.sync_engine, "engine_disposed", lambda *_: limit.dec(size))


def _pool_limit(pool: Any) -> int:
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size):
        return int(size()) + max(int(overflow), 0)
    return 1  # a static or single-connection pool (SQLite in memory)


class Telemetry:
    """A service app's tracer (and its database pool gauges)."""

    def __init__(self, settings: ServiceSettings, registry: CollectorRegistry) -> None:
        # The SDK itself reads the sampler and resource variables from os.environ; the rest is read here, alike.
        self._environ = os.environ
        self.service = settings.service_name
        self.pool_metrics = DatabasePoolMetrics(settings.service_name, registry)
        self.enabled = not _truthy(self._environ.get("OTEL_SDK_DISABLED"))
        self.provider: TracerProvider | None = None
        self.exporting = False
        if not self.enabled:
            self.tracer: Tracer = trace.NoOpTracer()
            return
        attributes: dict[str, str] = {
            "service.version": settings.version,
            "service.instance.id": settings.instance_id
            or f"{settings.service_name}-{socket.gethostname()}-{os.getpid()}",
        }
        if not self._environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = settings.service_name
        # The SDK reads OTEL_TRACES_SAMPLER(_ARG) and OTEL_RESOURCE_ATTRIBUTES itself; the app shuts it down.
        self.provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
        self.tracer = self.provider.get_tracer(INSTRUMENTATION_NAME, settings.version)

    def start(self) -> None:
        """Add the OTLP exporter if one is configured (in the lifespan: its batch processor runs a thread)."""
        if self.provider is None or self.exporting:
            return
        processor = self._exporter_processor()
        if processor is not None:
            self.provider.add_span_processor(processor)
            self.exporting = True

    def _exporter_processor(self) -> SpanProcessor | None:
        env = self._environ
        if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
            return None
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if not endpoint:
            return None
        protocol = (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
        )
        if protocol not in _SUPPORTED_PROTOCOLS:
            log.warning("traces are not exported: unsupported OTLP protocol", extra={"protocol": protocol})
            return None
        # Imported here: the exporter pulls in protobuf and requests, which a service without an endpoint never needs.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        log.info("exporting traces", extra={"protocol": protocol})
        return BatchSpanProcessor(OTLPSpanExporter())

    def shutdown(self) -> None:
        """Flush the spans still queued and stop the exporter."""
        if self.provider is not None:
            self.provider.shutdown()

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Make this the telemetry that engines created in this context (the app's lifespan) report to."""
        token = _active.set(self)
        try:
            yield
        finally:
            _active.reset(token)

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """Database spans (statement text, never parameters) and pool gauges for ``engine``."""
        self.pool_metrics.watch(engine)
        if self.enabled:
            _trace_statements(engine, self.tracer)


def active() -> Telemetry | None:
    """The telemetry of the app whose lifespan is running in this context, if any."""
    return _active.get()


_SPAN_KEY = "_roboshop_span"


def _trace_statements(engine: AsyncEngine, tracer: Tracer) -> None:
    sync_engine = engine.sync_engine
    system = sync_engine.dialect.name
    database = sync_engine.url.database or ""
    target = database.rsplit("/", 1)[-1]

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(
            f"{operation} {target}".strip(),
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": system,
                "db.namespace": target,
                "db.operation.name": operation,
                "db.query.text": statement,
            },
        )
        if context is not None:
            context.__dict__[_SPAN_KEY] = span
        else:
            span.end()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        span: Span | None = context.__dict__.pop(_SPAN_KEY, None) if context is not None else None
        if span is not None:
            span.end()

    def failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        span: Span | None = context.__dict__.pop(_SPAN_KEY, None) if context is not None else None
        if span is not None:
            error = exception_context.original_exception
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__name__)
            span.end()

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)


def inject(headers: MutableMapping[str, str], context: otel_context.Context | None = None) -> None:
    """Write the current (or ``context``'s) trace context into ``headers`` (``traceparent``, ``tracestate``)."""
    propagate.inject(headers, context=context)


def extract(headers: Mapping[str, str]) -> otel_context.Context:
    """The trace context a message's ``headers`` carry (an empty context when they carry none)."""
    return propagate.extract(headers)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids in hex, or None outside a (valid) span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def trace_header_names() -> frozenset[bytes]:
    """The header names the W3C propagator reads (``traceparent``, ``tracestate``), as ASGI gives them."""
    return frozenset(name.encode() for name in propagate.get_global_textmap().fields)


def start_server_span(
    tracer: Tracer, method: str, path: str, carrier: Mapping[str, str]
) -> tuple[Span | None, Token[otel_context.Context] | None]:
    """A server span continuing the caller's W3C trace context (``carrier``), made current for the request."""
    parent = propagate.extract(carrier) if carrier else None
    span = tracer.start_span(
        method,
        context=parent,
        kind=SpanKind.SERVER,
        # Few attributes: the SDK validates each one, and this runs on every request.
        attributes={"http.request.method": method, "url.path": path},
    )
    if not span.get_span_context().is_valid:
        return None, None
    return span, otel_context.attach(trace.set_span_in_context(span, parent))


def describe_server_span(span: Span, method: str, route: str, status: int) -> None:
    """Name the span by route template (like the metrics: a raw path would make every product an operation)."""
    if route != "<unmatched>":
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def end_server_span(span: Span, token: Token[otel_context.Context] | None) -> None:
    span.end()
    if token is not None:
        otel_context.detach(token)
