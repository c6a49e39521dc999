"""Anomaly summary of a period: the ISA-18.2 alarm log of one or more alarm points, and the 5-minute diagnoses.

Alarm log (engines.alarms.states): every state change of an alarm point is an event ``(ts_s, alarm_type,
severity, kind, state)``, ``kind`` the transition (ACTIVE, RTN, ACK, SHELVE, ...) and ``state`` the ISA-18.2 state
after it. An alarm is *raised* by each ACTIVE event, and *in alarm* while it stands annunciated, i.e. in state
UNACK (active, unacknowledged) or ACKED (active, acknowledged): from its ACTIVE (or a re-annunciation on
unshelving) to its return to normal (RTN: RTNUN or NORM) or to its removal from annunciation (shelved, suppressed,
out of service). The state at the period's start is the state after the alarm's last event before it; the hours
are clipped to the period. ``hours_in_alarm`` counts the hours with at least one alarm standing (the union over
alarm types); ``hours_by_type`` each type's own hours (they may overlap).

Diagnoses: each diagnosis stands for the fast tier's interval; the anomalous ones (type other than ``none``) are
counted by anomaly type and severity and turned into hours.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

#: ISA-18.2 states in which an alarm stands annunciated (engines.alarms.states: UNACK, ACKED).
IN_ALARM_STATES = frozenset({"UNACK", "ACKED"})
#: The diagnosis type of a window without an anomaly (engines.anomaly.diagnosis).
NO_ANOMALY = "none"


@dataclass(frozen=True)
class AlarmLogSummary:
    raised: int
    raised_by_type: dict[str, int] = field(default_factory=dict)
    raised_by_severity: dict[str, int] = field(default_factory=dict)
    hours_by_type: dict[str, float] = field(default_factory=dict)
    hours_in_alarm: float = 0.0


def _merged_hours(intervals: Iterable[tuple[float, float]]) -> float:
    total, current = 0.0, None
    for a, b in sorted(intervals):
        if current is None or a > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [a, b]
        else:
            current[1] = max(current[1], b)
    if current is not None:
        total += current[1] - current[0]
    return total / 3600.0


def summarize_alarm_log(events: Sequence[tuple[float, str, str, str, str]], start_s: float, end_s: float,
                        prior_states: Mapping[str, str] | None = None) -> AlarmLogSummary:
    """Summary of the alarm events with ``start_s <= ts_s < end_s`` (others ignored), ``prior_states``: alarm type ->
    its state after its last event before ``start_s`` (absent: normal). Event tuples: ``(ts_s, alarm_type,
    severity, kind, state)``; their order does not matter (sorted by time, stably)."""
    if end_s <= start_s:
        raise ValueError(f"the period must end after it starts, got [{start_s}, {end_s})")
    inside = sorted((e for e in events if start_s <= float(e[0]) < end_s), key=lambda e: float(e[0]))
    raised_type: Counter[str] = Counter()
    raised_sev: Counter[str] = Counter()
    since: dict[str, float] = {t: start_s for t, s in (prior_states or {}).items() if str(s).upper() in IN_ALARM_STATES}
    intervals: dict[str, list[tuple[float, float]]] = {}
    for ts, alarm_type, severity, kind, state in inside:
        ts = float(ts)
        if str(kind).upper() == "ACTIVE":
            raised_type[alarm_type] += 1
            raised_sev[severity] += 1
        standing = str(state).upper() in IN_ALARM_STATES
        if standing and alarm_type not in since:
            since[alarm_type] = ts
        elif not standing and alarm_type in since:
            intervals.setdefault(alarm_type, []).append((since.pop(alarm_type), ts))
    for alarm_type, t0 in since.items():
        intervals.setdefault(alarm_type, []).append((t0, end_s))
    hours = {t: sum(b - a for a, b in spans) / 3600.0 for t, spans in sorted(intervals.items())}
    return AlarmLogSummary(sum(raised_type.values()), dict(sorted(raised_type.items())),
                           dict(sorted(raised_sev.items())), hours,
                           _merged_hours(span for spans in intervals.values() for span in spans))


@dataclass(frozen=True)
class DiagnosisSummary:
    diagnoses: int
    anomalous: int
    hours: float
    hours_by_type: dict[str, float] = field(default_factory=dict)
    hours_by_severity: dict[str, float] = field(default_factory=dict)


def summarize_diagnoses(types: Sequence[str], severities: Sequence[str], interval_s: float) -> DiagnosisSummary:
    """Anomalous diagnoses (type other than ``none``) by type and severity, each standing for ``interval_s``."""
    if len(types) != len(severities):
        raise ValueError("types and severities must have the same length")
    hour = float(interval_s) / 3600.0
    by_type: Counter[str] = Counter()
    by_sev: Counter[str] = Counter()
    for t, s in zip(types, severities):
        if t and t != NO_ANOMALY:
            by_type[t] += 1
            by_sev[s] += 1
    n = sum(by_type.values())
    return DiagnosisSummary(len(types), n, n * hour, {k: v * hour for k, v in sorted(by_type.items())},
                            {k: v * hour for k, v in sorted(by_sev.items())})
