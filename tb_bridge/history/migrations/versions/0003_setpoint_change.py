"""Setpoint changes sent to devices, with who approved them (issue 21, item 5).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Types frozen at this revision (the models may evolve; a migration must not).
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "setpoint_change",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("well_id", sa.String(length=128), nullable=False),
        sa.Column("ts", UTC_DATETIME, nullable=False),
        sa.Column("setpoint_name", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.Double(), nullable=True),
        sa.Column("setpoint", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=256), nullable=True),
        sa.Column("approved_by_id", sa.String(length=64), nullable=True),
        sa.Column("verdict", JSON_DOCUMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setpoint_change")),
    )
    op.create_index("ix_setpoint_change_well_ts", "setpoint_change", ["well_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_setpoint_change_well_ts", table_name="setpoint_change")
    op.drop_table("setpoint_change")
