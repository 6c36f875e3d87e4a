"""Database URLs and migrations: a tiny migrations package made per test, run on SQLite (and PostgreSQL)."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import roboshop.kit.db
from roboshop.kit.db import async_url, create_engine, migrate, ping

REVISIONS = {
    "0001_{table}.py": '''
        """{table}"""
        import sqlalchemy as sa
        from alembic import op

        revision = "0001"
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade() -> None:
            op.create_table(
                "{table}",
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(50), nullable=False),
            )


        def downgrade() -> None:
            op.drop_table("{table}")
    ''',
    "0002_seed_{table}.py": '''
        """seed {table}"""
        import sqlalchemy as sa
        from alembic import op

        revision = "0002"
        down_revision = "0001"
        branch_labels = None
        depends_on = None


        def upgrade() -> None:
            table = sa.table("{table}", sa.column("id", sa.Integer), sa.column("name", sa.String))
            op.bulk_insert(table, [{"id": 1, "name": "Robbie"}])


        def downgrade() -> None:
            op.execute("DELETE FROM {table}")
    ''',
}


def write_migrations(root: Path, table: str) -> str:
    """A migrations package laid out as a service keeps one, creating and seeding ``table``; returns its name."""
    name = f"{table}_migrations_{uuid.uuid4().hex[:8]}"
    package = root / name
    (package / "versions").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "env.py").write_text("from roboshop.kit.migrations_env import run\n\nrun()\n")
    for filename, source in REVISIONS.items():
        (package / "versions" / filename.format(table=table)).write_text(
            textwrap.dedent(source).lstrip().replace("{table}", table)
        )
    return name


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def migrations(packages: Path) -> str:
    return write_migrations(packages, "things")


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


async def table_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted(await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names()))


async def things(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, name FROM things ORDER BY id"))
        return [(row.id, row.name) for row in rows]


async def version(engine: AsyncEngine, service: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT version_num FROM alembic_version_{service}"))
        return [row.version_num for row in rows]


# --- URLs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///data/catalogue.db", "sqlite+aiosqlite"),
        ("postgresql://shop:secret@db:5432/catalogue", "postgresql+asyncpg"),
        ("postgres://shop@db/catalogue", "postgresql+asyncpg"),
        ("mysql://root@mariadb:3306/ratings", "mysql+aiomysql"),
        ("mariadb://root@mariadb/ratings", "mysql+aiomysql"),
    ],
)
def test_a_plain_database_url_gets_the_async_driver(url: str, driver: str) -> None:
    parsed = async_url(url)

    assert parsed.drivername == driver


def test_the_rest_of_the_url_is_kept() -> None:
    parsed = async_url("postgresql://shop:s3cret@db.internal:6432/catalogue?sslmode=require")

    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "shop",
        "s3cret",
        "db.internal",
        6432,
        "catalogue",
    )
    assert parsed.query == {"sslmode": "require"}


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://shop@db/catalogue", "sqlite+pysqlite:///x.db", "mysql+asyncmy://root@db/ratings"]
)
def test_an_explicit_driver_is_kept(url: str) -> None:
    assert async_url(url).drivername == url.split(":", 1)[0]


@pytest.mark.parametrize("url", ["oracle://scott@db/orcl", "mongodb://mongo/catalogue"])
def test_an_unsupported_scheme_is_refused(url: str) -> None:
    scheme = url.split(":", 1)[0]
    with pytest.raises(ValueError, match=f"unsupported database URL scheme '{scheme}'"):
        async_url(url)


async def test_a_sqlite_engine_creates_its_directory_and_answers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'nested' / 'cart.db'}")
    try:
        await ping(engine)
        async with engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    finally:
        await engine.dispose()

    assert (tmp_path / "data" / "nested" / "cart.db").exists()
    assert journal == "wal"
    assert foreign_keys == 1


# --- migrations on SQLite --------------------------------------------------------------------------------------


async def test_migrate_brings_the_schema_to_the_newest_revision(engine: AsyncEngine, migrations: str) -> None:
    await migrate(engine, migrations, service="things")

    assert await table_names(engine) == ["alembic_version_things", "things"]
    assert await version(engine, "things") == ["0002"]
    assert await things(engine) == [(1, "Robbie")]


async def test_migrating_again_is_a_no_op(engine: AsyncEngine, migrations: str) -> None:
    await migrate(engine, migrations, service="things")
    await migrate(engine, migrations, service="things")

    assert await things(engine) == [(1, "Robbie")]
    assert await version(engine, "things") == ["0002"]


async def test_services_sharing_a_database_keep_separate_version_tables(
    engine: AsyncEngine, migrations: str, packages: Path
) -> None:
    others = write_migrations(packages, "robots")

    await migrate(engine, migrations, service="things")
    await migrate(engine, others, service="robots")

    assert await table_names(engine) == ["alembic_version_robots", "alembic_version_things", "robots", "things"]
    assert await version(engine, "things") == ["0002"]
    assert await version(engine, "robots") == ["0002"]


def test_replicas_migrating_the_same_file_at_once_both_succeed_and_migrate_once(
    sqlite_url: str, migrations: str
) -> None:
    """Each replica is its own event loop (here: its own thread); the file lock lets one migrate at a time."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    async def replica() -> None:
        engine = create_engine(sqlite_url)
        try:
            start.wait(timeout=5)
            await migrate(engine, migrations, service="things")
        finally:
            await engine.dispose()

    def run_replica() -> None:
        try:
            asyncio.run(replica())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run_replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []

    async def check() -> None:
        engine = create_engine(sqlite_url)
        try:
            assert await things(engine) == [(1, "Robbie")]
            assert await version(engine, "things") == ["0002"]
        finally:
            await engine.dispose()

    asyncio.run(check())


async def test_two_migrations_in_one_event_loop_both_succeed(
    sqlite_url: str, migrations: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roboshop.kit.db, "MIGRATION_LOCK_TIMEOUT_S", 0.2)
    first, second = create_engine(sqlite_url), create_engine(sqlite_url)
    try:
        await asyncio.gather(
            migrate(first, migrations, service="things"), migrate(second, migrations, service="things")
        )
        assert await things(first) == [(1, "Robbie")]
    finally:
        await first.dispose()
        await second.dispose()


async def test_migrate_runs_on_an_in_memory_database(migrations: str) -> None:
    engine = create_engine("sqlite:///:memory:")
    try:
        await migrate(engine, migrations, service="things")
        assert await table_names(engine) == ["alembic_version_things", "things"]
    finally:
        await engine.dispose()


# --- migrations on the real servers ---------------------------------------------------------------------------


@pytest.mark.integration
async def test_migrate_on_postgresql_runs_once_even_when_replicas_start_together(
    postgres_url: str, migrations: str
) -> None:
    first, second = create_engine(postgres_url), create_engine(postgres_url)
    try:
        await asyncio.gather(
            migrate(first, migrations, service="things"), migrate(second, migrations, service="things")
        )
        await migrate(first, migrations, service="things")

        assert await table_names(first) == ["alembic_version_things", "things"]
        assert await version(first, "things") == ["0002"]
        assert await things(first) == [(1, "Robbie")]
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.integration
async def test_migrate_on_mariadb_runs_once_even_when_replicas_start_together(
    mariadb_url: str, migrations: str
) -> None:
    first, second = create_engine(mariadb_url), create_engine(mariadb_url)
    try:
        await asyncio.gather(
            migrate(first, migrations, service="things"), migrate(second, migrations, service="things")
        )
        await migrate(first, migrations, service="things")

        assert await table_names(first) == ["alembic_version_things", "things"]
        assert await version(first, "things") == ["0002"]
        assert await things(first) == [(1, "Robbie")]
    finally:
        await first.dispose()
        await second.dispose()
