"""Alembic revisions of the cart's SQLite store (the local profile; Redis needs none)."""
