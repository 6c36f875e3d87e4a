"""Create products, their categories and their search terms.

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


def _key() -> sa.types.TypeEngine[str]:
    # SKUs, categories and terms compare exactly, as in Mongo. MariaDB's default collation would make
    # 'watson' equal 'Watson' (and 'Watson ' equal 'Watson'), so its key columns use a binary, no-pad one.
    return sa.String(100).with_variant(mysql.VARCHAR(100, collation="utf8mb4_nopad_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", _key(), primary_key=True),
        sa.Column("object_id", sa.String(24), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("price", sa.Integer, nullable=False),
        sa.Column("instock", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_products_position", "products", ["position"])
    op.create_table(
        "product_categories",
        sa.Column("sku", _key(), sa.ForeignKey("products.sku", ondelete="CASCADE"), primary_key=True),
        sa.Column("category", _key(), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_product_categories_category", "product_categories", ["category"])
    op.create_table(
        "product_terms",
        sa.Column("term", _key(), primary_key=True),
        sa.Column("sku", _key(), sa.ForeignKey("products.sku", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_product_terms_sku", "product_terms", ["sku"])


def downgrade() -> None:
    op.drop_table("product_terms")
    op.drop_table("product_categories")
    op.drop_table("products")
