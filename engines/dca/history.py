"""Production history for decline analysis: time axis, shut-in and restart screening.

A history is a set of observations of the *average rate over an interval*
``[t_start_days, t_end_days]`` (bbl/d): daily telemetry rates are point observations
(``t_start == t_end``, compared with the model rate ``q(t)``); monthly volumes are intervals
(compared with the model's interval average ``(Np(t_end) - Np(t_start)) / (t_end - t_start)``,
exact for volumes, no mid-point approximation).

Time is in days since the first sample (``t = 0`` there; the fitted ``qi`` is the rate at that
instant). Dates (ISO strings, ``datetime``/``date``, ``numpy.datetime64``) are converted to days.

Screening (documented choices):

* **missing** samples (NaN/inf rate) are dropped;
* **shut-in** samples (rate ``<= 0``: zero-rate days) are dropped from the fit -- calendar time is
  kept, so a shut-in is a gap, not a shift of the curve;
* **restart** samples, i.e. producing samples within ``restart_skip_days`` after a shut-in sample
  (flush production / unloading after a restart), are dropped from the fit;
* statistical **outliers** are handled later by the fit (robust loss, then modified z-score).

The observed cumulative counts every sample (shut-ins contribute zero): the trapezoid rule for
point rates, the sum of volumes for intervals.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engines.dca.conventions import DAYS_PER_MONTH

Array = NDArray[np.float64]
_SECONDS_PER_DAY = 86400.0


def _as_utc_naive(value: object) -> _dt.datetime:
    """A date, datetime or ISO-8601 string as a naive UTC datetime (offsets applied, naive taken as UTC)."""
    if isinstance(value, _dt.datetime):
        stamp = value
    elif isinstance(value, _dt.date):
        stamp = _dt.datetime.combine(value, _dt.time())
    else:
        stamp = _dt.datetime.fromisoformat(str(value).strip())
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return stamp


def to_days(time: ArrayLike | Sequence[object]) -> tuple[Array, np.datetime64 | None]:
    """Convert times (numbers in days, or dates) to float days since the earliest value (order kept).

    Returns ``(days, start_date)``; ``start_date`` (the earliest date) is ``None`` for numeric input."""
    raw = np.asarray(time)
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError("time must be a non-empty 1-D sequence")
    if raw.dtype.kind in "iuf":
        days = raw.astype(np.float64)
        if not np.all(np.isfinite(days)):
            raise ValueError("time (days) must be finite")
        return days - days.min(), None
    try:
        if raw.dtype.kind == "M":
            stamps = raw.astype("datetime64[s]")
        else:
            stamps = np.array([np.datetime64(_as_utc_naive(v), "s") for v in raw.tolist()])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"time values must be numbers of days or ISO dates: {exc}") from exc
    if np.any(np.isnat(stamps)):
        raise ValueError("time values must not be empty or NaT")
    origin = stamps.min()
    seconds = (stamps - origin).astype(np.float64)
    return seconds / _SECONDS_PER_DAY, origin


@dataclass(frozen=True, eq=False)
class DeclineHistory:
    """Observations of average rate over intervals (see module docstring). Arrays are sorted by time."""

    t_start_days: Array
    t_end_days: Array
    rate_bpd: Array
    kind: str  # "rate" (point rates) or "volume" (interval volumes)
    start_date: np.datetime64 | None = None
    cumulative_bbl: float = field(default=0.0)

    @property
    def t_last_days(self) -> float:
        """End of the history (days since the first sample): forecasts start here."""
        return float(np.max(self.t_end_days))

    @property
    def n(self) -> int:
        return int(self.rate_bpd.size)


def history_from_rates(time: ArrayLike | Sequence[object], rate_bpd: ArrayLike) -> DeclineHistory:
    """History from rate samples (bbl/d) at times (days or dates), e.g. daily ``flow_rate_bpd``."""
    days, start = to_days(time)
    q = np.asarray(rate_bpd, dtype=np.float64)
    if q.shape != days.shape:
        raise ValueError(f"time and rate_bpd lengths differ ({days.size} vs {q.size})")
    order = np.argsort(days, kind="stable")
    days, q = days[order], q[order]
    if np.any(np.diff(days) <= 0.0):
        raise ValueError("time values must be distinct")
    q_cum = np.where(np.isfinite(q) & (q > 0.0), q, 0.0)
    cum = float(np.sum(0.5 * (q_cum[1:] + q_cum[:-1]) * np.diff(days))) if days.size > 1 else 0.0
    return DeclineHistory(days, days, q, "rate", start, cum)


def history_from_volumes(period_start: ArrayLike | Sequence[object], volume_bbl: ArrayLike,
                         period_end: ArrayLike | Sequence[object] | None = None) -> DeclineHistory:
    """History from volumes (bbl) produced over periods, e.g. monthly volumes.

    ``period_end`` defaults to the next period's start; the last period lasts the median spacing
    (one ``DAYS_PER_MONTH`` for a single period)."""
    starts, start_date = to_days(period_start)
    v = np.asarray(volume_bbl, dtype=np.float64)
    if v.shape != starts.shape:
        raise ValueError(f"period_start and volume_bbl lengths differ ({starts.size} vs {v.size})")
    order = np.argsort(starts, kind="stable")
    starts, v = starts[order], v[order]
    if np.any(np.diff(starts) <= 0.0):
        raise ValueError("period starts must be distinct")
    if period_end is None:
        last = float(np.median(np.diff(starts))) if starts.size > 1 else DAYS_PER_MONTH
        ends = np.append(starts[1:], starts[-1] + last)
    else:
        if start_date is None:
            ends_raw = np.asarray(period_end, dtype=np.float64) - np.min(np.asarray(period_start, dtype=np.float64))
        else:
            ends_days, end0 = to_days(period_end)
            ends_raw = ends_days + (end0 - start_date).astype("timedelta64[s]").astype(np.float64) / _SECONDS_PER_DAY
        ends = np.asarray(ends_raw, dtype=np.float64)[order]
    if np.any(ends <= starts):
        raise ValueError("each period must end after it starts")
    cum = float(np.sum(np.where(np.isfinite(v) & (v > 0.0), v, 0.0)))
    return DeclineHistory(starts, ends, v / (ends - starts), "volume", start_date, cum)


@dataclass(frozen=True)
class Screening:
    """Which samples the fit may use, and why the others were dropped (counts)."""

    usable: NDArray[np.bool_]
    n_missing: int
    n_shut_in: int
    n_restart: int


def screen_history(history: DeclineHistory, restart_skip_days: float = 1.0) -> Screening:
    """Drop missing, shut-in (rate <= 0) and post-restart samples (see module docstring)."""
    if restart_skip_days < 0.0:
        raise ValueError("restart_skip_days must be >= 0")
    q = history.rate_bpd
    missing = ~np.isfinite(q)
    shut_in = ~missing & (q <= 0.0)
    producing = ~missing & ~shut_in
    restart = np.zeros_like(producing)
    if np.any(shut_in) and restart_skip_days > 0.0:
        shut_end = history.t_end_days[shut_in]
        # last shut-in sample ending at or before each sample's start
        idx = np.searchsorted(shut_end, history.t_start_days, side="right") - 1
        has_prior = idx >= 0
        since = history.t_start_days - shut_end[np.maximum(idx, 0)]
        restart = producing & has_prior & (since > 0.0) & (since <= restart_skip_days)
    usable = producing & ~restart
    return Screening(usable, int(missing.sum()), int(shut_in.sum()), int(restart.sum()))
