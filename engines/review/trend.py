"""Linear trend of a short series (a week of daily values): ordinary least squares slope per day.

slope = sum((t - t_mean)(y - y_mean)) / sum((t - t_mean)^2), with its standard error
sqrt(sum(residual^2) / (n - 2) / sum((t - t_mean)^2)) (Montgomery & Runger, Applied Statistics, sec. 11-4).
The slope is in the series' unit per day (e.g. bbl/d per day for a daily oil rate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trend:
    """``slope_per_day`` (unit of the values per day), ``stderr`` of the slope, ``n`` points used; NaN slope below
    two points (or when they share one time), NaN standard error below three."""

    slope_per_day: float
    intercept: float
    stderr: float
    n: int


def linear_trend(t_days: np.ndarray, values: np.ndarray) -> Trend:
    """Least-squares line through the finite ``(t_days, values)`` pairs (``t_days`` in days from any origin; the
    intercept is the value at ``t_days = 0``)."""
    t = np.asarray(t_days, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"t_days and values must have the same shape, got {t.shape} and {y.shape}")
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    n = int(t.size)
    if n < 2:
        return Trend(math.nan, math.nan, math.nan, n)
    tm, ym = t.mean(), y.mean()
    sxx = float(np.sum((t - tm) ** 2))
    if sxx == 0.0:
        return Trend(math.nan, math.nan, math.nan, n)
    slope = float(np.sum((t - tm) * (y - ym)) / sxx)
    intercept = float(ym - slope * tm)
    stderr = math.nan
    if n > 2:
        resid = y - (intercept + slope * t)
        stderr = math.sqrt(float(np.sum(resid**2)) / (n - 2) / sxx)
    return Trend(slope, intercept, stderr, n)
