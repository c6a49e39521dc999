"""Replay a long telemetry recording through the service's stateful diagnostic path.

The samples go, in time order and at their native sampling, into the service's buffer (``MemoryBuffer``: the
24-hour, 288-point window); every ``every_s`` of recording time the fast tier's diagnostics step runs for every
well over its buffered window with the state the previous runs left (first baseline, CUSUM / EWMA sums,
anomaly spans), batched per lift type as the service batches it (``DiagnosticsStep.run_batch``); at each day
boundary the daily baseline refresh runs. Each run's verdict is kept, and the changes of a well's anomaly type
are its events (``ReplayEvent``: an anomaly that starts, changes or ends).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.handlers.base import InsufficientData, WellContext
from tb_bridge.handlers.engine_steps import baseline_refresh_step, diagnostics_step
from tb_bridge.wells.model import WellConfig

DAY_MS = 86_400_000
#: Most samples one replay takes per well (a year of 1-minute samples); the CLI says so when a file has more.
MAX_SAMPLES = 525_600


@dataclass(frozen=True)
class ReplayWell:
    """One well's recording: its configuration, ``ts_ms`` (ascending epoch ms) and ``values[key]`` aligned with it
    (NaN where a key was not reported)."""

    config: WellConfig
    ts_ms: np.ndarray
    values: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ReplayRun:
    """The verdict of one fast-tier run of one well."""

    ts_ms: int
    well: str
    status: str  # ok | insufficient_data | error
    anomaly_type: str
    severity: str
    score: float | None
    health: float | None
    detail: str


@dataclass(frozen=True)
class ReplayEvent:
    """A change of a well's anomaly type: ``kind`` start (none -> type), change (type -> other type) or end."""

    ts_ms: int
    well: str
    kind: str
    anomaly_type: str
    previous: str
    severity: str
    score: float | None
    evidence: list


def replay(wells: Sequence[ReplayWell], every_s: int = 300, refresh_daily: bool = True) -> tuple[list[ReplayRun], list[ReplayEvent]]:
    """Stream the recordings of ``wells`` (distinct ``entity_id``) through the buffer and the diagnostics step; the
    runs of every well and their events, oldest first."""
    if every_s <= 0:
        raise ValueError(f"every_s must be positive, got {every_s}")
    if len({w.config.entity_id for w in wells}) != len(wells):
        raise ValueError("replayed wells need distinct entity ids")
    for w in wells:
        if np.size(w.ts_ms) > MAX_SAMPLES:
            raise ValueError(f"{w.config.name}: {np.size(w.ts_ms)} samples; at most {MAX_SAMPLES} per replay")
        if np.size(w.ts_ms) > 1 and np.any(np.diff(w.ts_ms) <= 0):
            raise ValueError(f"{w.config.name}: timestamps must be strictly ascending")
    buffer = MemoryBuffer()
    states: dict[str, dict[str, Any]] = {w.config.entity_id: {} for w in wells}
    field_states: dict[str, dict[str, Any]] = {}
    starts = [int(w.ts_ms[0]) for w in wells if np.size(w.ts_ms)]
    ends = [int(w.ts_ms[-1]) for w in wells if np.size(w.ts_ms)]
    if not starts:
        return [], []
    step_ms = int(every_s * 1000)
    tick = min(starts) + step_ms
    cursor = {w.config.entity_id: 0 for w in wells}
    runs: list[ReplayRun] = []
    events: list[ReplayEvent] = []
    last_type: dict[str, str] = {w.config.entity_id: "none" for w in wells}
    day = min(starts) // DAY_MS
    while tick <= max(ends) + step_ms:
        for w in wells:
            i0, ts = cursor[w.config.entity_id], w.ts_ms
            i1 = int(np.searchsorted(ts, tick, side="right"))
            if i1 > i0:
                block = {k: np.asarray(v[i0:i1], dtype=float) for k, v in w.values.items()}
                samples = []
                for j in range(i1 - i0):
                    row = {k: float(v[j]) for k, v in block.items() if np.isfinite(v[j])}
                    if row:  # a row with no value is no sample (an outage)
                        samples.append((w.config.entity_id, int(ts[i0 + j]), row))
                buffer.append_many(samples)
                cursor[w.config.entity_id] = i1
        contexts = [_context(w, buffer, states, field_states, tick, "fast") for w in wells]
        by_lift: dict[str, list[WellContext]] = {}
        for c in contexts:
            by_lift.setdefault(c.config.lift_type, []).append(c)
        for group in by_lift.values():
            outcomes = diagnostics_step.run_batch(group)
            for c in group:
                run, event = _verdict(c, outcomes[c.config.entity_id], tick, last_type)
                if run is not None:
                    runs.append(run)
                if event is not None:
                    events.append(event)
        if refresh_daily and tick // DAY_MS > day:
            day = tick // DAY_MS
            for w in wells:
                try:
                    baseline_refresh_step(_context(w, buffer, states, field_states, tick, "daily"))
                except InsufficientData:
                    pass
        tick += step_ms
    return runs, events


def _context(w: ReplayWell, buffer: MemoryBuffer, states, field_states, now_ms: int, tier) -> WellContext:
    return WellContext(config=w.config, window=buffer.window(w.config.entity_id), now_ms=int(now_ms), tier=tier,
                       state=states[w.config.entity_id], field_state=field_states.setdefault(w.config.lift_type, {}))


def _verdict(context: WellContext, outcome, tick: int, last_type: dict[str, str]):
    well = context.config.entity_id
    if isinstance(outcome, InsufficientData):
        if "no new samples" in str(outcome):
            return None, None
        return ReplayRun(tick, well, "insufficient_data", "insufficient_data", "NONE", None, None, str(outcome)), None
    if isinstance(outcome, Exception):
        return ReplayRun(tick, well, "error", "error", "NONE", None, None, f"{type(outcome).__name__}: {outcome}"), None
    a = outcome.attributes
    status = "insufficient_data" if outcome.waiting else "ok"
    kind = a["opt_anomaly_type"]
    run = ReplayRun(tick, well, status, kind, a["opt_anomaly_severity"], a["opt_anomaly_score"], a["opt_well_health_score"],
                    "; ".join([*outcome.waiting, *outcome.notes]))
    previous = last_type[well]
    quiet = ("none", "insufficient_data")
    event = None
    if kind != previous and not (kind in quiet and previous in quiet):
        change = "start" if previous in quiet else "end" if kind in quiet else "change"
        event = ReplayEvent(tick, well, change, kind if change != "end" else previous, previous, a["opt_anomaly_severity"],
                            a["opt_anomaly_score"], a["opt_anomaly_evidence"])
    last_type[well] = kind
    return run, event
