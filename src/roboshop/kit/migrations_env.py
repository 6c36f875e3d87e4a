"""The Alembic environment every service's ``migrations/env.py`` delegates to.

The kit passes an open connection in ``config.attributes``; there is no ``alembic.ini`` to keep in sync.
"""

from __future__ import annotations

from alembic import context


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through roboshop.kit.db.migrate(), which passes a connection")
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=config.attributes.get("version_table", "alembic_version"),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
