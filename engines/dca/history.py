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

**On-stream time** (optional): the fraction of each sample's period the well produced
(``uptime_fraction``, from hours or days on stream). Rates are normalized by it, so ``rate_bpd`` is
the rate *while on stream* (a month of 9,000 bbl produced in 300 of 720 hours is 9,000 / 12.5 =
720 bbl/d, not 9,000 / 30 = 300 bbl/d): the decline is that of the well's capacity, and partial
months stop bending the fit. Samples on stream less than ``min_uptime_fraction`` of their period are
treated as shut-ins (their normalized rate is dominated by start-up transients and rounding).

**Segments**: a shut-in (non-producing samples and/or a gap in the time axis) lasting at least
``segment_shut_in_days`` ends a decline segment; the fit uses the last segment (a restart after a long
shut-in is a new decline: flush production, re-pressurized drainage area, often a workover), or every
segment with ``fit_all=True``.

The observed cumulative counts every sample (shut-ins contribute zero; volumes as produced, not
normalized): the trapezoid rule for point rates, the sum of volumes for intervals.
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
    #: fraction of each sample's period on stream (0..1); ``None``: always on stream
    uptime_fraction: Array | None = None

    @property
    def t_last_days(self) -> float:
        """End of the history (days since the first sample): forecasts start here."""
        return float(np.max(self.t_end_days))

    @property
    def n(self) -> int:
        return int(self.rate_bpd.size)


def _uptime(uptime_fraction: ArrayLike | None, shape: tuple[int, ...]) -> Array | None:
    if uptime_fraction is None:
        return None
    u = np.asarray(uptime_fraction, dtype=np.float64)
    if u.shape != shape:
        raise ValueError(f"on-stream time must have one value per sample ({shape[0]}), got shape {u.shape}")
    if np.any(np.isfinite(u) & ((u < 0.0) | (u > 1.0 + 1e-9))):
        raise ValueError("on-stream time must lie between 0 and the sample's period")
    return np.where(np.isfinite(u), np.minimum(u, 1.0), 1.0)  # unknown on-stream time: a full period


def history_from_rates(time: ArrayLike | Sequence[object], rate_bpd: ArrayLike,
                       uptime_fraction: ArrayLike | None = None) -> DeclineHistory:
    """History from rate samples (bbl/d) at times (days or dates), e.g. daily ``flow_rate_bpd``.

    ``uptime_fraction`` [-]: fraction of each sample's period (a day for daily rates) on stream, e.g.
    ``hours_on / 24``; the rates (calendar-day averages) are divided by it (module docstring)."""
    days, start = to_days(time)
    q = np.asarray(rate_bpd, dtype=np.float64)
    if q.shape != days.shape:
        raise ValueError(f"time and rate_bpd lengths differ ({days.size} vs {q.size})")
    up = _uptime(uptime_fraction, q.shape)
    order = np.argsort(days, kind="stable")
    days, q = days[order], q[order]
    if np.any(np.diff(days) <= 0.0):
        raise ValueError("time values must be distinct")
    q_cum = np.where(np.isfinite(q) & (q > 0.0), q, 0.0)
    cum = float(np.sum(0.5 * (q_cum[1:] + q_cum[:-1]) * np.diff(days))) if days.size > 1 else 0.0
    if up is not None:
        up = up[order]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(up > 0.0, q / up, np.where(np.isfinite(q), 0.0, q))
    return DeclineHistory(days, days, q, "rate", start, cum, up)


def history_from_volumes(period_start: ArrayLike | Sequence[object], volume_bbl: ArrayLike,
                         period_end: ArrayLike | Sequence[object] | None = None,
                         on_stream_days: ArrayLike | None = None) -> DeclineHistory:
    """History from volumes (bbl) produced over periods, e.g. monthly volumes.

    ``period_end`` defaults to the next period's start; the last period lasts the median spacing
    (one ``DAYS_PER_MONTH`` for a single period). ``on_stream_days`` [day]: producing time in each
    period (hours on stream / 24); the rate is then ``volume / on_stream_days`` (module docstring)."""
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
    up = None
    if on_stream_days is not None:
        on = np.asarray(on_stream_days, dtype=np.float64)
        if on.shape != v.shape:
            raise ValueError(f"on_stream_days must have one value per period ({v.size}), got shape {on.shape}")
        on = on[order]
        if np.any(np.isfinite(on) & (on > (ends - starts) * (1.0 + 1e-9) + 1e-9)):
            raise ValueError("on_stream_days exceeds the period's length")
        up = _uptime(on / (ends - starts), v.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(up > 0.0, v / (up * (ends - starts)), np.where(np.isfinite(v), 0.0, v))
        return DeclineHistory(starts, ends, rate, "volume", start_date, cum, up)
    return DeclineHistory(starts, ends, v / (ends - starts), "volume", start_date, cum)


@dataclass(frozen=True)
class Screening:
    """Which samples the fit may use, and why the others were dropped (counts).

    ``segment_start``: index of the first sample of the fitted decline segment (0 with ``fit_all`` or
    a single segment); ``n_segments``: segments found; ``usable`` is restricted to the fitted segment."""

    usable: NDArray[np.bool_]
    n_missing: int
    n_shut_in: int
    n_restart: int
    n_segments: int = 1
    segment_start: int = 0


def segment_starts(history: DeclineHistory, producing: NDArray[np.bool_], segment_shut_in_days: float) -> NDArray[np.int64]:
    """Indices of the first producing sample of each decline segment (module docstring).

    The down time before producing sample ``i`` is ``t_start[i] - t_end[j]`` for the previous
    producing sample ``j``, less one sample spacing for point rates (consecutive daily rates are 1 day
    apart with no down time); a down time of at least ``segment_shut_in_days`` [day] starts a segment."""
    idx = np.flatnonzero(producing)
    if idx.size == 0:
        return np.zeros(1, dtype=np.int64)
    gap = history.t_start_days[idx[1:]] - history.t_end_days[idx[:-1]]
    if history.kind == "rate" and history.n > 1:
        gap = gap - float(np.median(np.diff(history.t_start_days)))
    breaks = idx[1:][gap >= segment_shut_in_days]
    return np.concatenate([idx[:1], breaks]).astype(np.int64)


def screen_history(history: DeclineHistory, restart_skip_days: float = 1.0, *, min_uptime_fraction: float = 0.1,
                   segment_shut_in_days: float = np.inf, fit_all: bool = True) -> Screening:
    """Drop missing, shut-in (rate <= 0 or on stream less than ``min_uptime_fraction`` [-]) and
    post-restart samples (``restart_skip_days`` [day]); unless ``fit_all``, keep only the last segment
    (shut-ins of ``segment_shut_in_days`` [day] or more split segments). See module docstring."""
    if restart_skip_days < 0.0:
        raise ValueError("restart_skip_days must be >= 0")
    if not 0.0 <= min_uptime_fraction < 1.0:
        raise ValueError("min_uptime_fraction must be in [0, 1)")
    if not segment_shut_in_days > 0.0:
        raise ValueError("segment_shut_in_days must be positive")
    q = history.rate_bpd
    missing = ~np.isfinite(q)
    shut_in = ~missing & (q <= 0.0)
    if history.uptime_fraction is not None:
        shut_in |= ~missing & (history.uptime_fraction < max(min_uptime_fraction, 1e-12))
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
    starts = segment_starts(history, producing, segment_shut_in_days)
    first = 0 if fit_all else int(starts[-1])
    usable[:first] = False
    return Screening(usable, int(missing.sum()), int(shut_in.sum()), int(restart.sum()), int(starts.size), first)


def segment_history(history: DeclineHistory, first: int) -> DeclineHistory:
    """The samples from index ``first`` on, with time re-origined there (``t = 0`` at that sample's start;
    ``start_date`` moved with it); the cumulative stays that of the whole history."""
    if first == 0:
        return history
    t0 = float(history.t_start_days[first])
    start = None
    if history.start_date is not None:
        start = history.start_date + np.timedelta64(int(round(t0 * _SECONDS_PER_DAY)), "s")
    up = None if history.uptime_fraction is None else history.uptime_fraction[first:]
    return DeclineHistory(history.t_start_days[first:] - t0, history.t_end_days[first:] - t0,
                          history.rate_bpd[first:], history.kind, start, history.cumulative_bbl, up)
