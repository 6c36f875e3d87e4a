"""Fixtures shared by every test layer.

Integration fixtures give each test run its own fresh database on the real servers. Without a server they
skip, unless ``ROBOSHOP_REQUIRE_INTEGRATION=1`` (set by ``.ci/run``), where a missing server fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import free_port, require_server

__all__ = ["free_port", "require_server"]

POSTGRES_ADMIN_URL = os.environ.get("ROBOSHOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("ROBOSHOP_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    name = f"roboshop_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def mariadb_url() -> AsyncIterator[str]:
    """A fresh, empty MariaDB database for one test, dropped afterwards."""
    require_server("MariaDB", "127.0.0.1", 3306)
    import aiomysql

    name = f"roboshop_test_{uuid.uuid4().hex[:12]}"
    conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    yield f"{MARIADB_ADMIN_URL.rstrip('/')}/{name}"
    conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every backend a store must support: use it for store contract tests."""
    kind = request.param
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}[kind]
    if kind != "sqlite":
        request.applymarker(pytest.mark.integration)
    url: str = request.getfixturevalue(fixture)
    return url
