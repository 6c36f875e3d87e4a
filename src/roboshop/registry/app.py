"""The registry's app factory: the composition root."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from fastapi import FastAPI

from roboshop.kit.app import add_readiness_check, create_service_app
from roboshop.kit.db import create_engine, migrate, ping
from roboshop.registry.agent import Agent, InstancesCollector
from roboshop.registry.api import router
from roboshop.registry.checker import HealthChecker, HttpProbe
from roboshop.registry.domain import Clock, SystemClock
from roboshop.registry.settings import RegistrySettings
from roboshop.registry.store import SqlInstanceStore


def create_app(settings: RegistrySettings, *, clock: Clock | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.engine = engine
        try:
            await migrate(engine, "roboshop.registry.migrations", service="registry")
            agent = Agent(SqlInstanceStore(engine), clock or SystemClock())
            await agent.load()
            collector = InstancesCollector(agent)
            app.state.metrics.registry.register(collector)
            # A fresh connection per check: a pooled one the instance has closed would read as a failure.
            connector = aiohttp.TCPConnector(limit=settings.check_connections, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                checker = HealthChecker(agent, HttpProbe(session))
                app.state.agent = agent
                app.state.checker = checker
                checking = asyncio.create_task(checker.run(), name="health checker")
                try:
                    yield
                finally:
                    checking.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await checking
                    app.state.metrics.registry.unregister(collector)
        finally:
            await engine.dispose()

    app = create_service_app(
        settings,
        routers=[router],
        lifespan=lifespan,
        title="RoboShop registry",
        description="Service instances and their health, Consul-style; Prometheus HTTP service discovery.",
    )

    async def database_answers() -> None:
        await ping(app.state.engine)

    add_readiness_check(app, "database", database_answers)
    return app
