"""Small real HTTP servers on 127.0.0.1 that the kit's network code talks to in unit tests."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


def unused_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebServer:
    """An aiohttp application served on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, app: web.Application, port: int = 0) -> None:
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        self._requested_port = port
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner.server is not None:
            await self._runner.cleanup()


def health_row(service: str, instance_id: str, port: int, status: str = "passing") -> dict[str, Any]:
    """One entry of ``GET /v1/health/service/{name}``, shaped as the registry contract describes it."""
    return {
        "Service": {
            "ID": instance_id,
            "Service": service,
            "Address": "127.0.0.1",
            "Port": port,
            "Tags": [],
            "Meta": {"version": "0.1.0"},
        },
        "Checks": [
            {
                "CheckID": f"service:{instance_id}",
                "Status": status,
                "Output": "",
                "LastCheck": "2024-05-01T12:00:00+00:00",
            }
        ],
    }


@dataclass
class RegistryEvent:
    kind: str
    """``register`` or ``deregister``."""
    instance_id: str
    at: float
    payload: dict[str, Any] = field(default_factory=dict)
    check_status: int | None = None
    """With ``probe_checks``: the status the instance's own check URL answered while it registered."""


class FakeRegistry:
    """The registry's agent and health API, enough for discovery and registration, with every call recorded."""

    def __init__(self, port: int = 0, *, probe_checks: bool = False) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.lookups: list[tuple[str, dict[str, str]]] = []
        self.events: list[RegistryEvent] = []
        self.lookup_status = 200
        self._probe_checks = probe_checks
        app = web.Application()
        app.router.add_get("/v1/health/service/{name}", self._health)
        app.router.add_put("/v1/agent/service/register", self._register)
        app.router.add_put("/v1/agent/service/deregister/{id}", self._deregister)
        self._server = WebServer(app, port)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    def registrations(self) -> list[RegistryEvent]:
        return [event for event in self.events if event.kind == "register"]

    def deregistrations(self) -> list[RegistryEvent]:
        return [event for event in self.events if event.kind == "deregister"]

    async def _health(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.lookups.append((name, dict(request.query)))
        if self.lookup_status != 200:
            return web.Response(status=self.lookup_status, text="registry is unwell")
        rows = self.rows.get(name, [])
        if request.query.get("passing") == "true":
            rows = [row for row in rows if all(check["Status"] == "passing" for check in row["Checks"])]
        return web.json_response(sorted(rows, key=lambda row: str(row["Service"]["ID"])))

    async def _register(self, request: web.Request) -> web.Response:
        payload: dict[str, Any] = await request.json()
        check_status = await self._probe(payload["Check"]["HTTP"]) if self._probe_checks else None
        self.events.append(RegistryEvent("register", str(payload["ID"]), time.monotonic(), payload, check_status))
        return web.Response(status=200)

    async def _deregister(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["id"]
        known = any(event.instance_id == instance_id for event in self.registrations())
        self.events.append(RegistryEvent("deregister", instance_id, time.monotonic()))
        return web.Response(status=200 if known else 404)

    async def _probe(self, url: str) -> int | None:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=1.0)) as response,
            ):
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None
