"""The app factory and its middleware, driven in-process through ASGI with the app's lifespan running."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

import roboshop.kit.app
from roboshop.kit import context
from roboshop.kit.app import add_readiness_check, create_service_app
from roboshop.kit.errors import (
    BadRequest,
    Conflict,
    DependencyError,
    NotFound,
    PayloadTooLarge,
    PeerError,
    PeerTimeout,
    PeerUnavailable,
    RoboShopError,
)
from roboshop.kit.settings import ServiceSettings

BODY_LIMIT = 64
PROBLEM = "application/problem+json"
SECRET = "postgresql://shop:hunter2@db"

ERRORS: dict[str, type[RoboShopError]] = {
    "not-found": NotFound,
    "bad-request": BadRequest,
    "conflict": Conflict,
    "too-large": PayloadTooLarge,
    "dependency": DependencyError,
    "peer": PeerError,
    "peer-unavailable": PeerUnavailable,
    "peer-timeout": PeerTimeout,
}


class Rating(BaseModel):
    sku: str
    score: int


def catalogue_router() -> APIRouter:
    router = APIRouter()

    @router.get("/product/{sku}")
    async def product(sku: str) -> dict[str, str]:
        if sku == "MISSING":
            raise NotFound("SKU not found", text=True)
        return {"sku": sku}

    @router.get("/ids")
    async def ids() -> dict[str, str | None]:
        return {"request_id": context.request_id.get(), "correlation_id": context.correlation_id.get()}

    @router.post("/rate")
    async def rate(rating: Rating) -> Rating:
        return rating

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @router.get("/fail/{kind}")
    async def fail(kind: str, text: bool = False) -> None:
        raise ERRORS[kind](f"{kind} happened", text=text)

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError(f"could not connect to {SECRET}")

    return router


def build_app(*routers: APIRouter) -> FastAPI:
    settings = ServiceSettings(service_name="catalogue", max_body_bytes=BODY_LIMIT)
    return create_service_app(settings, routers=list(routers) or [catalogue_router()])


@pytest.fixture
def app() -> FastAPI:
    return build_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://catalogue") as client,
    ):
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


async def chunks(total: int, size: int = 10) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"x" * piece


# --- request ids -------------------------------------------------------------------------------------------


async def test_a_request_without_an_id_gets_a_fresh_one_echoed_in_the_response(client: httpx.AsyncClient) -> None:
    first = await client.get("/ids")
    second = await client.get("/ids")

    request_id = first.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert first.json() == {"request_id": request_id, "correlation_id": request_id}
    assert second.headers["x-request-id"] != request_id


async def test_a_sane_incoming_request_id_is_kept_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/ids", headers={"X-Request-ID": "web-7f3a.42_x", "X-Correlation-ID": "checkout-9"})

    assert response.headers["x-request-id"] == "web-7f3a.42_x"
    assert response.json() == {"request_id": "web-7f3a.42_x", "correlation_id": "checkout-9"}


@pytest.mark.parametrize(
    "incoming",
    [b"a" * 129, "réf-1".encode(), b"two words", b"tab\there"],
    ids=["too-long", "non-ascii", "space", "control-character"],
)
async def test_an_insane_incoming_request_id_is_replaced(client: httpx.AsyncClient, incoming: bytes) -> None:
    response = await client.get("/ids", headers={b"X-Request-ID": incoming})

    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.json()["request_id"] == request_id


async def test_the_longest_accepted_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/ids", headers={"X-Request-ID": "a" * 128})

    assert response.headers["x-request-id"] == "a" * 128


async def test_error_responses_carry_the_request_id_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": "lost-1"})

    assert response.headers["x-request-id"] == "lost-1"


async def test_the_request_context_is_cleared_after_the_request(client: httpx.AsyncClient) -> None:
    await client.get("/ids", headers={"X-Request-ID": "gone-after"})

    assert context.request_id.get() is None
    assert context.correlation_id.get() is None


# --- body size limit --------------------------------------------------------------------------------------


async def test_a_body_at_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=b"x" * BODY_LIMIT)

    assert response.status_code == 200
    assert response.json() == {"bytes": BODY_LIMIT}


async def test_a_declared_content_length_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=b"x" * (BODY_LIMIT + 1))

    body = assert_problem(response, 413)
    assert str(BODY_LIMIT) in str(body["detail"])
    assert response.headers["x-request-id"]


async def test_a_streamed_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=chunks(BODY_LIMIT * 3))

    body = assert_problem(response, 413)
    assert str(BODY_LIMIT) in str(body["detail"])


async def test_a_streamed_body_under_the_limit_is_read_whole(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=chunks(BODY_LIMIT - 4))

    assert response.status_code == 200
    assert response.json() == {"bytes": BODY_LIMIT - 4}


async def test_a_streamed_body_over_the_limit_to_a_json_route_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def rating_json() -> AsyncIterator[bytes]:
        yield b'{"sku": "RD-1", "score": 5, "comment": "'
        async for piece in chunks(BODY_LIMIT * 3):
            yield piece
        yield b'"}'

    response = await client.post("/rate", content=rating_json(), headers={"content-type": "application/json"})

    assert_problem(response, 413)


async def test_a_non_numeric_content_length_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=b"x" * 10, headers={"content-length": "ten"})

    body = assert_problem(response, 400)
    assert "Content-Length" in str(body["detail"])


# --- error mapping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("not-found", 404),
        ("bad-request", 400),
        ("conflict", 409),
        ("too-large", 413),
        ("dependency", 503),
        ("peer", 502),
        ("peer-unavailable", 503),
        ("peer-timeout", 504),
    ],
)
async def test_shop_errors_become_problem_json_with_their_status(
    client: httpx.AsyncClient, kind: str, status: int
) -> None:
    response = await client.get(f"/fail/{kind}")

    body = assert_problem(response, status)
    assert body["detail"] == f"{kind} happened"
    assert body["title"] == ERRORS[kind].title


@pytest.mark.parametrize(("kind", "status"), [("not-found", 404), ("conflict", 409), ("peer-timeout", 504)])
async def test_shop_errors_raised_as_text_keep_robot_shops_plain_body(
    client: httpx.AsyncClient, kind: str, status: int
) -> None:
    response = await client.get(f"/fail/{kind}", params={"text": "true"})

    assert response.status_code == status
    assert not response.headers["content-type"].startswith(PROBLEM)
    assert response.text == f"{kind} happened"


async def test_an_unknown_sku_answers_in_plain_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/product/MISSING")

    assert response.status_code == 404
    assert response.text == "SKU not found"


async def test_a_validation_error_is_a_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/rate", json={"sku": "RD-1", "score": "lots"})

    body = assert_problem(response, 400)
    assert "body.score" in str(body["detail"])
    errors = body["errors"]
    assert isinstance(errors, list)
    assert [error["location"] for error in errors] == ["body.score"]


async def test_a_missing_field_is_a_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/rate", json={"sku": "RD-1"})

    body = assert_problem(response, 400)
    assert "body.score" in str(body["detail"])


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/rate", content=b'{"sku": ', headers={"content-type": "application/json"})

    assert_problem(response, 400)


async def test_an_unknown_route_is_a_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    body = assert_problem(response, 404)
    assert body["detail"] == "no route for GET /nowhere"


async def test_a_wrong_method_is_a_405_with_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.delete("/product/RD-1")

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_an_unexpected_error_is_a_500_that_does_not_leak_its_message(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        with caplog.at_level(logging.ERROR, logger="roboshop.app"):
            response = await client.get("/crash")

    assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)


class RequestIdsSeenByErrorLogs(logging.Handler):
    """Records the request id a JSON log line would carry, for every error logged with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(context.request_id.get())


async def test_an_unexpected_error_is_logged_and_answered_with_the_request_id(app: FastAPI) -> None:
    handler = RequestIdsSeenByErrorLogs()
    root = logging.getLogger()
    root.addHandler(handler)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://c") as client,
        ):
            response = await client.get("/crash", headers={"X-Request-ID": "order-500"})
    finally:
        root.removeHandler(handler)

    assert response.status_code == 500
    assert handler.seen == ["order-500"]
    assert response.headers.get("x-request-id") == "order-500"


# --- operational routes ------------------------------------------------------------------------------------


async def test_health_answers_with_the_service_name(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "catalogue"}


async def test_a_service_defined_health_route_wins_over_the_kits() -> None:
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"app": "OK", "mongo": "connected"}

    app = build_app(router)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://c") as client,
    ):
        response = await client.get("/health")

    assert response.json() == {"app": "OK", "mongo": "connected"}
    assert [getattr(route, "path", None) for route in app.routes].count("/health") == 1


async def test_ready_is_200_when_every_check_passes(app: FastAPI, client: httpx.AsyncClient) -> None:
    calls: list[str] = []

    async def database() -> None:
        calls.append("database")

    add_readiness_check(app, "database", database)

    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert calls == ["database"]


async def test_ready_without_checks_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}


async def test_ready_is_503_naming_a_failing_check(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def database() -> None:
        return None

    async def broker() -> None:
        raise ConnectionRefusedError("broker refused the connection")

    add_readiness_check(app, "database", database)
    add_readiness_check(app, "broker", broker)

    response = await client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("failing: ConnectionRefusedError")
    assert "broker refused the connection" in body["checks"]["broker"]


async def test_ready_is_503_naming_a_hanging_check(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roboshop.kit.app, "READINESS_TIMEOUT_S", 0.05)

    async def catalogue_peer() -> None:
        await asyncio.Event().wait()

    add_readiness_check(app, "catalogue", catalogue_peer)

    response = await asyncio.wait_for(client.get("/ready"), timeout=2.0)

    assert response.status_code == 503
    assert response.json()["checks"]["catalogue"].startswith("failing: TimeoutError")


async def test_metrics_count_requests_by_route_template_never_by_raw_id(client: httpx.AsyncClient) -> None:
    await client.get("/product/RD-1")
    await client.get("/product/RD-2")
    await client.get("/product/MISSING")
    await client.get("/health")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]
    requests = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in samples
        if s.name == "http_requests_total"
    }
    assert requests[("/product/{sku}", "GET", "200")] == 2
    assert requests[("/product/{sku}", "GET", "404")] == 1
    assert all(s.labels.get("service") == "catalogue" for s in samples if s.name == "http_requests_total")
    assert "RD-1" not in response.text
    assert "MISSING" not in response.text
    durations = [
        s for s in samples if s.name == "http_request_duration_seconds_count" and s.labels["route"] == "/product/{sku}"
    ]
    assert [s.value for s in durations] == [3]


async def test_unknown_routes_are_counted_under_one_label(client: httpx.AsyncClient) -> None:
    await client.get("/nowhere/1")
    await client.get("/nowhere/2")

    response = await client.get("/metrics")

    assert 'route="<unmatched>"' in response.text
    assert "/nowhere" not in response.text


async def test_each_app_has_its_own_metrics_registry() -> None:
    first, second = build_app(), build_app()

    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_the_lifespan_provides_a_peer_client(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        assert app.state.peers.session is not None
