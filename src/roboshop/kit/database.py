"""Opening a service's database at start-up without crash-looping while the database is still coming up.

``open_database`` creates the engine and runs the service's migrations. If the database cannot be reached, the
service starts anyway (its ``/ready`` and Robot Shop health bodies say the database is down, its data routes answer
with an error) and a background task retries every ``retry_s`` until the migrations succeed, then hands the engine
to ``on_ready`` (which may prepare more, such as seed data). Any other error (a broken migration, a bad URL) fails
start-up loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roboshop.kit.app import add_readiness_check
from roboshop.kit.db import create_engine, migrate
from roboshop.kit.settings import DatabaseSettings

log = logging.getLogger("roboshop.db")

RETRY_S = 2.0


class StoreUnavailable(Exception):
    """A store's database cannot be reached (down, not migrated yet, refusing connections)."""


@asynccontextmanager
async def connect(engine: AsyncEngine, *, what: str) -> AsyncIterator[AsyncConnection]:
    """A connection from ``engine``; "cannot reach the database" errors become :class:`StoreUnavailable`."""
    try:
        async with engine.connect() as conn:
            yield conn
    except Exception as exc:
        if database_unreachable(exc):
            raise StoreUnavailable(f"{what} unreachable: {type(exc).__name__}") from exc
        raise


def database_unreachable(exc: BaseException) -> bool:
    """True for errors that mean "cannot talk to the database", as opposed to a bug in a statement."""
    if isinstance(exc, OSError | OperationalError | InterfaceError):
        return True
    # A failed connect (unknown database, server starting up) carries no statement.
    return isinstance(exc, DBAPIError) and (exc.statement is None or exc.connection_invalidated)


@asynccontextmanager
async def open_database(
    url: str,
    *,
    service: str,
    migrations: str,
    on_ready: Callable[[AsyncEngine], Awaitable[None]],
    pool_size: int = 5,
    retry_s: float = RETRY_S,
) -> AsyncIterator[AsyncEngine]:
    """Engine for ``url``, migrated with ``migrations``; ``await on_ready(engine)`` once the schema is there."""
    engine = create_engine(url, pool_size=pool_size)
    retrying: asyncio.Task[None] | None = None
    try:
        try:
            await migrate(engine, migrations, service=service)
            await on_ready(engine)
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            log.warning("database unreachable, will retry", extra={"error": _describe(exc)})
            retrying = asyncio.create_task(_retry(engine, service, migrations, on_ready, retry_s))
        yield engine
    finally:
        if retrying is not None:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying
        await engine.dispose()


async def _retry(
    engine: AsyncEngine,
    service: str,
    migrations: str,
    on_ready: Callable[[AsyncEngine], Awaitable[None]],
    retry_s: float,
) -> None:
    while True:
        await asyncio.sleep(retry_s)
        try:
            await migrate(engine, migrations, service=service)
            await on_ready(engine)
        except Exception as exc:
            log.warning("database still unreachable", extra={"error": _describe(exc)})
            continue
        log.info("database reached", extra={"component": "db"})
        return


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


@asynccontextmanager
async def store_lifespan(
    app: FastAPI,
    settings: DatabaseSettings,
    *,
    service: str,
    open_store: Callable[[AsyncEngine], Awaitable[object]],
    unreachable: object,
    given: object | None = None,
    retry_s: float = RETRY_S,
) -> AsyncIterator[None]:
    """Keep the service's store in ``app.state.store`` for the app's lifetime.

    ``given`` (tests) is used as it is. Otherwise ``unreachable`` stands in until the database answers and is
    migrated (``roboshop.<service>.migrations``), then ``await open_store(engine)`` takes its place. ``/ready``
    checks that whichever store is in place answers its ``ping()``.
    """

    async def store_answers() -> None:
        await app.state.store.ping()

    add_readiness_check(app, "database", store_answers)
    if given is not None:
        app.state.store = given
        yield
        return

    async def ready(engine: AsyncEngine) -> None:
        app.state.store = await open_store(engine)

    app.state.store = unreachable
    async with open_database(
        settings.database_url,
        service=service,
        migrations=f"roboshop.{service}.migrations",
        on_ready=ready,
        pool_size=settings.database_pool_size,
        retry_s=retry_s,
    ):
        yield
