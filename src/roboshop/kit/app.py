"""The app factory: one place that turns a service's routers into a RoboShop service.

It adds the request middleware, the error mapping (problem+json, or Robot Shop's plain text),
``/health`` (liveness), ``/ready`` (readiness: every registered dependency check answers),
``/metrics``, the peer client (discovery + HTTP) in ``app.state.peers``, and the app's traces
(``app.state.telemetry``, see :mod:`roboshop.kit.tracing`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from roboshop.kit.discovery import build_discovery
from roboshop.kit.errors import RoboShopError
from roboshop.kit.metrics import HttpMetrics
from roboshop.kit.middleware import ServiceMiddleware
from roboshop.kit.peer import PeerClient
from roboshop.kit.settings import ServiceSettings
from roboshop.kit.tracing import Telemetry

log = logging.getLogger("roboshop.app")

ReadinessCheck = Callable[[], Awaitable[object]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
READINESS_TIMEOUT_S = 2.0
BAD_REQUEST_RESPONSE: dict[str, Any] = {
    "description": "Bad Request: a parameter or the body is not acceptable",
    "content": {
        "application/problem+json": {
            "schema": {
                "type": "object",
                "required": ["title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                },
            }
        },
        "text/html": {"schema": {"type": "string"}},
    },
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def from_state(name: str) -> Callable[[Request], Any]:
    """A dependency giving ``app.state.<name>`` (what the app factory put there): ``Depends(from_state("store"))``."""

    def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"state_{name}"
    return dependency


def add_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    """Register a dependency that ``/ready`` must find answering (a database, a peer, a broker)."""
    app.state.readiness[name] = check


def create_service_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter],
    lifespan: Lifespan | None = None,
    title: str | None = None,
    description: str = "",
) -> FastAPI:
    metrics = HttpMetrics(settings.service_name)
    telemetry = Telemetry(settings, metrics.registry)
    tracer = telemetry.tracer if telemetry.enabled else None

    @asynccontextmanager
    async def kit_lifespan(app: FastAPI) -> AsyncIterator[None]:
        telemetry.start()
        discovery = build_discovery(settings)
        peers = PeerClient(
            discovery, timeout_s=settings.peer_timeout_s, internal_token=app.state.internal_token, tracer=tracer
        )
        if app.state.internal_token is None:
            log.warning("internal routes are open to any caller: no internal token is configured")
        await peers.start()
        app.state.peers = peers
        try:
            # Engines the service's lifespan creates report their statements and pool to this app's telemetry.
            with telemetry.activated():
                if lifespan is None:
                    yield
                else:
                    async with lifespan(app):
                        yield
        finally:
            await peers.close()
            log.info("closed", extra={"component": "peers"})
            # Flushing may wait for the collector (up to OTEL_EXPORTER_OTLP_TIMEOUT): not on the event loop.
            await asyncio.to_thread(telemetry.shutdown)

    app = FastAPI(
        title=title or f"RoboShop {settings.service_name}",
        description=description,
        version=settings.version,
        lifespan=kit_lifespan,
    )
    app.state.settings = settings
    app.state.internal_token = settings.internal_token.get_secret_value() if settings.internal_token else None
    app.state.metrics = metrics
    app.state.telemetry = telemetry
    app.state.readiness = {}
    for router in routers:
        app.include_router(router)
    _add_error_handlers(app)
    _document_bad_requests_as_400(app)
    _add_operational_routes(app, metrics)
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes, tracer=tracer)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def on_roboshop_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RoboShopError)
        if exc.status >= 500:
            log.warning("request failed", extra={"error": exc.detail, "status": exc.status})
        if exc.text:
            return PlainTextResponse(exc.detail, status_code=exc.status, media_type="text/html")
        return problem(exc.status, exc.title, exc.detail)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": ".".join(str(part) for part in err.get("loc", ())), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors) or "invalid request"
        return problem(400, "Bad Request", detail, errors=errors)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        response = problem(exc.status_code, _title(exc.status_code), detail)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error occurred; see the service log")

    app.add_exception_handler(RoboShopError, on_roboshop_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _document_bad_requests_as_400(app: FastAPI) -> None:
    """FastAPI documents 422 for every route that takes parameters, but the kit answers bad input with 400."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # FastAPI keeps it in app.openapi_schema: edited once, served as edited
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", BAD_REQUEST_RESPONSE)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _add_operational_routes(app: FastAPI, metrics: HttpMetrics) -> None:
    taken = {getattr(route, "path", None) for route in app.routes}
    if "/health" not in taken:

        @app.get("/health", include_in_schema=False)
        async def health() -> dict[str, str]:
            """Liveness: the process serves requests."""
            return {"status": "ok", "service": app.state.settings.service_name}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> Response:
        """Readiness: every dependency this instance needs answers."""
        checks: dict[str, Callable[[], Awaitable[object]]] = app.state.readiness
        results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
        report = dict(zip(checks, results, strict=True))
        ok = all(result == "ok" for result in results)
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": report}, 200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _run_check(check: Callable[[], Awaitable[object]]) -> str:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S):
            await check()
    except Exception as exc:
        return f"failing: {type(exc).__name__}: {exc}"[:200]
    return "ok"
