"""The telemetry contract of the local profile: every service exposes metrics, writes JSON logs and sends traces.

The shop runs with its OTLP endpoint pointing at a small OTLP/HTTP receiver this test serves on 127.0.0.1; a
``traceparent`` sent through the gateway must come out as one trace across the services the request touched, and
its trace id must be in those services' JSON log lines.
"""

from __future__ import annotations

import gzip
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import RunningShop, start_shop, wait_until

pytestmark = pytest.mark.e2e

SPAN_DEADLINE_S = 15.0
LOG_KEYS = ("timestamp", "level", "service", "version", "event")
# Services built on the kit's app factory; the gateway has its own ASGI app and sends no spans yet.
TRACED_SERVICES = ("registry", "catalogue", "user", "cart", "ratings", "shipping")


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int


class OtlpReceiver:
    """An OTLP/HTTP trace receiver (``POST /v1/traces``, protobuf) on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.accept(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def accept(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        ReceivedSpan(
                            service=attributes.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                        )
                    )
        with self._lock:
            self.spans.extend(found)

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class TracedShop:
    shop: RunningShop
    receiver: OtlpReceiver

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON line the services printed (``roboshop up --raw-logs`` prefixes each with its instance)."""
        lines = []
        for raw in self.shop.log().splitlines():
            _, bar, rest = raw.partition("| ")
            if bar and rest.startswith("{"):
                try:
                    lines.append(orjson.loads(rest))
                except orjson.JSONDecodeError:
                    continue
        return lines


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedShop]:
    receiver = OtlpReceiver()
    receiver.start()
    with pytest.MonkeyPatch.context() as env:
        # roboshop up hands its environment to every process it starts.
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        env.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
        env.delenv("OTEL_SDK_DISABLED", raising=False)
        env.delenv("OTEL_SERVICE_NAME", raising=False)
        shop = start_shop(tmp_path_factory.mktemp("traced"), "--raw-logs")
    try:
        yield TracedShop(shop, receiver)
    finally:
        shop.stop()
        receiver.stop()


def new_traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def service_urls(shop: RunningShop) -> dict[str, str]:
    """One base URL per service: the registry, the gateway and one registered instance of every other."""
    urls = {"registry": shop.registry, "gateway": shop.gateway}
    for instance in shop.instances().values():
        urls.setdefault(instance["Service"], f"http://{instance['Address']}:{instance['Port']}")
    return urls


def test_a_traceparent_sent_through_the_gateway_becomes_one_trace_across_ratings_and_catalogue(
    traced: TracedShop,
) -> None:
    trace_id, caller_span, traceparent = new_traceparent()
    rated = httpx.put(f"{traced.shop.gateway}/api/ratings/api/rate/Watson/4", headers={"traceparent": traceparent})
    assert rated.status_code == 200, rated.text

    def three_services_reported() -> bool:
        services = {span.service for span in traced.receiver.of_trace(trace_id) if span.kind == 2}
        return {"gateway", "ratings", "catalogue"} <= services

    wait_until(three_services_reported, SPAN_DEADLINE_S, "server spans of the gateway, ratings and catalogue")
    spans = traced.receiver.of_trace(trace_id)
    server_kind, client_kind = 2, 3
    (edge,) = [s for s in spans if s.service == "gateway" and s.kind == server_kind]
    assert edge.name == "PUT /api/ratings/api/rate/{sku}/{score}"
    assert edge.parent_span_id == caller_span, "the gateway continued the caller's trace"
    (rate,) = [s for s in spans if s.service == "ratings" and s.kind == server_kind]
    assert rate.name == "PUT /api/rate/{sku}/{score}"
    assert rate.parent_span_id == edge.span_id
    (peer_call,) = [s for s in spans if s.service == "ratings" and s.kind == client_kind and s.name == "GET catalogue"]
    assert peer_call.parent_span_id == rate.span_id
    (product,) = [s for s in spans if s.service == "catalogue" and s.kind == server_kind]
    assert product.name == "GET /product/{sku}"
    assert product.parent_span_id == peer_call.span_id
    statements = [s for s in spans if s.service == "ratings" and s.kind == client_kind and s.name != "GET catalogue"]
    assert statements, "the ratings database statements are spans of the trace"
    assert all(s.parent_span_id == rate.span_id for s in statements)

    def logged_by(service: str) -> bool:
        return any(line.get("trace_id") == trace_id for line in traced.log_lines() if line.get("service") == service)

    wait_until(lambda: logged_by("ratings") and logged_by("catalogue"), SPAN_DEADLINE_S, "log lines with the trace id")


@pytest.mark.parametrize("service", TRACED_SERVICES)
def test_every_service_sends_spans_and_logs_its_trace_id(traced: TracedShop, service: str) -> None:
    trace_id, caller_span, traceparent = new_traceparent()
    url = service_urls(traced.shop)[service]
    # A route no service has: every service answers it (404) through the kit, and traces it like any other.
    response = httpx.get(f"{url}/telemetry-contract-probe", headers={"traceparent": traceparent})
    assert response.status_code == 404

    def reported() -> bool:
        return any(span.service == service for span in traced.receiver.of_trace(trace_id))

    wait_until(reported, SPAN_DEADLINE_S, f"a span from {service}")
    (span,) = traced.receiver.of_trace(trace_id)
    assert span.parent_span_id == caller_span

    def logged() -> bool:
        return any(line.get("trace_id") == trace_id and line.get("service") == service for line in traced.log_lines())

    wait_until(logged, SPAN_DEADLINE_S, f"a log line of {service} with the trace id")


@pytest.mark.parametrize("service", ["gateway", *TRACED_SERVICES])
def test_every_service_exposes_request_metrics_and_writes_json_logs(traced: TracedShop, service: str) -> None:
    url = service_urls(traced.shop)[service]
    httpx.get(f"{url}/telemetry-contract-probe")
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total{" in metrics.text
    assert "process_resident_memory_bytes" in metrics.text
    if service in TRACED_SERVICES:  # each keeps its data in a database (SQLite on the local profile)
        assert f'db_pool_connections_max{{service="{service}"}}' in metrics.text
        assert f'db_pool_connections_in_use{{service="{service}"}}' in metrics.text
    lines = [line for line in traced.log_lines() if line.get("service") == service]
    assert lines, f"{service} wrote no JSON log line"
    for line in lines:
        missing = [key for key in LOG_KEYS if key not in line]
        assert not missing, f"{service} log line without {missing}: {line}"
