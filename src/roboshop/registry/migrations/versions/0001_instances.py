"""Registered service instances and their last known health.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_instances",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("service", sa.String(128), nullable=False),
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
    op.create_index("ix_registry_instances_service", "registry_instances", ["service"])


def downgrade() -> None:
    op.drop_index("ix_registry_instances_service", table_name="registry_instances")
    op.drop_table("registry_instances")
