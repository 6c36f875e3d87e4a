"""The admin API: a second listener of the gateway process, never reachable through the public port.

Bound to 127.0.0.1 by default (``admin_host``/``admin_port``); every endpoint but ``/health`` and
``/metrics`` needs the admin key (``ROBOSHOP_GATEWAY_ADMIN_KEY``) as ``X-Admin-Key`` or ``Authorization:
Bearer``, compared in constant time. The gateway refuses to start the listener without a key.

    GET    /health                         liveness of the admin listener (no key)
    GET    /metrics                        the gateway's Prometheus metrics (no key: read-only, for scrapers)
    GET    /admin/routes                   the route table in use
    GET    /admin/upstreams                instances per service (in flight, failures, ejection) and breakers
    POST   /admin/reload                   reload the route table file (400 with the error: old table kept)
    GET    /admin/faults                   the injected faults
    PUT    /admin/faults/{service}         inject {"latency_ms": int, "error_rate": 0..1} for a service
    DELETE /admin/faults/{service}         remove it
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from roboshop.gateway.faults import Fault
from roboshop.gateway.routing import RouteTableError

if TYPE_CHECKING:
    from roboshop.gateway.app import Gateway

log = logging.getLogger("roboshop.gateway")

_OPEN_PATHS = frozenset({"/health", "/metrics"})


def _problem(status: int, detail: str, **headers: str) -> web.Response:
    title = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json", headers=headers)


class AdminServer:
    def __init__(self, gateway: Gateway, key: str) -> None:
        self._gateway = gateway
        self._key = key.encode()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authorise], client_max_size=64 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/admin/routes", self._routes)
        app.router.add_get("/admin/upstreams", self._upstreams)
        app.router.add_post("/admin/reload", self._reload)
        app.router.add_get("/admin/faults", self._faults)
        app.router.add_put("/admin/faults/{service}", self._set_fault)
        app.router.add_delete("/admin/faults/{service}", self._clear_fault)
        return app

    async def start(self, host: str, port: int) -> None:
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("admin API listening", extra={"host": host, "port": self.port})

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authorise(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path not in _OPEN_PATHS and not self._key_matches(request):
            return _problem(401, "the admin API needs the admin key (X-Admin-Key)", **{"WWW-Authenticate": "AdminKey"})
        response: web.StreamResponse = await handler(request)
        return response

    def _key_matches(self, request: web.Request) -> bool:
        presented = request.headers.get("X-Admin-Key")
        if presented is None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            presented = token if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(presented.encode("utf-8", "replace"), self._key)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "gateway-admin"})

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self._gateway.metrics_text())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _routes(self, request: web.Request) -> web.Response:
        router = self._gateway.router
        rows = [
            {
                "service": route.service,
                "path": route.label,
                "methods": sorted(route.methods),
                "auth": route.auth,
                "owns": list(route.owns),
                "rate_limit": route.rate_limit,
                "timeout_s": route.timeout_s,
            }
            for route in router.routes
        ]
        consumers = [{"name": consumer.name, "rate_limit": consumer.rate_limit} for consumer in router.consumers]
        return web.json_response({"routes": rows, "consumers": consumers})

    async def _upstreams(self, request: web.Request) -> web.Response:
        balancer = self._gateway.balancer
        return web.json_response(await balancer.snapshot() if balancer is not None else {})

    async def _reload(self, request: web.Request) -> web.Response:
        try:
            table = self._gateway.reload()
        except RouteTableError as exc:
            log.error("route table not reloaded; the previous one stays in use", extra={"error": str(exc)})
            return _problem(400, str(exc))
        return web.json_response({"reloaded": True, "routes": len(table.router.routes)})

    async def _faults(self, request: web.Request) -> web.Response:
        faults = self._gateway.faults.by_service
        return web.json_response({service: fault.model_dump() for service, fault in faults.items()})

    async def _set_fault(self, request: web.Request) -> web.Response:
        service = request.match_info["service"]
        if service not in self._gateway.router.services:
            return _problem(404, f"no service {service!r} in the route table")
        try:
            fault = Fault.model_validate_json(await request.read())
        except ValidationError as exc:
            return _problem(400, f"not a fault: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
        self._gateway.faults.set(service, fault)
        log.warning("fault injected", extra={"upstream": service, **fault.model_dump()})
        return web.json_response(fault.model_dump())

    async def _clear_fault(self, request: web.Request) -> web.Response:
        service = request.match_info["service"]
        if not self._gateway.faults.clear(service):
            return _problem(404, f"no fault injected for {service!r}")
        log.warning("fault removed", extra={"upstream": service})
        return web.Response(status=204)
