"""Field summaries: the weekly field review and the monthly model audit (issue 18, item 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Types frozen at this revision (the models may evolve; a migration must not).
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "field_summary",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("field_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period_start", UTC_DATETIME, nullable=False),
        sa.Column("period_end", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("summary", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_summary")),
    )
    op.create_index("ix_field_summary_field_kind_created", "field_summary", ["field_id", "kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_field_summary_field_kind_created", table_name="field_summary")
    op.drop_table("field_summary")
