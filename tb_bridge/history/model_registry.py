"""The model registry in the history store (table ``model_registry``, issue 22: 6): one row per trained model version
of one kind for one well, with its training window, metrics and the SHA-256 of its file. Versions count from 1 per
(kind, well); the newest version is the one in service."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select

from tb_bridge.history.json_values import to_json_value
from tb_bridge.history.models import ModelRegistryEntry
from tb_bridge.history.store import HistoryStore


@dataclass(frozen=True)
class ModelRecord:
    """One registered model version."""

    id: int
    kind: str
    well_id: str
    version: int
    trained_at: datetime
    window_start: datetime
    window_end: datetime
    metrics: Mapping[str, Any]
    path: str
    file_hash: str

    def age_days(self, now: datetime) -> float:
        return (now - self.trained_at).total_seconds() / 86_400.0


def _record(row: ModelRegistryEntry) -> ModelRecord:
    return ModelRecord(row.id, row.kind, row.well_id, row.version, row.trained_at, row.window_start, row.window_end,
                       row.metrics or {}, row.path, row.file_hash)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, timezone.utc)


def register_model(store: HistoryStore, kind: str, well_id: str, *, trained_at_ms: int, window_start_ms: int,
                   window_end_ms: int, metrics: Mapping[str, Any], path: str, file_hash: str,
                   version: int | None = None) -> ModelRecord:
    """Add a model version (the next one of ``(kind, well_id)`` unless ``version`` is given); returns its record."""
    with store.session_factory().begin() as session:
        if version is None:
            newest = session.scalar(select(func.max(ModelRegistryEntry.version))
                                    .where(ModelRegistryEntry.kind == kind, ModelRegistryEntry.well_id == well_id))
            version = int(newest or 0) + 1
        row = ModelRegistryEntry(kind=kind, well_id=well_id, version=int(version), trained_at=_utc(trained_at_ms),
                                 window_start=_utc(window_start_ms), window_end=_utc(window_end_ms),
                                 metrics=to_json_value(dict(metrics)), path=str(path), file_hash=file_hash)
        session.add(row)
        session.flush()
        return _record(row)


def next_version(store: HistoryStore, kind: str, well_id: str) -> int:
    with store.session_factory()() as session:
        newest = session.scalar(select(func.max(ModelRegistryEntry.version))
                                .where(ModelRegistryEntry.kind == kind, ModelRegistryEntry.well_id == well_id))
    return int(newest or 0) + 1


def models(store: HistoryStore, kind: str | None = None, well_ids: Iterable[str] | None = None,
           latest_only: bool = False, limit: int = 10_000) -> list[ModelRecord]:
    """Registered models (by well, then version), optionally of one kind and some wells; ``latest_only``: the newest
    version of each (kind, well)."""
    query = select(ModelRegistryEntry)
    if kind is not None:
        query = query.where(ModelRegistryEntry.kind == kind)
    if well_ids is not None:
        query = query.where(ModelRegistryEntry.well_id.in_(list(well_ids)))
    query = query.order_by(ModelRegistryEntry.kind, ModelRegistryEntry.well_id, ModelRegistryEntry.version)
    with store.session_factory()() as session:
        rows = [_record(r) for r in session.scalars(query.limit(max(1, min(int(limit), 1_000_000))))]
    if latest_only:
        newest: dict[tuple[str, str], ModelRecord] = {}
        for r in rows:
            newest[(r.kind, r.well_id)] = r
        rows = list(newest.values())
    return rows


def latest_model(store: HistoryStore, kind: str, well_id: str) -> ModelRecord | None:
    """The newest version of ``kind`` for ``well_id`` (None when none is registered)."""
    query = (select(ModelRegistryEntry).where(ModelRegistryEntry.kind == kind, ModelRegistryEntry.well_id == well_id)
             .order_by(ModelRegistryEntry.version.desc()).limit(1))
    with store.session_factory()() as session:
        row = session.scalars(query).first()
        return _record(row) if row is not None else None
