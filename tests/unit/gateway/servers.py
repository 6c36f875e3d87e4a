"""Real servers on 127.0.0.1 for the gateway's tests: the gateway itself under uvicorn, tiny upstream
services, a registry answering the discovery contract, and a raw HTTP/1.1 client that sends bytes exactly
as written (real clients normalise ``..`` and refuse odd headers)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from aiohttp import web

from roboshop.gateway.app import Gateway, create_app
from roboshop.gateway.exchange import Policy
from roboshop.gateway.settings import GatewaySettings
from roboshop.kit.runner import bind_socket

START_DEADLINE_S = 5.0


def unused_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@dataclass
class RunningGateway:
    app: Gateway
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def running_gateway(
    settings: GatewaySettings, *, policies: tuple[Policy, ...] = ()
) -> AsyncIterator[RunningGateway]:
    """The gateway served by uvicorn with httptools, as ``kit.runner.serve`` does, on a free port."""
    app = create_app(settings, policies=policies)
    sock = bind_socket("127.0.0.1", 0)
    # No proxy-header rewriting, as in the gateway's __main__ (FORWARDED_ALLOW_IPS="").
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        http="httptools",
        forwarded_allow_ips="",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + START_DEADLINE_S
    while not server.started:
        if serving.done():
            await serving
            raise AssertionError("the gateway stopped during start-up")
        assert time.monotonic() < deadline, "the gateway did not start in time"
        await asyncio.sleep(0.01)
    try:
        yield RunningGateway(app, int(sock.getsockname()[1]))
    finally:
        server.should_exit = True
        await serving
        sock.close()


class WebServer:
    """An aiohttp application on 127.0.0.1 (a free port)."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, shutdown_timeout=0.2)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> WebServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


@dataclass
class SeenRequest:
    method: str
    raw_path: str
    query: str
    headers: list[tuple[str, str]]
    body_length: int
    body_sha256: str

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class EchoService:
    """An upstream that records each request and answers with what it saw.

    ``/stream`` sends a first chunk and the rest only after ``release`` is set; ``.../slow`` answers after
    ``slow_s``; ``.../cookie`` sets a cookie, ``.../cookies`` two; ``.../gzip`` answers a gzip-encoded body.
    ``routes`` given to :meth:`app` are served before the echo (a JWKS, for instance).
    """

    name: str = "echo"
    slow_s: float = 3.0
    seen: list[SeenRequest] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    first_body_chunk: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self, routes: Iterable[web.RouteDef] = ()) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_routes(list(routes))
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        digest = hashlib.sha256()
        length = 0
        async for chunk in request.content.iter_any():
            if not self.first_body_chunk.is_set():
                self.first_body_chunk.set()
            digest.update(chunk)
            length += len(chunk)
        seen = SeenRequest(
            request.method,
            request.raw_path.partition("?")[0],
            request.raw_path.partition("?")[2],
            [(name.decode(), value.decode()) for name, value in request.raw_headers],
            length,
            digest.hexdigest(),
        )
        self.seen.append(seen)
        path = seen.raw_path
        if path == "/stream":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            await response.write(b"first chunk;")
            await self.release.wait()
            await response.write(b"second chunk")
            await response.write_eof()
            return response
        if path.endswith("/slow"):
            await asyncio.sleep(self.slow_s)
        if path.endswith("/cookie"):
            response = web.json_response({"ok": True})
            response.set_cookie("session", "alice-secret")
            return response
        if path.endswith("/cookies"):
            response = web.json_response({"ok": True})
            response.set_cookie("roboshop_session", "a-new-session", httponly=True)
            response.set_cookie("flavour", "mint")
            return response
        if path.endswith("/gzip"):
            return web.Response(body=GZIPPED, headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"})
        return web.json_response(
            {
                "service": self.name,
                "method": seen.method,
                "path": seen.raw_path,
                "query": seen.query,
                "body_length": length,
                "body_sha256": seen.body_sha256,
            },
            headers={"X-Upstream": self.name, "Set-Cookie": "flavour=chocolate"},
        )


# "hello, robots" gzip-compressed (fixed bytes: the gateway must pass them through untouched).
GZIPPED = bytes.fromhex("1f8b0800000000000203cb48cdc9c9d75128ca4fca2f290600efd7ad950d000000")


@asynccontextmanager
async def echo_service(name: str = "echo", slow_s: float = 3.0) -> AsyncIterator[tuple[EchoService, str]]:
    service = EchoService(name, slow_s)
    async with WebServer(service.app()) as server:
        yield service, server.url


@dataclass
class Shop:
    """The gateway in front of one echoing upstream that plays every named service."""

    gateway: RunningGateway
    client: httpx.AsyncClient
    upstream: EchoService
    upstream_url: str


@asynccontextmanager
async def shop_with(
    make_settings: Callable[..., GatewaySettings],
    *services: str,
    policies: tuple[Policy, ...] = (),
    **overrides: Any,
) -> AsyncIterator[Shop]:
    async with echo_service(services[0] if services else "echo") as (upstream, url):
        settings = make_settings(peers=dict.fromkeys(services, url), **overrides)
        async with (
            running_gateway(settings, policies=policies) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
        ):
            yield Shop(gateway, client, upstream, url)


@asynccontextmanager
async def raw_upstream(response: bytes) -> AsyncIterator[tuple[list[bytes], str]]:
    """An upstream that reads one request head and writes ``response`` exactly as given, then closes."""
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(response)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield heads, f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Registry:
    """Answers ``GET /v1/health/service/{name}?passing=true`` as the registry contract describes."""

    instances: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/health/service/{name}", self._health)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        rows = [
            {
                "Service": {
                    "ID": instance_id,
                    "Service": request.match_info["name"],
                    "Address": "127.0.0.1",
                    "Port": port,
                    "Tags": [],
                    "Meta": {"version": "0.1.0"},
                },
                "Checks": [{"CheckID": f"service:{instance_id}", "Status": "passing", "Output": ""}],
            }
            for instance_id, port in sorted(self.instances.get(request.match_info["name"], []))
        ]
        return web.json_response(rows)


@asynccontextmanager
async def registry(instances: dict[str, list[tuple[str, int]]]) -> AsyncIterator[str]:
    async with WebServer(Registry(instances).app()) as server:
        yield server.url


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


async def raw_request(port: int, head: str, body: bytes = b"") -> RawResponse:
    """Send ``head`` (request line and headers, ``\\n``-separated; Connection: close is added) and read all."""
    lines = [line.strip() for line in head.strip().split("\n") if line.strip()]
    request = "\r\n".join([*lines, "Connection: close"]).encode("latin-1") + b"\r\n\r\n" + body
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (h.partition(":") for h in header_lines)]
    response = RawResponse(int(status_line.split()[1]), headers, payload)
    if "chunked" in response.header("transfer-encoding"):
        response.body = _dechunk(payload)
    return response


def _dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


async def wait_for(predicate: Callable[[], bool | Awaitable[bool]], what: str, deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def problem(body: Any) -> tuple[int, str]:
    return body["status"], body["detail"]
