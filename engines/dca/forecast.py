"""Monthly forecast of a fitted decline: monthly points and 12-month summaries, JSON-ready.

Months are **calendar months** when the history has dates: month ``k`` (1..n) ends at the ``k``-th
month boundary (00:00 UTC on the 1st) after the end of the history ``t_last``; the first month runs
from ``t_last`` to the end of its calendar month (a full month when the history ends on a boundary,
as monthly volumes do). Each point carries the month's last day (``date``), its first day
(``month_start``), its calendar length (``days``, 28-31) and the epoch milliseconds of its end
(``ts_ms``). Without dates (time in plain days) months are ``DAYS_PER_MONTH`` (30.4375-day) blocks
from ``t_last``.

Each point gives the rate at the end of the month (``rate_bpd``, deterministic curve, on-stream rate),
the month's average on-stream rate (``avg_rate_bpd``), the month's volume (difference of the
closed-form cumulative times the expected uptime), the cumulative forecast volume and the
cumulative including history; with a probabilistic band, the P90/P50/P10 of the month's average
on-stream rate (``rate_p90_bpd``, ``rate_p50_bpd``, ``rate_p10_bpd``). Production stops at
abandonment (economic limit or horizon), so volumes after it are zero and the deterministic rate is
reported as 0. Summaries aggregate each 12 months.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from engines.dca.arps import DeclineParams
from engines.dca.conventions import DAYS_PER_MONTH

Array = NDArray[np.float64]
_S_PER_DAY = 86400.0


def month_edges_days(t_last_days: float, n_months: int, start_date: np.datetime64 | None = None
                     ) -> tuple[Array, Array]:
    """``(edges, days)``: ``edges[0] = t_last`` and ``edges[k]`` the end of forecast month ``k`` [day since
    the history's origin]; ``days[k-1]`` the length of month ``k`` [day] (calendar: 28-31). See module
    docstring."""
    if n_months < 1:
        raise ValueError("n_months must be >= 1")
    if start_date is None:
        edges = t_last_days + DAYS_PER_MONTH * np.arange(n_months + 1, dtype=np.float64)
        return edges, np.full(n_months, DAYS_PER_MONTH)
    origin = np.datetime64(start_date, "s")
    last = origin + np.timedelta64(int(round(t_last_days * _S_PER_DAY)), "s")
    bounds = (last.astype("datetime64[M]") + np.arange(n_months + 1)).astype("datetime64[s]")
    bound_days = (bounds - origin).astype(np.float64) / _S_PER_DAY
    edges = np.concatenate([[t_last_days], bound_days[1:]])
    return edges, np.diff(bound_days)


def _iso_date(start_date: np.datetime64, t_days: float) -> str:
    return str((start_date + np.timedelta64(int(round(t_days * 86400.0)), "s")).astype("datetime64[D]"))


def build_forecast(params: DeclineParams, *, t_last_days: float, history_cum_bbl: float, abandonment_days: float,
                   n_months: int = 60, start_date: np.datetime64 | None = None,
                   rate_low_bpd: Array | None = None, rate_high_bpd: Array | None = None,
                   rate_p50_bpd: Array | None = None, uptime_fraction: float = 1.0) -> dict[str, Any]:
    """JSON-ready forecast dict: ``{"months": [...], "years": [...], ...}`` (see module docstring).

    ``rate_low_bpd``/``rate_p50_bpd``/``rate_high_bpd`` [bbl/d] (length ``n_months``), when given, are the
    P90/P50/P10 band of the monthly average on-stream rate. ``uptime_fraction`` [-]: expected fraction
    of time on stream, applied to volumes."""
    if not 0.0 < uptime_fraction <= 1.0:
        raise ValueError("uptime_fraction must be in (0, 1]")
    t, days = month_edges_days(t_last_days, n_months, start_date)
    t_eff = np.minimum(t, max(abandonment_days, t_last_days))
    cum_on = params.cumulative(t_eff) - params.cumulative(t_last_days)
    cum = uptime_fraction * cum_on
    vol = np.diff(cum)
    producing = t[1:] <= abandonment_days
    rate = np.where(producing, params.rate(t[1:]), 0.0)
    avg = np.diff(cum_on) / np.diff(t)
    origin = None if start_date is None else np.datetime64(start_date, "s")
    months = []
    for i in range(n_months):
        point: dict[str, Any] = {
            "month": i + 1,
            "t_days": round(float(t[i + 1]), 4),
            "days": float(days[i]),
            "rate_bpd": float(rate[i]),
            "avg_rate_bpd": float(avg[i]),
            "volume_bbl": float(vol[i]),
            "cum_forecast_bbl": float(cum[i + 1]),
            "cum_total_bbl": float(history_cum_bbl + cum[i + 1]),
        }
        if origin is not None:
            end = origin + np.timedelta64(int(round(t[i + 1] * _S_PER_DAY)), "s")
            point["date"] = str((end - np.timedelta64(1, "s")).astype("datetime64[D]"))
            point["month_start"] = str((end - np.timedelta64(1, "s")).astype("datetime64[M]").astype("datetime64[D]"))
            point["ts_ms"] = int(end.astype("datetime64[ms]").astype(np.int64))
        if rate_low_bpd is not None and rate_high_bpd is not None:
            point["rate_p90_bpd"] = float(rate_low_bpd[i])
            point["rate_p10_bpd"] = float(rate_high_bpd[i])
        if rate_p50_bpd is not None:
            point["rate_p50_bpd"] = float(rate_p50_bpd[i])
        months.append(point)
    years = []
    for y in range(int(np.ceil(n_months / 12))):
        lo, hi = 12 * y, min(12 * (y + 1), n_months)
        volume = float(vol[lo:hi].sum())
        years.append({
            "year": y + 1,
            "months": hi - lo,
            "volume_bbl": volume,
            "avg_rate_bpd": volume / float(t[hi] - t[lo]),
            "end_rate_bpd": float(rate[hi - 1]),
            "cum_forecast_bbl": float(cum[hi]),
        })
    out: dict[str, Any] = {
        "model": params.model,
        "start_t_days": float(t_last_days),
        "month_days": DAYS_PER_MONTH if start_date is None else "calendar",
        "abandonment_t_days": float(abandonment_days),
        "uptime_fraction": float(uptime_fraction),
        "months": months,
        "years": years,
    }
    if start_date is not None:
        out["start_date"] = _iso_date(start_date, t_last_days)
    return out
