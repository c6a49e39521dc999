"""Plain, immutable views of stored history rows (returned by ``HistoryStore`` queries)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """An optimization run; ``results`` maps key -> JSON value and ``units`` key -> unit (when given)."""

    id: int
    well_id: str
    lift_type: str
    tier: str
    engine: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    error: str | None
    simulated: bool
    results: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ForecastRecord:
    id: int
    well_id: str
    created_at: datetime
    model: str
    params: Any
    points: Any


@dataclass(frozen=True)
class AlarmEventRecord:
    id: int
    well_id: str
    alarm_type: str
    severity: str
    state: str
    ts: datetime
    details: Any


@dataclass(frozen=True)
class SessionRecord:
    id: str
    well_id: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    original_params: Any
    modified_params: Any
    results: Any


@dataclass(frozen=True)
class DeadLetterRecord:
    id: int
    received_at: datetime
    source: str
    well_id: str | None
    payload: str
    error: str
    reprocessed: bool


@dataclass(frozen=True)
class FieldSummaryRecord:
    """A field-level weekly summary or monthly model audit (``summary``: key -> JSON value, as written)."""

    id: int
    field_id: str
    kind: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    summary: Any
