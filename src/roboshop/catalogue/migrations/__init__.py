"""Alembic revisions of the catalogue's schema and seed data (run by ``roboshop.kit.db.migrate``)."""
