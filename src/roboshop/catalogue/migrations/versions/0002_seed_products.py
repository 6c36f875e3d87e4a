"""Seed the eleven Robot Shop products and index their search terms.

Revision ID: 0002
Revises: 0001

The terms come from the domain's tokenizer (stop words, English stems). Should the tokenizer change, a new
revision rebuilds ``product_terms``; this one stays as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roboshop.catalogue.seed import SEED_PRODUCTS

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    products = sa.table(
        "products",
        sa.column("sku", sa.String),
        sa.column("object_id", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("price", sa.Integer),
        sa.column("instock", sa.Integer),
        sa.column("position", sa.Integer),
    )
    categories = sa.table(
        "product_categories",
        sa.column("sku", sa.String),
        sa.column("category", sa.String),
        sa.column("position", sa.Integer),
    )
    terms = sa.table("product_terms", sa.column("term", sa.String), sa.column("sku", sa.String))
    op.bulk_insert(
        products,
        [
            {
                "sku": product.sku,
                "object_id": product.id,
                "name": product.name,
                "description": product.description,
                "price": product.price,
                "instock": product.instock,
                "position": position,
            }
            for position, product in enumerate(SEED_PRODUCTS, start=1)
        ],
    )
    op.bulk_insert(
        categories,
        [
            {"sku": product.sku, "category": category, "position": position}
            for product in SEED_PRODUCTS
            for position, category in enumerate(product.categories, start=1)
        ],
    )
    op.bulk_insert(
        terms,
        [{"term": term, "sku": product.sku} for product in SEED_PRODUCTS for term in sorted(product.terms)],
    )


def downgrade() -> None:
    skus = [product.sku for product in SEED_PRODUCTS]
    for table in ("product_terms", "product_categories", "products"):
        op.execute(sa.table(table, sa.column("sku", sa.String)).delete().where(sa.column("sku").in_(skus)))
