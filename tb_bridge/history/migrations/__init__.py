"""Alembic migrations of the history schema (package data; run via tb_bridge.history.migration)."""
