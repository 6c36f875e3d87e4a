"""Async database engines and migrations for SQLite, PostgreSQL and MariaDB/MySQL.

A service names its database by URL (``sqlite:///data/catalogue.db``, ``postgresql://u@h/db``,
``mysql://root@h/db``); the async driver is chosen here. Migrations are Alembic revisions kept inside the
service's package (``roboshop/<service>/migrations``); they run at start-up under a lock, so replicas that
start together migrate once. An engine created while a service app's lifespan runs reports its statements as
spans and its pool use as gauges to that app's telemetry (:mod:`roboshop.kit.tracing`).
"""

from __future__ import annotations

import hashlib
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from filelock import AsyncFileLock
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from roboshop.kit import tracing

log = logging.getLogger("roboshop.db")

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
}
MIGRATION_LOCK_TIMEOUT_S = 60


def async_url(url: str) -> URL:
    """``postgresql://...`` -> ``postgresql+asyncpg://...``; an explicit driver is kept."""
    parsed = make_url(url)
    if "+" not in parsed.drivername:
        try:
            parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
        except KeyError:
            raise ValueError(f"unsupported database URL scheme '{parsed.drivername}'") from None
    return parsed


def create_engine(url: str, *, pool_size: int = 5, telemetry: tracing.Telemetry | None = None) -> AsyncEngine:
    """An async engine for ``url``, instrumented by ``telemetry`` (default: the running app's, if any)."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
        )
    telemetry = telemetry or tracing.active()
    if telemetry is not None:
        telemetry.instrument_engine(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets replicas of one service read while another writes; busy_timeout makes writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def migrate(engine: AsyncEngine, package: str, *, service: str) -> None:
    """Bring the schema of ``service`` to the newest revision in ``package`` (its migrations)."""
    location = str(resources.files(package))
    backend = engine.url.get_backend_name()
    lock_key = f"roboshop-migrate-{service}"
    if backend == "sqlite":
        database = engine.url.database or ":memory:"
        lock_path = f"{database}.migrate.lock" if database != ":memory:" else None
        if lock_path is None:
            async with engine.connect() as conn:
                await _upgrade(conn, location, service)
            return
        # Wait for the lock off the event loop: another migrate() in this same loop may be holding it.
        async with AsyncFileLock(lock_path, timeout=MIGRATION_LOCK_TIMEOUT_S), engine.connect() as conn:
            await _upgrade(conn, location, service)
        return
    async with engine.connect() as conn:
        if backend == "postgresql":
            key = int.from_bytes(hashlib.sha256(lock_key.encode()).digest()[:8], "big", signed=True)
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await conn.commit()
            try:
                await _upgrade(conn, location, service)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()
        else:
            await conn.execute(
                text("SELECT GET_LOCK(:key, :timeout)"),
                {"key": lock_key, "timeout": MIGRATION_LOCK_TIMEOUT_S},
            )
            await conn.commit()
            try:
                await _upgrade(conn, location, service)
            finally:
                await conn.execute(text("SELECT RELEASE_LOCK(:key)"), {"key": lock_key})
                await conn.commit()


async def _upgrade(conn: AsyncConnection, location: str, service: str) -> None:
    def run(sync_conn: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", location)
        config.attributes["connection"] = sync_conn
        config.attributes["version_table"] = f"alembic_version_{service}"
        command.upgrade(config, "head")

    await conn.run_sync(run)
    await conn.commit()
    log.info("schema migrated", extra={"component": "db", "backend": conn.dialect.name})
