"""Create the ratings table (Robot Shop's ``ratings.ratings``).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SKUs compare exactly, as in the catalogue. MariaDB's default collation would make 'watson' equal
    # 'Watson' (and 'Watson ' equal 'Watson'), so its key column uses a binary, no-pad one. 100 characters
    # (the original had 80) is the longest SKU the catalogue accepts.
    sku = sa.String(100).with_variant(mysql.VARCHAR(100, collation="utf8mb4_nopad_bin"), "mysql", "mariadb")
    op.create_table(
        "ratings",
        sa.Column("sku", sku, primary_key=True),
        sa.Column("avg_rating", sa.Numeric(3, 2), nullable=False),
        sa.Column("rating_count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ratings")
