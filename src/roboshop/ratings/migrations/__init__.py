"""Alembic revisions of the ratings schema (run by ``roboshop.kit.db.migrate``)."""
