"""Traces of a kit service: server spans, the caller's trace continued, peer and database child spans, log ids."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from fastapi import APIRouter, FastAPI, Request
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from roboshop import __version__
from roboshop.kit import tracing
from roboshop.kit.app import create_service_app
from roboshop.kit.db import create_engine
from roboshop.kit.logging import JsonFormatter
from roboshop.kit.settings import ServiceSettings

from .fakes import WebServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def hex_parent(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent is not None else None


class LogLines(logging.Handler):
    """The JSON lines a service would print, kept in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("shelf", "1.0"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == event]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def shelf_app(peers: dict[str, str] | None = None, database_url: str | None = None) -> FastAPI:
    """A small service: a product route, a route calling a peer, a route reading its database."""
    router = APIRouter()

    @router.get("/product/{sku}")
    async def product(sku: str) -> dict[str, str]:
        logging.getLogger("roboshop.shelf").info("product looked up")
        return {"sku": sku}

    @router.get("/stock/{sku}")
    async def stock(sku: str, request: Request) -> dict[str, Any]:
        answer = await request.app.state.peers.get("warehouse", f"/count/{sku}")
        return {"sku": sku, "warehouse": answer.json()}

    @router.get("/shelves/{sku}")
    async def shelves(sku: str, request: Request) -> dict[str, int]:
        async with request.app.state.engine.connect() as conn:
            found = (await conn.execute(text("SELECT length(:sku) AS n"), {"sku": sku})).scalar_one()
        return {"length": int(found)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url is None:
            yield
            return
        # Created inside the service's lifespan, the way services' open_database does.
        app.state.engine = create_engine(database_url)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    settings = ServiceSettings(service_name="shelf", peers=peers or {})
    return create_service_app(settings, routers=[router], lifespan=lifespan)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = app.state.telemetry.provider
    if provider is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shelf") as client:
            yield client, exporter


def server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]


async def test_each_request_gets_a_server_span_named_by_its_route_template() -> None:
    async with running(shelf_app()) as (client, exporter):
        assert (await client.get("/product/Watson")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
    watson, nowhere = server_spans(exporter)
    assert watson.name == "GET /product/{sku}"
    assert watson.attributes is not None
    assert watson.attributes["http.route"] == "/product/{sku}"
    assert watson.attributes["http.response.status_code"] == 200
    assert watson.resource.attributes["service.name"] == "shelf"
    assert nowhere.name == "GET"
    assert nowhere.attributes is not None
    assert nowhere.attributes["http.response.status_code"] == 404


async def test_an_incoming_traceparent_is_continued() -> None:
    async with running(shelf_app()) as (client, exporter):
        await client.get("/product/Watson", headers={"traceparent": TRACEPARENT})
    (span,) = server_spans(exporter)
    assert hex_trace(span) == TRACE_ID
    assert hex_parent(span) == CALLER_SPAN_ID


async def test_a_request_without_traceparent_starts_a_new_trace() -> None:
    async with running(shelf_app()) as (client, exporter):
        await client.get("/product/Watson")
        await client.get("/product/Watson")
    first, second = server_spans(exporter)
    assert first.parent is None
    assert hex_trace(first) != hex_trace(second)


async def test_a_peer_call_is_a_child_client_span_whose_context_reaches_the_peer() -> None:
    received: list[str] = []

    async def count(request: web.Request) -> web.Response:
        received.append(request.headers.get("traceparent", ""))
        return web.json_response({"count": 3})

    peer_app = web.Application()
    peer_app.router.add_get("/count/{sku}", count)
    warehouse = WebServer(peer_app)
    await warehouse.start()
    try:
        async with running(shelf_app(peers={"warehouse": warehouse.url})) as (client, exporter):
            response = await client.get("/stock/Watson", headers={"traceparent": TRACEPARENT})
    finally:
        await warehouse.stop()
    assert response.json() == {"sku": "Watson", "warehouse": {"count": 3}}
    (server,) = server_spans(exporter)
    (peer_call,) = [span for span in exporter.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert peer_call.name == "GET warehouse"
    assert hex_trace(peer_call) == TRACE_ID
    assert hex_parent(peer_call) == hex_span(server)
    assert peer_call.attributes is not None
    assert peer_call.attributes["http.response.status_code"] == 200
    assert received == [f"00-{TRACE_ID}-{hex_span(peer_call)}-01"]


async def test_statements_are_child_spans_without_their_parameters(sqlite_url: str) -> None:
    async with running(shelf_app(database_url=sqlite_url)) as (client, exporter):
        response = await client.get("/shelves/SecretRobot")
    assert response.json() == {"length": len("SecretRobot")}
    (server,) = server_spans(exporter)
    (statement,) = [span for span in exporter.get_finished_spans() if span.name.startswith("SELECT")]
    assert statement.kind is SpanKind.CLIENT
    assert hex_parent(statement) == hex_span(server)
    assert statement.attributes is not None
    assert statement.attributes["db.system.name"] == "sqlite"
    assert statement.attributes["db.query.text"] == "SELECT length(?) AS n"
    assert "SecretRobot" not in str(dict(statement.attributes))


async def test_the_database_pool_is_measured_with_the_service_as_the_only_label(sqlite_url: str) -> None:
    async with running(shelf_app(database_url=sqlite_url)) as (client, _exporter):
        await client.get("/shelves/Watson")
        metrics = (await client.get("/metrics")).text
    assert 'db_pool_connections_in_use{service="shelf"} 0.0' in metrics
    assert 'db_pool_connections_open{service="shelf"} 1.0' in metrics
    assert 'db_pool_connections_max{service="shelf"} 15.0' in metrics


async def test_log_lines_of_a_request_carry_its_trace_and_span_ids(log_lines: LogLines) -> None:
    async with running(shelf_app()) as (client, exporter):
        await client.get("/product/Watson", headers={"traceparent": TRACEPARENT})
    (server,) = server_spans(exporter)
    for event in ("product looked up", "request"):
        (line,) = log_lines.events(event)
        assert (line["trace_id"], line["span_id"]) == (TRACE_ID, hex_span(server))


async def test_log_lines_name_the_user_the_gateway_passes_on(log_lines: LogLines) -> None:
    async with running(shelf_app()) as (client, _exporter):
        await client.get("/product/Watson", headers={"X-RoboShop-User": "robbie"})
        await client.get("/product/Watson")
    with_user, without_user = log_lines.events("request")
    assert with_user["user"] == "robbie"
    assert "user" not in without_user


async def test_with_sampling_off_nothing_is_exported_but_logs_still_carry_trace_ids(
    monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    async with running(shelf_app()) as (client, exporter):
        await client.get("/product/Watson")
    assert exporter.get_finished_spans() == ()
    (line,) = log_lines.events("request")
    assert len(line["trace_id"]) == 32
    assert int(line["trace_id"], 16) != 0


async def test_with_the_sdk_disabled_there_are_no_spans_and_no_trace_ids(
    monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    app = shelf_app()
    assert app.state.telemetry.provider is None
    async with running(app) as (client, _exporter):
        assert (await client.get("/product/Watson", headers={"traceparent": TRACEPARENT})).status_code == 200
    (line,) = log_lines.events("request")
    assert "trace_id" not in line
    assert "span_id" not in line


def test_an_unsupported_otlp_protocol_exports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    telemetry = shelf_app().state.telemetry
    telemetry.start()
    try:
        assert telemetry.exporting is False
    finally:
        telemetry.shutdown()


def test_an_otlp_endpoint_turns_the_export_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    telemetry = shelf_app().state.telemetry
    telemetry.start()
    try:
        assert telemetry.exporting is True
    finally:
        telemetry.shutdown()


def test_otel_service_name_overrides_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shelf-canary")
    provider = shelf_app().state.telemetry.provider
    assert provider.resource.attributes["service.name"] == "shelf-canary"
    assert provider.resource.attributes["service.version"] == __version__


def test_message_headers_carry_the_trace_context_from_producer_to_consumer() -> None:
    telemetry = shelf_app().state.telemetry
    headers: dict[str, str] = {"x-roboshop-attempt": "1"}
    with telemetry.tracer.start_as_current_span("publish order") as producer:
        tracing.inject(headers)
    consumer_context = tracing.extract(headers)
    with telemetry.tracer.start_as_current_span("consume order", context=consumer_context) as consumer:
        ids = tracing.current_ids()
    assert headers["traceparent"].split("-")[1] == format(producer.get_span_context().trace_id, "032x")
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.get_span_context().span_id
    assert ids == (
        format(consumer.get_span_context().trace_id, "032x"),
        format(consumer.get_span_context().span_id, "016x"),
    )
    assert tracing.extract({}) is not None
    assert tracing.current_ids() is None


async def test_probes_and_scrapes_are_not_traced() -> None:
    async with running(shelf_app()) as (client, exporter):
        for path in ("/health", "/ready", "/metrics"):
            assert (await client.get(path)).status_code == 200
    assert exporter.get_finished_spans() == ()
