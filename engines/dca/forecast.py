"""Monthly forecast of a fitted decline: monthly points and 12-month summaries, JSON-ready.

Month ``k`` (1..n) spans ``[t_last + (k-1) M, t_last + k M]`` with ``M = DAYS_PER_MONTH`` (30.4375
days) from the end of the history. Each point gives the rate at the end of the month, the
month's volume (difference of the closed-form cumulative), the cumulative forecast volume and the
cumulative including history. Production stops at abandonment (economic limit or horizon), so
volumes after it are zero and the rate is reported as 0. Summaries aggregate each 12 months.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from engines.dca.arps import DeclineParams
from engines.dca.conventions import DAYS_PER_MONTH

Array = NDArray[np.float64]


def _iso_date(start_date: np.datetime64, t_days: float) -> str:
    return str((start_date + np.timedelta64(int(round(t_days * 86400.0)), "s")).astype("datetime64[D]"))


def build_forecast(params: DeclineParams, *, t_last_days: float, history_cum_bbl: float, abandonment_days: float,
                   n_months: int = 60, start_date: np.datetime64 | None = None,
                   rate_low_bpd: Array | None = None, rate_high_bpd: Array | None = None) -> dict[str, Any]:
    """JSON-ready forecast dict: ``{"months": [...], "years": [...], ...}`` (see module docstring).

    ``rate_low_bpd``/``rate_high_bpd`` (length ``n_months``), when given, are the P90/P10 rate band."""
    if n_months < 1:
        raise ValueError("n_months must be >= 1")
    k = np.arange(n_months + 1, dtype=np.float64)
    t = t_last_days + k * DAYS_PER_MONTH
    t_eff = np.minimum(t, max(abandonment_days, t_last_days))
    cum = params.cumulative(t_eff) - params.cumulative(t_last_days)
    vol = np.diff(cum)
    producing = t[1:] <= abandonment_days
    rate = np.where(producing, params.rate(t[1:]), 0.0)
    months = []
    for i in range(n_months):
        point: dict[str, Any] = {
            "month": i + 1,
            "t_days": round(float(t[i + 1]), 4),
            "rate_bpd": float(rate[i]),
            "volume_bbl": float(vol[i]),
            "cum_forecast_bbl": float(cum[i + 1]),
            "cum_total_bbl": float(history_cum_bbl + cum[i + 1]),
        }
        if start_date is not None:
            point["date"] = _iso_date(start_date, float(t[i + 1]))
        if rate_low_bpd is not None and rate_high_bpd is not None:
            point["rate_p90_bpd"] = float(rate_low_bpd[i]) if producing[i] else 0.0
            point["rate_p10_bpd"] = float(rate_high_bpd[i]) if producing[i] else 0.0
        months.append(point)
    years = []
    for y in range(int(np.ceil(n_months / 12))):
        lo, hi = 12 * y, min(12 * (y + 1), n_months)
        volume = float(vol[lo:hi].sum())
        years.append({
            "year": y + 1,
            "months": hi - lo,
            "volume_bbl": volume,
            "avg_rate_bpd": volume / ((hi - lo) * DAYS_PER_MONTH),
            "end_rate_bpd": float(rate[hi - 1]),
            "cum_forecast_bbl": float(cum[hi]),
        })
    out: dict[str, Any] = {
        "model": params.model,
        "start_t_days": float(t_last_days),
        "month_days": DAYS_PER_MONTH,
        "abandonment_t_days": float(abandonment_days),
        "months": months,
        "years": years,
    }
    if start_date is not None:
        out["start_date"] = _iso_date(start_date, t_last_days)
    return out
