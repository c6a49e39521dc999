"""SQLAlchemy 2 declarative models of the service's history (PostgreSQL in production, SQLite embedded).

All timestamps are timezone-aware UTC (:class:`UtcDateTime`); JSON columns are JSONB on PostgreSQL
and JSON text on SQLite (:data:`JsonDocument`). The schema is created by the Alembic migrations in
``tb_bridge/history/migrations`` (``HistoryStore(url).migrate()``), never by ``create_all`` at run time.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDocument = JSON().with_variant(JSONB(), "postgresql")
"""A JSON value: JSONB on PostgreSQL, JSON (text) on SQLite."""

RowId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit surrogate key; INTEGER on SQLite so that it aliases the auto-incrementing rowid."""

RUN_STATUSES = ("ok", "error")


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them as naive UTC text).

    Naive datetimes are rejected: the caller must say which instant it means.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use a timezone-aware one (UTC)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OptimizationRun(Base):
    """One engine run for one well at one scheduler tier."""

    __tablename__ = "optimization_run"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'error')", name="status"),
        Index("ix_optimization_run_well_started", "well_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    well_id: Mapped[str] = mapped_column(String(128))
    lift_type: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(32))
    engine: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)

    results: Mapped[list["OptimizationResult"]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True, order_by="OptimizationResult.id"
    )


class OptimizationResult(Base):
    """One named output of a run (``key`` -> JSON ``value`` with an optional ``unit``)."""

    __tablename__ = "optimization_result"
    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_optimization_result_run_id_key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("optimization_run.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(32), nullable=True)

    run: Mapped[OptimizationRun] = relationship(back_populates="results")


class Forecast(Base):
    """A production forecast (e.g. decline curve) with its model parameters and points."""

    __tablename__ = "forecast"
    __table_args__ = (Index("ix_forecast_well_created", "well_id", "created_at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    well_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    model: Mapped[str] = mapped_column(String(64))
    params: Mapped[Any] = mapped_column(JsonDocument)
    points: Mapped[Any] = mapped_column(JsonDocument)


class AlarmEvent(Base):
    """A change of an alarm's state (raised, acknowledged, cleared, ...)."""

    __tablename__ = "alarm_event"
    __table_args__ = (Index("ix_alarm_event_well_ts", "well_id", "ts"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    well_id: Mapped[str] = mapped_column(String(128))
    alarm_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    details: Mapped[Any] = mapped_column(JsonDocument, nullable=True)


class SimulationSession(Base):
    """A what-if session: the original and modified well parameters and the simulated results."""

    __tablename__ = "simulation_session"
    __table_args__ = (Index("ix_simulation_session_well_started", "well_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    well_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    original_params: Mapped[Any] = mapped_column(JsonDocument)
    modified_params: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    results: Mapped[Any] = mapped_column(JsonDocument, nullable=True)


class DeadLetter(Base):
    """A message that could not be processed, kept verbatim for inspection and reprocessing."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_reprocessed_received", "reprocessed", "received_at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(64))
    well_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    reprocessed: Mapped[bool] = mapped_column(Boolean, default=False)


class FieldSummary(Base):
    """A field-level review written by the weekly or monthly tier (``kind``: ``weekly`` production, alarm and anomaly
    summary; ``model_audit`` monthly audit of the learned models): the values written to the field asset, kept
    whether or not a field asset is configured (``field_id`` is then ``default``)."""

    __tablename__ = "field_summary"
    __table_args__ = (Index("ix_field_summary_field_kind_created", "field_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    summary: Mapped[Any] = mapped_column(JsonDocument)


from sqlalchemy import Double  # noqa: E402  (the setpoint_change block, kept together)


class SetpointChange(Base):
    """A setpoint change sent to a device (issue 21: 5): what, from which recommender, through which mode, who approved
    it (ThingsBoard user name and id of the approval event; None in autonomous mode), and the safety layer's verdict."""

    __tablename__ = "setpoint_change"
    __table_args__ = (Index("ix_setpoint_change_well_ts", "well_id", "ts"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    well_id: Mapped[str] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    setpoint_name: Mapped[str] = mapped_column(String(64))
    previous: Mapped[float | None] = mapped_column(Double, nullable=True)
    setpoint: Mapped[float] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    action_id: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    approved_by_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verdict: Mapped[Any] = mapped_column(JsonDocument, nullable=True)


class ModelRegistryEntry(Base):
    """A learned model in the registry (issue 22: 6): its ``kind`` (``lstm_ae``, ...), the ``well_id`` it belongs to,
    its ``version`` (1, 2, ... per kind and well), when it was trained and on which window, its training ``metrics``,
    and the file on disk (``path`` under the configured model directory, ``file_hash`` its SHA-256)."""

    __tablename__ = "model_registry"
    __table_args__ = (UniqueConstraint("kind", "well_id", "version", name="uq_model_registry_kind_well_version"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    well_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(UtcDateTime)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    metrics: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    path: Mapped[str] = mapped_column(Text)
    file_hash: Mapped[str] = mapped_column(String(64))
