"""Create users, their order history, the anonymous counter and the signing keys.

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


def _name() -> sa.types.TypeEngine[str]:
    # Names compare exactly, as in Mongo. MariaDB's default collation would make 'User' equal 'user' (and
    # 'user ' equal 'user'), so its name columns use a binary, no-pad one.
    return sa.String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_nopad_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", _name(), primary_key=True),
        sa.Column("object_id", sa.String(24), nullable=False, unique=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
    )
    op.create_table(
        "order_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("name", _name(), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("orderid", sa.String(64), nullable=False),
        sa.Column("cart", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
        sa.UniqueConstraint("name", "orderid", name="uq_order_history_name_orderid"),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "anonymous-counter", "value": 0}],
    )
    op.create_table(
        "signing_keys",
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kid", sa.String(64), nullable=False, unique=True),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("public_jwk", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("activates_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_table("counters")
    op.drop_table("order_history")
    op.drop_table("users")
