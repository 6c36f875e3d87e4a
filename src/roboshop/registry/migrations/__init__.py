"""Alembic revisions of the registry's schema (run by ``roboshop.kit.db.migrate``)."""
