"""Alembic revisions of the history schema."""
