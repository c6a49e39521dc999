"""The history store read over a period, for the weekly review and the monthly model audit
(:class:`tb_bridge.handlers.base.HistoryLog`), and the alarm log in the form the ISA-18.2 KPIs read.

Alarm events: the service keeps each ISA-18.2 state change of an alarm point as an ``alarm_event`` row whose
``details.kind`` is the transition (ACTIVE, RTN, ACK, SHELVE, ...) and ``state`` the state after it. A row without
``details.kind`` (not written by the service's alarm step) is read as ACTIVE when its state is UNACK and skipped
otherwise (:func:`event_kind`), as ``atilax alarms kpi --db`` does.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from tb_bridge.history.records import AlarmEventRecord
from tb_bridge.history.store import HistoryStore


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000.0, timezone.utc)


def event_kind(row: AlarmEventRecord) -> str | None:
    """The ISA-18.2 transition of an alarm-event row (upper case), None for a row that is not one."""
    kind = row.details.get("kind") if isinstance(row.details, dict) else None
    if kind is None:
        return "ACTIVE" if str(row.state).upper() == "UNACK" else None
    return str(kind).upper()


def tag_of(well_id: str, alarm_type: str) -> str:
    """The KPI tag of one alarm point of one well."""
    return f"{well_id}/{alarm_type}"


def kpi_log(rows: Iterable[AlarmEventRecord]) -> tuple[list[float], list[str], list[str]]:
    """``(ts_s, tags, events)`` of alarm-event rows for :func:`engines.alarms.kpi.alarm_kpis`: the tag of an alarm
    point is ``<well id>/<alarm type>``, rows without a transition are left out."""
    ts, tags, events = [], [], []
    for row in rows:
        kind = event_kind(row)
        if kind is None:
            continue
        ts.append(row.ts.timestamp())
        tags.append(tag_of(row.well_id, row.alarm_type))
        events.append(kind)
    return ts, tags, events


class StorePeriodLog:
    """:class:`~tb_bridge.handlers.base.HistoryLog` over a :class:`HistoryStore`.

    A run belongs to the period ``(start_ms, end_ms]`` (a run at the reader's own time ran before it) by its tier
    time, the result ``opt_last_run_ts`` every per-well run record holds (the scheduler's time, also on a simulated
    clock; ``started_at`` is the wall clock): the newest runs of the tier, as many as twice the tier's runs in the
    period plus ten (``tier_period_s``), are read and filtered on it."""

    #: Seconds between two runs of each tier (the fast tier's from the settings).
    TIER_PERIOD_S = {"fast": 300, "hourly": 3_600, "daily": 86_400, "weekly": 7 * 86_400, "monthly": 28 * 86_400}
    #: The result every run record holds: the tier's time (epoch ms).
    RUN_TS_KEY = "opt_last_run_ts"

    def __init__(self, store: HistoryStore, fast_interval_s: int = 300) -> None:
        self.store = store
        self.tier_period_s = {**self.TIER_PERIOD_S, "fast": int(fast_interval_s)}

    def results(self, entity_ids: Sequence[str], tier: str, keys: Sequence[str], start_ms: int,
                end_ms: int) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        period_s = self.tier_period_s.get(tier, 300)
        limit = 2 * int(math.ceil((end_ms - start_ms) / 1000.0 / period_s)) + 10
        found = self.store.latest_runs(entity_ids, [*keys, self.RUN_TS_KEY], tier=tier, limit=limit)
        out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for well, runs in found.items():
            for _, values in runs:
                ts = values.pop(self.RUN_TS_KEY, None)
                if isinstance(ts, (int, float)) and not isinstance(ts, bool) and start_ms < ts <= end_ms and values:
                    out.setdefault(well, []).append((int(ts), values))
        return out

    def alarm_log(self, entity_ids: Sequence[str], start_ms: int,
                  end_ms: int) -> tuple[list[tuple[str, float, str, str, str, str]], dict[tuple[str, str], str]]:
        wells = set(entity_ids)
        events = []
        for well in wells:
            for row in self.store.alarm_log(_instant(start_ms), _instant(end_ms), well):
                kind = event_kind(row)
                if kind is not None:
                    events.append((row.well_id, row.ts.timestamp(), row.alarm_type, row.severity, kind, row.state))
        events.sort(key=lambda e: e[1])
        prior = {(row.well_id, row.alarm_type): row.state
                 for row in self.store.alarm_states_before(_instant(start_ms), list(wells))}
        return events, prior
