"""Running a service process: serve, register, and shut down gracefully.

On SIGTERM or SIGINT the instance (1) deregisters, (2) keeps serving for ``deregister_delay_s`` so that
peers' discovery caches forget it, (3) stops accepting connections and drains in-flight requests for up to
``grace_period_s``, (4) closes its pools (the app's lifespan shutdown) and (5) exits 0.
A second SIGINT forces an immediate exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import socket
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import aiohttp
import uvicorn
from fastapi import FastAPI

from roboshop.kit.logging import configure_logging
from roboshop.kit.registration import Registration, RegistryClient
from roboshop.kit.settings import ServiceSettings

log = logging.getLogger("roboshop.runner")
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


class _Server(uvicorn.Server):
    """uvicorn's server with our own signal handling: deregister first, and never re-raise the signal."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[int], None]) -> None:
        super().__init__(config)
        self._on_signal = on_signal

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve(
    app: FastAPI | Any,
    settings: ServiceSettings,
    *,
    check_path: str = "/ready",
    register: bool = True,
    proxy_headers: bool = True,
) -> None:
    """Serve ``app`` until a signal arrives, then shut down gracefully (see the module docstring)."""
    sock = bind_socket(settings.host, settings.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        # uvicorn takes whole seconds; round up so the drain is never shorter than configured (0: no drain).
        timeout_graceful_shutdown=math.ceil(settings.grace_period_s),
        timeout_keep_alive=15,
        server_header=False,
        # False for the gateway: the public entry must not take a client's X-Forwarded-* as its peer address.
        proxy_headers=proxy_headers,
        loop="uvloop",
        http="httptools",
    )
    stopping = asyncio.Event()
    signals_seen: list[int] = []

    def on_signal(sig: int) -> None:
        signals_seen.append(sig)
        if stopping.is_set():
            if sig == signal.SIGINT:
                server.force_exit = True
            return
        log.info("shutdown requested", extra={"signal": signal.Signals(sig).name})
        stopping.set()

    server = _Server(config, on_signal)
    registration = Registration(
        service=settings.service_name,
        instance_id=settings.resolved_instance_id(port),
        address=settings.resolved_advertise_host(),
        port=port,
        check_path=check_path,
        check_interval_s=settings.check_interval_s,
        deregister_after_s=settings.deregister_after_s,
        version=settings.version,
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    async with aiohttp.ClientSession() as session:
        registry = RegistryClient(settings.registry_url, session) if (register and settings.registry_url) else None
        keeper: asyncio.Task[None] | None = None
        # uvicorn exposes start-up only as a flag.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if serving.done():
            await serving  # start-up failed: raise its error
            return
        log.info(
            "serving",
            extra={"address": f"http://{registration.address}:{port}", "instance": registration.instance_id},
        )
        if registry is not None:
            keeper = asyncio.create_task(registry.keep_registered(registration, settings.reregister_interval_s))
        stop_wait = asyncio.create_task(stopping.wait())
        await asyncio.wait({serving, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if registry is not None:
            try:
                await registry.deregister(registration.instance_id)
                log.info("deregistered", extra={"instance": registration.instance_id})
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("deregistration failed", extra={"error": str(exc) or type(exc).__name__})
            if not serving.done() and settings.deregister_delay_s:
                await asyncio.sleep(settings.deregister_delay_s)
        server.should_exit = True
        await serving
    log.info("stopped", extra={"instance": registration.instance_id})


def run(
    settings: SettingsT,
    create_app: Callable[[SettingsT], FastAPI | Any],
    *,
    check_path: str = "/ready",
    proxy_headers: bool = True,
) -> None:
    """Entry point of ``python -m roboshop.<service>``: configure logs, build the app, serve with uvloop."""
    import uvloop

    configure_logging(settings.service_name, settings.version, settings.log_level)
    app = create_app(settings)
    uvloop.run(serve(app, settings, check_path=check_path, proxy_headers=proxy_headers))
