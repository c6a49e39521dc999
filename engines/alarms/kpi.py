"""ISA-18.2 / EEMUA 191 alarm-system performance metrics from an alarm log.

Definitions (ANSI/ISA-18.2-2016 sec. 16.5 and Table 5; EEMUA 191 3rd ed. sec. 6): annunciated
alarms per operator per 10 minutes and per hour (targets ~1 and ~6, maximum manageable ~2 and
~12); a flood is a 10-minute period with more than 10 alarms, reported as the number and
percentage of 10-minute periods in flood (target < ~1%); the top-10 most frequent alarms
("bad actors") and their share of all alarms (target < ~1-5%); chattering alarms (an alarm that
activates >= 3 times within 60 s; target 0); stale alarms (active > 24 h; target < 5 per day).
Periods are consecutive 10-minute intervals starting at ``start_s``.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

FLOOD_PERIOD_S = 600.0
FLOOD_THRESHOLD = 10
CHATTER_COUNT = 3
CHATTER_WINDOW_S = 60.0
STALE_AFTER_S = 24 * 3600.0

#: EEMUA 191 / ISA-18.2 Table 5 reference targets.
TARGETS = {"alarms_per_10min": 1.0, "alarms_per_10min_max": 2.0, "alarms_per_hour": 6.0,
           "alarms_per_hour_max": 12.0, "pct_time_in_flood": 1.0, "top10_share_pct": 5.0,
           "chattering_alarms": 0, "stale_alarms": 5}


@dataclass(frozen=True)
class AlarmKpi:
    n_alarms: int
    duration_s: float
    alarms_per_operator_per_10min: float
    alarms_per_operator_per_hour: float
    peak_alarms_per_10min: int
    flood_periods: int
    n_periods: int
    pct_time_in_flood: float
    top_bad_actors: tuple[tuple[str, int, float], ...]  # (tag, count, % of all alarms)
    top10_share_pct: float
    chattering_tags: tuple[str, ...]
    stale_tags: tuple[str, ...]


def alarm_kpis(ts_s, tags, kinds, start_s: float | None = None, end_s: float | None = None,
               n_operators: int = 1) -> AlarmKpi:
    """Metrics from parallel sequences of event time (s), tag and kind (``ACTIVE`` / ``RTN``; others ignored)."""
    ts = np.asarray(ts_s, dtype=float)
    tags = [str(t) for t in tags]
    kinds = [str(k).upper() for k in kinds]
    if not (len(ts) == len(tags) == len(kinds)):
        raise ValueError("ts_s, tags and kinds must have the same length")
    if n_operators < 1:
        raise ValueError("n_operators must be >= 1")
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    tags = [tags[i] for i in order]
    kinds = [kinds[i] for i in order]
    start = float(ts[0]) if start_s is None and len(ts) else float(start_s or 0.0)
    end = float(ts[-1]) if end_s is None and len(ts) else float(end_s or start)
    if end <= start:
        end = start + FLOOD_PERIOD_S
    act = np.array([k == "ACTIVE" for k in kinds], bool)
    act_ts = ts[act]
    act_tags = [t for t, a in zip(tags, act) if a]
    duration = end - start
    n = int(act.sum())
    n_periods = int(np.ceil(duration / FLOOD_PERIOD_S))
    counts = np.bincount(np.clip(((act_ts - start) // FLOOD_PERIOD_S).astype(int), 0, n_periods - 1),
                         minlength=n_periods) if n else np.zeros(n_periods, int)
    flood = int(np.sum(counts > FLOOD_THRESHOLD))
    top = Counter(act_tags).most_common(10)
    actors = tuple((t, c, 100.0 * c / n) for t, c in top)
    by_tag: dict[str, list[float]] = defaultdict(list)
    for t, s in zip(act_tags, act_ts):
        by_tag[t].append(float(s))
    chatter = tuple(sorted(t for t, s in by_tag.items()
                           if any(s[i + CHATTER_COUNT - 1] - s[i] <= CHATTER_WINDOW_S for i in range(len(s) - CHATTER_COUNT + 1))))
    stale = set()
    since: dict[str, float] = {}
    for t, k, s in zip(tags, kinds, ts):
        if k == "ACTIVE":
            since.setdefault(t, float(s))
        elif k == "RTN" and t in since:
            if s - since.pop(t) > STALE_AFTER_S:
                stale.add(t)
    stale |= {t for t, s in since.items() if end - s > STALE_AFTER_S}
    per10 = n / (duration / FLOOD_PERIOD_S) / n_operators
    return AlarmKpi(n, duration, per10, per10 * 6.0, int(counts.max()) if n else 0, flood, n_periods,
                    100.0 * flood / n_periods, actors, float(sum(c for _, c, _ in actors) * 100.0 / n) if n else 0.0,
                    chatter, tuple(sorted(stale)))
