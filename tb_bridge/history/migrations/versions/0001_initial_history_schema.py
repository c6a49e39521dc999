"""Initial history schema: runs and results, forecasts, alarm events, simulation sessions, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types frozen at this revision (the models may evolve; a migration must not).
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", ROW_ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "optimization_run",
        _id(),
        sa.Column("well_id", sa.String(length=128), nullable=False),
        sa.Column("lift_type", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("engine", sa.String(length=128), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'error')", name=op.f("ck_optimization_run_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_run")),
    )
    op.create_index("ix_optimization_run_well_started", "optimization_run", ["well_id", "started_at"])

    op.create_table(
        "optimization_result",
        _id(),
        sa.Column("run_id", ROW_ID, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", JSON_DOCUMENT, nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["optimization_run.id"], ondelete="CASCADE",
                                name=op.f("fk_optimization_result_run_id_optimization_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_result")),
        sa.UniqueConstraint("run_id", "key", name="uq_optimization_result_run_id_key"),
    )

    op.create_table(
        "forecast",
        _id(),
        sa.Column("well_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("params", JSON_DOCUMENT, nullable=False),
        sa.Column("points", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast")),
    )
    op.create_index("ix_forecast_well_created", "forecast", ["well_id", "created_at"])

    op.create_table(
        "alarm_event",
        _id(),
        sa.Column("well_id", sa.String(length=128), nullable=False),
        sa.Column("alarm_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("ts", UTC_DATETIME, nullable=False),
        sa.Column("details", JSON_DOCUMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_event")),
    )
    op.create_index("ix_alarm_event_well_ts", "alarm_event", ["well_id", "ts"])

    op.create_table(
        "simulation_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("well_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("original_params", JSON_DOCUMENT, nullable=False),
        sa.Column("modified_params", JSON_DOCUMENT, nullable=True),
        sa.Column("results", JSON_DOCUMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulation_session")),
    )
    op.create_index("ix_simulation_session_well_started", "simulation_session", ["well_id", "started_at"])

    op.create_table(
        "dead_letter",
        _id(),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("well_id", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("reprocessed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
    )
    op.create_index("ix_dead_letter_reprocessed_received", "dead_letter", ["reprocessed", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_dead_letter_reprocessed_received", table_name="dead_letter")
    op.drop_table("dead_letter")
    op.drop_index("ix_simulation_session_well_started", table_name="simulation_session")
    op.drop_table("simulation_session")
    op.drop_index("ix_alarm_event_well_ts", table_name="alarm_event")
    op.drop_table("alarm_event")
    op.drop_index("ix_forecast_well_created", table_name="forecast")
    op.drop_table("forecast")
    op.drop_table("optimization_result")
    op.drop_index("ix_optimization_run_well_started", table_name="optimization_run")
    op.drop_table("optimization_run")
