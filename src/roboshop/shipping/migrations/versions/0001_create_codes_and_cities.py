"""Create codes (countries), cities, and the record of the seed.

Revision ID: 0001
Revises:

The data is not part of the migration: the store seeds it at start-up (``ShippingStore.seed``), so that the
contract tests can seed a small data set of their own on the same schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Names such as "Bồ Đề" need more than latin1, whatever the database's default character set is.
MYSQL_CHARSET = "utf8mb4"
MYSQL_COLLATE = "utf8mb4_unicode_ci"


def _city_key() -> sa.types.TypeEngine[str]:
    # The lower-case ASCII name is compared and sorted byte by byte on every backend, so a prefix match and
    # its order answer the same everywhere; PostgreSQL's "C" collation also lets LIKE 'abc%' use the index.
    return (
        sa.String(100)
        .with_variant(mysql.VARCHAR(100, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")
        .with_variant(postgresql.VARCHAR(100, collation="C"), "postgresql")
    )


def _country_code() -> sa.types.TypeEngine[str]:
    # Codes compare exactly everywhere; MariaDB's default collation would find 'gb' equal to 'GB'.
    return sa.String(2).with_variant(mysql.VARCHAR(2, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "codes",
        sa.Column("uuid", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("code", _country_code(), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        mysql_charset=MYSQL_CHARSET,
        mysql_collate=MYSQL_COLLATE,
    )
    op.create_table(
        "cities",
        sa.Column("uuid", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("country_code", _country_code(), nullable=False),
        sa.Column("city", _city_key(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("latitude", sa.Numeric(10, 7, asdecimal=False), nullable=False),
        sa.Column("longitude", sa.Numeric(10, 7, asdecimal=False), nullable=False),
        mysql_charset=MYSQL_CHARSET,
        mysql_collate=MYSQL_COLLATE,
    )
    # One index serves both /cities/{code} (its leading column) and /match/{code}/{text} (a prefix of city).
    op.create_index("ix_cities_country_code_city", "cities", ["country_code", "city"])
    op.create_index("ix_cities_region", "cities", ["region"])
    op.create_table(
        "shipping_seed",
        sa.Column("dataset", sa.String(40), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("countries", sa.Integer, nullable=False),
        sa.Column("cities", sa.Integer, nullable=False),
        mysql_charset=MYSQL_CHARSET,
        mysql_collate=MYSQL_COLLATE,
    )


def downgrade() -> None:
    op.drop_table("shipping_seed")
    op.drop_table("cities")
    op.drop_table("codes")
