"""Alembic revisions of the shipping schema (run by ``roboshop.kit.db.migrate``); the data is seeded by the store."""
