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
from urllib.parse import quote

import aiohttp
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from roboshop.gateway.auth import session_policy
from roboshop.gateway.exchange import Exchange, Handler, Policy, chain, clean_request_id
from roboshop.gateway.metrics import GatewayMetrics
from roboshop.gateway.proxy import Proxy, create_session
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
from roboshop.kit.discovery import Discovery, build_discovery

log = logging.getLogger("roboshop.gateway")
access_log = logging.getLogger("roboshop.access")

READINESS_TIMEOUT_S = 2.0
_KNOWN_METHODS = frozenset(HTTP_METHODS)
_JSON = [(b"content-type", b"application/json")]
_ALLOW_GET = [(b"allow", b"GET, HEAD")]


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
        self.router = router
        self.storefront = storefront
        self.policies = tuple(policies)
        self.metrics = GatewayMetrics()
        self.session: aiohttp.ClientSession | None = None
        self.discovery: Discovery | None = None
        self._handlers: dict[Route, Handler] = {}
        self._access_log = settings.access_log
        self._operational: dict[str, Callable[[Exchange], Awaitable[None]]] = {
            "/health": self._health,
            "/ready": self._ready,
            "/metrics": self._metrics,
        }

    # Lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        session = create_session(pool_size=settings.upstream_pool_size, keepalive_s=settings.upstream_keepalive_s)
        try:
            discovery = build_discovery(settings)
            await discovery.start(session)
        except BaseException:
            await session.close()
            raise
        proxy = Proxy(
            session,
            discovery,
            self.router,
            self.metrics,
            max_body_bytes=settings.max_body_bytes,
            connect_timeout_s=settings.connect_timeout_s,
        )
        self.session, self.discovery = session, discovery
        # Sessions first: a caller is known (or refused) before any other policy spends work on it.
        policies = (session_policy(settings, session, discovery), *self.policies)
        self._handlers = {route: chain(route, policies, proxy) for route in self.router.routes}
        log.info("gateway started", extra={"services": sorted(self.router.services)})

    async def close(self) -> None:
        self._handlers = {}
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
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = clean_request_id(value)
                break
        ex = Exchange(scope, receive, send, scope["method"], request_id or secrets.token_hex(16), started)
        path: str = scope["path"]
        operational = self._operational.get(path)
        if operational is not None:
            await operational(ex)
            return
        try:
            if path.startswith(API_PREFIX) or path == API_PREFIX[:-1]:
                await self._api(ex, path)
            else:
                await self.storefront(ex)
        except Exception:
            log.exception("request failed", extra={"path": path, "request_id": ex.request_id})
            await ex.problem(500, "an unexpected error occurred; see the gateway log")
        finally:
            self._observe(ex, path)

    async def _api(self, ex: Exchange, path: str) -> None:
        raw: bytes | None = ex.scope.get("raw_path")
        raw_path = raw.decode("latin-1") if raw else quote(path)
        found, rest = self.router.match(ex.method, raw_path)
        if found is None:
            await ex.problem(404, f"no public route for {ex.method} {path[:200]}")
            return
        if isinstance(found, MethodNotAllowed):
            ex.label = found.label
            detail = f"{ex.method} is not allowed on {found.label}"
            await ex.problem(405, detail, [(b"allow", found.allow.encode())])
            return
        ex.route, ex.label, ex.rest = found, found.label, rest
        handler = self._handlers.get(found)
        if handler is None:
            await ex.problem(503, "the gateway is not started")
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
