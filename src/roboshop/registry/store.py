"""Where registered instances survive a registry restart.

The registry serves every read from memory (:mod:`roboshop.registry.agent`); the store is written through on
each registration, deregistration and status change, and read once at start-up.

* :class:`SqlInstanceStore`: SQLAlchemy Core on SQLite, PostgreSQL and MariaDB (the upsert is the one
  dialect difference). Durations and times are stored as integer milliseconds, exact on every backend.
* :class:`InMemoryInstanceStore`: the fake for unit tests; the contract tests prove the two agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.kit.errors import DependencyError
from roboshop.registry.domain import Health, HealthCheck, ServiceInstance, Status


class StoreUnavailable(DependencyError):
    """The database did not answer; the change was not stored."""


class InstanceStore(Protocol):
    async def load_all(self) -> list[ServiceInstance]:
        """Every stored instance, sorted by id."""
        ...

    async def save(self, instance: ServiceInstance) -> None:
        """Insert the instance, or replace the one with the same id."""
        ...

    async def save_health(self, instance_id: str, health: Health) -> None:
        """Record a status change (nothing happens for an unknown id)."""
        ...

    async def remove(self, instance_id: str) -> bool:
        """Forget the instance; False if there was none."""
        ...


class InMemoryInstanceStore:
    def __init__(self) -> None:
        self.instances: dict[str, ServiceInstance] = {}

    async def load_all(self) -> list[ServiceInstance]:
        return [self.instances[key] for key in sorted(self.instances)]

    async def save(self, instance: ServiceInstance) -> None:
        self.instances[instance.id] = instance

    async def save_health(self, instance_id: str, health: Health) -> None:
        instance = self.instances.get(instance_id)
        if instance is not None:
            self.instances[instance_id] = replace(instance, health=health)

    async def remove(self, instance_id: str) -> bool:
        return self.instances.pop(instance_id, None) is not None


metadata = sa.MetaData()

# Mirrors migrations/versions/0001_instances.py (the migration is what creates it).
instances_table = sa.Table(
    "registry_instances",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("service", sa.String(128), nullable=False, index=True),
    sa.Column("address", sa.String(255), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("meta", sa.Text, nullable=False),
    sa.Column("check_http", sa.String(2048), nullable=False),
    sa.Column("check_interval_ms", sa.BigInteger, nullable=False),
    sa.Column("check_timeout_ms", sa.BigInteger, nullable=False),
    sa.Column("deregister_after_ms", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("output", sa.String(255), nullable=False),
    sa.Column("last_check_ms", sa.BigInteger, nullable=True),
    sa.Column("critical_since_ms", sa.BigInteger, nullable=True),
)


class SqlInstanceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load_all(self) -> list[ServiceInstance]:
        async with _unavailable(), self._engine.connect() as conn:
            result = await conn.execute(sa.select(instances_table).order_by(instances_table.c.id))
            return [_from_row(row._mapping) for row in result]

    async def save(self, instance: ServiceInstance) -> None:
        values = _to_row(instance)
        async with _unavailable(), self._engine.begin() as conn:
            await conn.execute(_upsert(conn.dialect.name, values))

    async def save_health(self, instance_id: str, health: Health) -> None:
        async with _unavailable(), self._engine.begin() as conn:
            await conn.execute(
                sa.update(instances_table).where(instances_table.c.id == instance_id).values(**_health_row(health))
            )

    async def remove(self, instance_id: str) -> bool:
        async with _unavailable(), self._engine.begin() as conn:
            result = await conn.execute(sa.delete(instances_table).where(instances_table.c.id == instance_id))
            return result.rowcount > 0


@asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"the registry database is unavailable: {type(exc).__name__}") from exc


def _upsert(dialect: str, values: dict[str, Any]) -> sa.Executable:
    changed = {key: value for key, value in values.items() if key != "id"}
    if dialect == "postgresql":
        pg = postgresql.insert(instances_table).values(**values)
        return pg.on_conflict_do_update(index_elements=[instances_table.c.id], set_=changed)
    if dialect == "sqlite":
        lite = sqlite.insert(instances_table).values(**values)
        return lite.on_conflict_do_update(index_elements=[instances_table.c.id], set_=changed)
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(instances_table).values(**values)
        return my.on_duplicate_key_update(**changed)
    raise ValueError(f"unsupported database dialect '{dialect}'")


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _health_row(health: Health) -> dict[str, Any]:
    return {
        "status": health.status.value,
        "output": health.output,
        "last_check_ms": _ms(health.last_check),
        "critical_since_ms": _ms(health.critical_since),
    }


def _to_row(instance: ServiceInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "service": instance.service,
        "address": instance.address,
        "port": instance.port,
        "tags": orjson.dumps(list(instance.tags)).decode(),
        "meta": orjson.dumps(instance.meta).decode(),
        "check_http": instance.check.http,
        "check_interval_ms": _ms(instance.check.interval_s),
        "check_timeout_ms": _ms(instance.check.timeout_s),
        "deregister_after_ms": _ms(instance.check.deregister_after_s),
        **_health_row(instance.health),
    }


def _from_row(row: Any) -> ServiceInstance:
    return ServiceInstance(
        id=row["id"],
        service=row["service"],
        address=row["address"],
        port=row["port"],
        tags=tuple(orjson.loads(row["tags"])),
        meta=dict(orjson.loads(row["meta"])),
        check=HealthCheck(
            http=row["check_http"],
            interval_s=row["check_interval_ms"] / 1000,
            timeout_s=row["check_timeout_ms"] / 1000,
            deregister_after_s=_seconds(row["deregister_after_ms"]),
        ),
        health=Health(
            status=Status(row["status"]),
            output=row["output"],
            last_check=_seconds(row["last_check_ms"]),
            critical_since=_seconds(row["critical_since_ms"]),
        ),
    )
