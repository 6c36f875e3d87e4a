"""The gateway as a raw ASGI application (no framework on the hot path).

Per request: the operational endpoints by exact path; ``/api/...`` through the compiled route table to the
route's handler (the session policy and any other policies, then the proxy); everything else to the
storefront. Each request but the
operational ones is measured per route template and logged as one JSON access line.

The upstream session and discovery live from lifespan start-up to shutdown; the route handlers are built
then, once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import Token
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import orjson
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, Tracer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from roboshop.gateway.admin import AdminServer
from roboshop.gateway.aggregate import Aggregator, details_route, match_details
from roboshop.gateway.auth import session_policy
from roboshop.gateway.balancer import Balancer, OutlierPolicy, RetryBudget
from roboshop.gateway.consumers import ApiKeyPolicy
from roboshop.gateway.edge import EdgePolicy, preflight
from roboshop.gateway.exchange import Exchange, Handler, Policy, chain, clean_request_id
from roboshop.gateway.faults import Faults
from roboshop.gateway.metrics import GatewayMetrics
from roboshop.gateway.proxy import Proxy, create_session
from roboshop.gateway.ratelimit import Limiter, RateLimitPolicy, build_limiter
from roboshop.gateway.reload import RouteFileWatcher
from roboshop.gateway.routing import (
    API_PREFIX,
    HTTP_METHODS,
    MethodNotAllowed,
    Route,
    Router,
    compile_routes,
    load_route_table,
)
from roboshop.gateway.settings import GatewaySettings
from roboshop.gateway.storefront import Storefront
from roboshop.kit import tracing
from roboshop.kit.discovery import Discovery, build_discovery
from roboshop.kit.tracing import Telemetry

log = logging.getLogger("roboshop.gateway")
access_log = logging.getLogger("roboshop.access")

READINESS_TIMEOUT_S = 2.0
_KNOWN_METHODS = frozenset(HTTP_METHODS)
_JSON = [(b"content-type", b"application/json")]
_ALLOW_GET = [(b"allow", b"GET, HEAD")]


@dataclass(frozen=True, slots=True)
class RouteTableInUse:
    """A compiled route table with its handlers: swapped whole on reload, so a request sees one or the other."""

    router: Router
    handlers: dict[Route, Handler]
    details: Handler | None = None  # the built-in aggregation route


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        router: Router,
        storefront: Storefront,
        *,
        policies: Sequence[Policy] = (),
    ) -> None:
        self.settings = settings
        self.table = RouteTableInUse(router, {})
        self.storefront = storefront
        self.policies = tuple(policies)
        self.metrics = GatewayMetrics()
        self.telemetry = Telemetry(settings, self.metrics.registry)
        self._tracer: Tracer | None = self.telemetry.tracer if self.telemetry.enabled else None
        self._trace_fields = tracing.trace_header_names()
        self.faults = Faults()
        self.session: aiohttp.ClientSession | None = None
        self.discovery: Discovery | None = None
        self.limiter: Limiter | None = None
        self.balancer: Balancer | None = None
        self.admin: AdminServer | None = None
        self._proxy: Proxy | None = None
        self._session_policy: Policy | None = None
        self._aggregator: Aggregator | None = None
        self._details_route = details_route(settings.upstream_timeout_s)
        self._watcher: RouteFileWatcher | None = None
        self._access_log = settings.access_log
        self._max_header_bytes = settings.max_header_bytes
        self._operational: dict[str, Callable[[Exchange], Awaitable[None]]] = {
            "/health": self._health,
            "/ready": self._ready,
        }
        if settings.public_metrics or (settings.public_metrics is None and not settings.admin_enabled):
            self._operational["/metrics"] = self._metrics

    @property
    def router(self) -> Router:
        return self.table.router

    # Lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        self.telemetry.start()
        admin_key = settings.admin_key.get_secret_value() if settings.admin_key else ""
        if settings.admin_enabled and not admin_key:
            raise ValueError("the admin listener needs ROBOSHOP_GATEWAY_ADMIN_KEY; refusing to start it without one")
        session = create_session(pool_size=settings.upstream_pool_size, keepalive_s=settings.upstream_keepalive_s)
        try:
            discovery = build_discovery(settings)
            await discovery.start(session)
        except BaseException:
            await session.close()
            raise
        self.session, self.discovery = session, discovery
        self.balancer = Balancer(
            discovery,
            {},
            outliers=OutlierPolicy(settings.outlier_failures, settings.outlier_ejection_s),
            breaker_failures=settings.breaker_failures,
            breaker_reset_s=settings.breaker_reset_s,
        )
        self._proxy = Proxy(
            session,
            self.balancer,
            self.metrics,
            max_body_bytes=settings.max_body_bytes,
            connect_timeout_s=settings.connect_timeout_s,
            attempts=settings.upstream_attempts,
            budget=RetryBudget(settings.retry_budget_ratio, settings.retry_min_per_s),
            backoff_s=settings.retry_backoff_s,
            faults=self.faults,
        )
        if settings.rate_limit_enabled:
            self.limiter = build_limiter(settings.rate_limit_storage)
        self._session_policy = session_policy(settings, session, discovery)
        self._aggregator = Aggregator(session, self.balancer, connect_timeout_s=settings.connect_timeout_s)
        self.table = self._build(self.table.router)
        if settings.admin_enabled:
            self.admin = AdminServer(self, admin_key)
            await self.admin.start(settings.admin_host, settings.admin_port)
        self._watcher = RouteFileWatcher(self, settings.routes_file, settings.routes_poll_s)
        self._watcher.start()
        log.info("gateway started", extra={"services": sorted(self.router.services)})

    def _build(self, router: Router) -> RouteTableInUse:
        """Handlers for every route of ``router``; the long-lived parts (proxy, limiter, keys) are shared."""
        if self._proxy is None or self._session_policy is None or self.balancer is None:
            return RouteTableInUse(router, {})  # not started: handlers are built by start()
        self.balancer.configure({name: service.balance for name, service in router.services.items()})
        # The API key names the caller, whose limit is counted before a session token is verified (the
        # costliest step): a flood of forged tokens is refused by the limit, not by ES256 verifications.
        # Edge headers first, so that refusals by the later policies carry them (a browser must see CORS on a 429).
        policies: list[Policy] = [EdgePolicy(), ApiKeyPolicy(router.consumers)]
        if self.limiter is not None:
            policies.append(RateLimitPolicy(self.limiter, self.settings.rate_limit_anonymous, router.consumers))
        policies += [self._session_policy, *self.policies]
        proxy = self._proxy
        handlers = {route: chain(route, policies, proxy) for route in router.routes}
        details = None
        if self._aggregator is not None:
            details = chain(self._details_route, policies, self._aggregator)
        return RouteTableInUse(router, handlers, details)

    def reload(self) -> RouteTableInUse:
        """Read the route table file again and swap it in; raises RouteTableError and keeps the old one."""
        settings = self.settings
        router = compile_routes(load_route_table(settings.routes_file), default_timeout_s=settings.upstream_timeout_s)
        # Requests already matched keep their handler from the old table: nothing in flight is dropped.
        self.table = self._build(router)
        log.info("route table reloaded", extra={"services": sorted(router.services), "routes": len(router.routes)})
        return self.table

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self.admin is not None:
            await self.admin.close()
            self.admin = None
        self.table = RouteTableInUse(self.table.router, {})
        if self.limiter is not None:
            await self.limiter.close()
            self.limiter = None
        if self.session is not None:
            await self.session.close()
            self.session = None
            log.info("closed", extra={"component": "upstream session"})

    # ASGI -----------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                # Flushing spans may wait on a collector: not on the event loop.
                await asyncio.to_thread(self.telemetry.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id: str | None = None
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value) + 4
            if name == b"x-request-id":
                request_id = clean_request_id(value)
        ex = Exchange(scope, receive, send, scope["method"], request_id or secrets.token_hex(16), started)
        if header_bytes > self._max_header_bytes:
            detail = f"the request headers are larger than the limit of {self._max_header_bytes} bytes"
            await ex.problem(431, detail, [(b"connection", b"close")])
            self._observe(ex, scope["path"])
            return
        path: str = scope["path"]
        operational = self._operational.get(path)
        if operational is not None:
            await operational(ex)
            return
        is_api = path.startswith(API_PREFIX) or path == API_PREFIX[:-1]
        span, span_token = self._start_span(scope) if is_api else (None, None)
        try:
            if is_api:
                await self._api(ex, path)
            else:
                await self.storefront(ex)
        except Exception:
            log.exception("request failed", extra={"path": path, "request_id": ex.request_id})
            await ex.problem(500, "an unexpected error occurred; see the gateway log")
        finally:
            if span is not None:
                tracing.describe_server_span(span, ex.method, ex.label, ex.status or 499)
            self._observe(ex, path)
            if span is not None:
                tracing.end_server_span(span, span_token)

    def _start_span(self, scope: Scope) -> tuple[Span | None, Token[otel_context.Context] | None]:
        """The gateway's server span: the root of a request's trace, or a child of the caller's traceparent."""
        if self._tracer is None:
            return None, None
        carrier = {
            name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in self._trace_fields
        }
        return tracing.start_server_span(self._tracer, scope["method"], scope["path"], carrier)

    async def _api(self, ex: Exchange, path: str) -> None:
        raw: bytes | None = ex.scope.get("raw_path")
        raw_path = raw.decode("latin-1") if raw else quote(path)
        table = self.table  # one table for the whole request, even if a reload swaps it meanwhile
        if table.details is not None and (sku := match_details(raw_path)) is not None:
            await self._details(ex, table.details, sku)
            return
        found, rest = table.router.match(ex.method, raw_path)
        if ex.method == "OPTIONS" and not isinstance(found, Route):
            requested = ex.header(b"access-control-request-method")
            if requested is not None:
                wanted, rest = table.router.match(requested.decode("latin-1").upper(), raw_path)
                if isinstance(wanted, Route) and wanted.cors is not None:
                    ex.label = wanted.label
                    await preflight(ex, wanted)
                    return
        if found is None:
            await ex.problem(404, f"no public route for {ex.method} {path[:200]}")
            return
        if isinstance(found, MethodNotAllowed):
            ex.label = found.label
            detail = f"{ex.method} is not allowed on {found.label}"
            await ex.problem(405, detail, [(b"allow", found.allow.encode())])
            return
        ex.route, ex.label, ex.rest = found, found.label, rest
        handler = table.handlers.get(found)
        if handler is None:
            await ex.problem(503, "the gateway is not started")
            return
        await handler(ex)

    async def _details(self, ex: Exchange, handler: Handler, sku: str) -> None:
        route = self._details_route
        ex.route, ex.label, ex.rest = route, route.label, f"/{sku}/details"
        if ex.method not in route.methods:
            await ex.problem(405, f"{ex.method} is not allowed on {route.label}", list(_ALLOW_GET))
            return
        await handler(ex)

    def _observe(self, ex: Exchange, path: str) -> None:
        elapsed = time.perf_counter() - ex.started
        # 499: the client went away before any answer (nginx's convention).
        status = ex.status or 499
        method = ex.method if ex.method in _KNOWN_METHODS else "OTHER"
        self.metrics.observe_request(ex.label, method, status, elapsed)
        if self._access_log and access_log.isEnabledFor(logging.INFO):
            client = ex.scope.get("client")
            fields = {
                "method": method,
                "path": path,
                "route": ex.label,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "client": client[0] if client else "",
                "upstream": ex.upstream,
                "request_id": ex.request_id,
            }
            if ex.user is not None:
                fields["user"] = ex.user
            if ex.consumer is not None:
                fields["consumer"] = ex.consumer
            access_log.info("request", extra=fields)

    # Operational endpoints (neither measured nor logged, like the kit's) -------------------------------

    async def _health(self, ex: Exchange) -> None:
        """Liveness: the process serves requests."""
        if await self._only_get(ex):
            body = orjson.dumps({"status": "ok", "service": self.settings.service_name})
            await ex.respond(200, body, list(_JSON))

    async def _ready(self, ex: Exchange) -> None:
        """Readiness: discovery answers for every routed service (having no instance is not an error)."""
        if not await self._only_get(ex):
            return
        instances: dict[str, int | str] = {}
        ok = self.discovery is not None
        if self.discovery is not None:
            names = list(self.router.services)
            results = await asyncio.gather(*(self._count_instances(self.discovery, name) for name in names))
            instances = dict(zip(names, results, strict=True))
            ok = all(isinstance(result, int) for result in results)
        report = {
            "status": "ok" if ok else "unavailable",
            "checks": {"discovery": "ok" if ok else "failing"},
            "instances": instances,
        }
        await ex.respond(200 if ok else 503, orjson.dumps(report), list(_JSON))

    @staticmethod
    async def _count_instances(discovery: Discovery, service: str) -> int | str:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S):
                return len(await discovery.instances(service))
        except Exception as exc:
            return f"failing: {type(exc).__name__}: {exc}"[:200]

    async def _metrics(self, ex: Exchange) -> None:
        if await self._only_get(ex):
            body = generate_latest(self.metrics.registry)
            await ex.respond(200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    def metrics_text(self) -> bytes:
        return generate_latest(self.metrics.registry)

    @staticmethod
    async def _only_get(ex: Exchange) -> bool:
        if ex.method == "GET" or ex.method == "HEAD":
            return True
        await ex.problem(405, f"{ex.method} is not allowed here", list(_ALLOW_GET))
        return False


def create_app(settings: GatewaySettings, *, policies: Sequence[Policy] = ()) -> Gateway:
    """The gateway for ``settings``: reads and validates the route table now, connects on lifespan start."""
    table = load_route_table(settings.routes_file)
    router = compile_routes(table, default_timeout_s=settings.upstream_timeout_s)
    return Gateway(settings, router, Storefront(settings.web_root), policies=policies)
