"""Transactional outbox (publishing side) and inbox (consuming side).

A service that changes state and must tell others calls :func:`add_event` on the same connection, inside the same
transaction, as the change: either both are committed or neither is. An :class:`OutboxRelay` then publishes the
unpublished rows in order and marks them published once the broker confirmed them. Several relays may run (one per
replica): on PostgreSQL and MariaDB each claims its rows with ``FOR UPDATE SKIP LOCKED``; on SQLite the claim is a
write, so relays take turns on the database's single writer lock. A relay that dies between the broker's confirm and
its commit publishes those rows again when it (or another) resumes, so consumers deduplicate with an :class:`Inbox`
keyed by the message id, recorded in the same transaction as their effect.

Both tables are SQLAlchemy Core tables a service adds to its own schema: build them on a ``MetaData`` in an Alembic
revision (``outbox_table(MetaData()).create(op.get_bind())``) and in the store that uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roboshop.kit.messaging.bus import MessageBus, PublishFailed, outgoing_headers

log = logging.getLogger("roboshop.messaging")

POLL_S = 0.5
BATCH = 100
CLOSE_TIMEOUT_S = 10.0
# MariaDB's DATETIME keeps whole seconds unless asked for microseconds; events are ordered by it.
TIMESTAMP = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def new_event_id() -> str:
    """A message id that sorts in creation order (time first), so events made in one second keep their order."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(64), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("body", JSON, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", TIMESTAMP, nullable=False),
        Column("published_at", TIMESTAMP, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Index(f"ix_{name}_pending", "published_at", "created_at"),
    )


def inbox_table(metadata: MetaData, name: str = "inbox") -> Table:
    return Table(
        name,
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("message_id", String(200), primary_key=True),
        Column("processed_at", TIMESTAMP, nullable=False),
    )


async def add_event(
    conn: AsyncConnection,
    outbox: Table,
    topic: str,
    body: Mapping[str, Any],
    *,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Record an event in the caller's transaction on ``conn``; returns its message id.

    Events are published in ``created_at`` order, then by id: leave ``message_id`` to :func:`new_event_id` unless the
    id must be derived from the business key (then two events of the same instant may swap places).
    """
    event_id = message_id or new_event_id()
    await conn.execute(
        insert(outbox).values(
            id=event_id,
            topic=topic,
            body=dict(body),
            headers=outgoing_headers(headers),
            created_at=datetime.now(UTC),
            published_at=None,
            attempts=0,
        )
    )
    return event_id


class OutboxRelay:
    """Publishes what :func:`add_event` recorded, oldest first; ``start()`` runs it in the background."""

    def __init__(
        self, engine: AsyncEngine, outbox: Table, bus: MessageBus, *, batch: int = BATCH, poll_s: float = POLL_S
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._bus = bus
        self._batch = batch
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Publish soon rather than at the next poll (call after committing an event)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Let the current pass commit (so its events are not published twice), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(task, timeout_s)
        except TimeoutError:
            log.warning("outbox relay cut short; its last batch will be published again")
        finally:
            self._stopping = False

    async def _run(self) -> None:
        while not self._stopping:
            try:
                published = await self.publish_pending()
            except Exception:
                # Database or broker away: keep the rows, try again at the next poll.
                log.warning("outbox relay pass failed", exc_info=True)
                published = 0
            if published < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
                self._wake.clear()

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch`` unpublished events; returns how many were published."""
        async with self._engine.begin() as conn:
            rows = await self._claim(conn)
            published = 0
            for row in rows:
                try:
                    await self._bus.publish(row.topic, row.body, message_id=row.id, headers=row.headers)
                except PublishFailed:
                    # Keep the order: later events wait for this one.
                    log.warning("outbox event not published yet", extra={"message_id": row.id}, exc_info=True)
                    break
                await conn.execute(
                    update(self._outbox).where(self._outbox.c.id == row.id).values(published_at=datetime.now(UTC))
                )
                published += 1
            return published

    async def _claim(self, conn: AsyncConnection) -> Sequence[Row[Any]]:
        table = self._outbox
        pending = table.c.published_at.is_(None)
        oldest = select(table.c.id).where(pending).order_by(table.c.created_at, table.c.id).limit(self._batch)
        if conn.dialect.name == "sqlite":
            # Writing first takes SQLite's writer lock for the whole pass: a second relay waits here until we commit.
            await conn.execute(
                update(table).where(table.c.id.in_(oldest.scalar_subquery())).values(attempts=table.c.attempts + 1)
            )
            chosen = select(table).where(pending).order_by(table.c.created_at, table.c.id).limit(self._batch)
            return (await conn.execute(chosen)).all()
        locked = (
            select(table)
            .where(pending)
            .order_by(table.c.created_at, table.c.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        rows = (await conn.execute(locked)).all()
        if rows:
            ids = [row.id for row in rows]
            await conn.execute(update(table).where(table.c.id.in_(ids)).values(attempts=table.c.attempts + 1))
        return rows


class Inbox:
    """Remembers which messages ``consumer`` has processed, in the consumer's own database."""

    def __init__(self, table: Table, consumer: str) -> None:
        self._table = table
        self._consumer = consumer

    async def claim(self, conn: AsyncConnection, message_id: str) -> bool:
        """Record ``message_id`` in the transaction on ``conn``: False if it was already processed (skip its effect).

        A concurrent claim of the same id waits for the first transaction and then gets False, so the effect happens
        once even when two replicas receive the same message.
        """
        values = {"consumer": self._consumer, "message_id": message_id, "processed_at": datetime.now(UTC)}
        dialect = conn.dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(self._table).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite.insert(self._table).values(values).on_conflict_do_nothing()
        else:
            statement = mysql.insert(self._table).values(values).prefix_with("IGNORE")
        result = await conn.execute(statement)
        return bool(result.rowcount == 1)
