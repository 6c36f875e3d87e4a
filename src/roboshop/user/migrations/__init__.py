"""Alembic revisions of the user service's schema (run by ``roboshop.kit.db.migrate``)."""
