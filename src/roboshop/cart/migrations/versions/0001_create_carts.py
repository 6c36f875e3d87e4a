"""Create the carts table: one row per cart, its JSON, and when it expires.

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
        "carts",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        # Seconds since the epoch; indexed because every write purges the expired rows.
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_carts_expires_at", "carts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_carts_expires_at", table_name="carts")
    op.drop_table("carts")
