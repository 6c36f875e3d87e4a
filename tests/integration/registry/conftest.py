"""Fixtures for the registry's tests: the real registry app, and tiny instances on 127.0.0.1 to check."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web

from roboshop.kit.runner import bind_socket
from roboshop.registry.app import create_app
from roboshop.registry.settings import RegistrySettings

Condition = Callable[[], Awaitable[bool]]


async def wait_until(condition: Condition, within_s: float = 3.0, *, message: str = "condition") -> None:
    """Poll ``condition`` until it holds, failing the test after ``within_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"{message} not met within {within_s}s")
        await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    return wait_until


class HealthyInstance:
    """A tiny service instance: ``GET /health`` answers ``status`` (or never answers while ``hang``)."""

    def __init__(self, status: int = 200, *, hang: bool = False) -> None:
        self.status = status
        self.hang = hang
        self.checks = 0
        self.port = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def registration(self, instance_id: str, service: str = "catalogue", **check: str) -> dict[str, Any]:
        return {
            "ID": instance_id,
            "Name": service,
            "Address": "127.0.0.1",
            "Port": self.port,
            "Tags": ["v1"],
            "Meta": {"version": "1.0"},
            "Check": {"HTTP": self.health_url, "Interval": "0.1s", "Timeout": "0.5s"} | check,
        }

    async def _health(self, request: web.Request) -> web.Response:
        self.checks += 1
        if self.hang:
            await self._release.wait()
        return web.Response(status=self.status, text="ok" if self.status < 300 else "failing")

    async def start(self, port: int = 0) -> HealthyInstance:
        app = web.Application()
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


InstanceFactory = Callable[..., Awaitable[HealthyInstance]]


@pytest.fixture
async def instance() -> AsyncIterator[InstanceFactory]:
    """Start tiny instances: ``await instance(503)``, ``await instance(hang=True)``; all stopped afterwards."""
    started: list[HealthyInstance] = []

    async def start(status: int = 200, *, hang: bool = False) -> HealthyInstance:
        server = await HealthyInstance(status, hang=hang).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@contextlib.asynccontextmanager
async def registry_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The registry app with its lifespan (checker included), called in-process."""
    app = create_app(RegistrySettings(database_url=database_url))
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://registry") as c,
    ):
        yield c


@pytest.fixture
async def registry(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with registry_client(sqlite_url) as client:
        yield client


class _QuietServer(uvicorn.Server):
    # Leave the test runner's signal handling alone.
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@pytest.fixture
async def registry_url(sqlite_url: str) -> AsyncIterator[str]:
    """The registry served by uvicorn on a free 127.0.0.1 port, for clients that need a real socket."""
    app = create_app(RegistrySettings(database_url=sqlite_url))
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = _QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool:
        if serving.done():
            await serving
        return server.started

    await wait_until(started, 5.0, message="registry started")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving
    sock.close()


@pytest.fixture
def start_registry() -> Callable[[str], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """Start the registry on a given database (to start it again on the same one)."""
    return registry_client
