"""Backtest of the decline forecast's P90-P10 band on synthetic monthly histories with known truth.

Each synthetic well is a calendar-monthly record of produced volume and on-stream days generated
from an Arps curve with the field effects that break naive fits (:func:`synthetic_monthly_well`):

* **decline**: modified hyperbolic (Robertson 1988) with ``qi`` log-uniform 30-3,000 bbl/d, secant
  effective initial decline 15-85 %/year, ``b`` uniform 0-1.4, terminal decline 8 %/year; one well in
  ten is flat (0-10 %/year exponential: a well that does not decline);
* **noise**: multiplicative on the monthly on-stream rate, ``ln`` noise AR(1) with lag-1 correlation
  0-0.6 and marginal standard deviation 3-15 %;
* **uptime**: most months 93-100 % on stream, one in five partial (30-93 %), one in twenty nearly
  down (0-15 %); volumes are ``rate x on-stream days``;
* **restart** (one well in four): a 2-8-month shut-in inside the fitted period, then a new decline
  from 0.8-2.0 x the rate before it (a workover), the decline restarting at 0.7-1.5 x the initial one;
* **regime change** (one well in four): at a random month (fit or held-out period) the instantaneous
  decline is multiplied by 0.5-2.0 and the curve continues from there.

:func:`backtest_coverage` fits the first part of each history (18-60 months) with
:func:`engines.dca.analysis.analyze_decline` on volumes and on-stream days, and counts the held-out
months (the next 12, excluding months on stream less than 30 %) whose observed on-stream rate lies
in the forecast's ``[rate_p90_bpd, rate_p10_bpd]`` (nominal 80 %). Deterministic for a seed.

With ``kind="daily"`` the wells are daily rate records with hours on stream, as the service fits them
(:func:`synthetic_daily_well`: 120-540 days fitted, daily ``ln`` noise AR(1) with lag-1 correlation
0.3-0.9 and 3-15 % marginal scatter, days 60-100 % on stream with one in ten partial and one in
forty shut in, restarts after 50-120-day shut-ins, regime changes, flat wells); the held-out outcome is
each of the next 12 calendar months' mean on-stream rate over its producing days.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from engines.dca.analysis import DcaSettings, analyze_decline
from engines.dca.arps import cumulative_bbl, decline_per_day, rate_bpd
from engines.dca.conventions import DAYS_PER_YEAR, nominal_from_secant_effective, nominal_from_tangent_effective

Array = NDArray[np.float64]
HOLDOUT_MONTHS = 12
MIN_HOLDOUT_UPTIME = 0.3


@dataclass(frozen=True)
class SyntheticWell:
    """A monthly history: ``month_start`` (datetime64[D]), ``volume_bbl``, ``on_stream_days`` [day],
    ``rate_bpd`` (the observed on-stream rate, NaN when down), ``n_fit`` months to fit, flags."""

    month_start: NDArray[np.datetime64]
    volume_bbl: Array
    on_stream_days: Array
    rate_bpd: Array
    n_fit: int
    restart: bool
    regime_change: bool
    flat: bool


def _curve_avg(edges: Array, qi: float, d: float, b: float, dl: float) -> Array:
    return np.diff(cumulative_bbl(edges, qi, d, b, dl)) / np.diff(edges)


def synthetic_monthly_well(rng: np.random.Generator, holdout_months: int = HOLDOUT_MONTHS) -> SyntheticWell:
    """One synthetic well (module docstring); all draws from ``rng``."""
    n_fit = int(rng.integers(18, 61))
    n = n_fit + holdout_months
    first = np.datetime64("2012-01") + int(rng.integers(0, 96))
    months = first + np.arange(n + 1)
    edges = (months.astype("datetime64[D]") - months[0].astype("datetime64[D]")).astype(np.float64)
    flat = rng.random() < 0.1
    qi = float(math.exp(rng.uniform(math.log(30.0), math.log(3000.0))))
    dl = float(nominal_from_tangent_effective(0.08)) / DAYS_PER_YEAR
    if flat:
        b, d = 0.0, max(float(nominal_from_tangent_effective(rng.uniform(0.0, 0.10))) / DAYS_PER_YEAR, 1e-7)
        dl = 0.0
    else:
        b = float(rng.uniform(0.0, 1.4))
        d = float(nominal_from_secant_effective(rng.uniform(0.15, 0.85), b)) / DAYS_PER_YEAR
        d = max(d, 1.05 * dl)
    truth = np.empty(n)
    # regime change: the instantaneous decline jumps by a factor at month k_c
    k_c = int(rng.integers(6, n)) if rng.random() < 0.25 else n
    restart = (not flat) and rng.random() < 0.25 and n_fit >= 30
    k_r0 = k_r1 = n
    if restart:
        k_r0 = int(rng.integers(6, n_fit - 14))
        k_r1 = k_r0 + int(rng.integers(2, 9))
    seg_start, q0, d0 = 0, qi, d
    for k in range(n):
        if k == k_r1:  # restart after the shut-in: a new decline
            q_before = _curve_avg(edges[k_r0 - 1:k_r0 + 1] - edges[seg_start], q0, d0, b, dl)[0]
            seg_start, q0, d0 = k, q_before * rng.uniform(0.8, 2.0), max(d * rng.uniform(0.7, 1.5), 1.05 * dl)
        if k == k_c and k > seg_start:
            t_rel = edges[k] - edges[seg_start]
            q_c = float(np.diff(cumulative_bbl(np.array([t_rel - 1e-6, t_rel]), q0, d0, b, dl))[0] / 1e-6)
            d_inst = float(decline_per_day(t_rel, q0, d0, b, dl))
            seg_start, q0 = k, q_c
            d0 = max(d_inst * rng.uniform(0.5, 2.0), 1.05 * dl if dl > 0 else 1e-7)
        truth[k] = _curve_avg(edges[k:k + 2] - edges[seg_start], q0, d0, b, dl)[0]
    rho, sd = rng.uniform(0.0, 0.6), rng.uniform(0.03, 0.15)
    eps = np.empty(n)
    eps[0] = rng.normal(0.0, sd)
    innov = rng.normal(0.0, sd * math.sqrt(1.0 - rho * rho), n)
    for k in range(1, n):
        eps[k] = rho * eps[k - 1] + innov[k]
    u = rng.random(n)
    uptime = np.where(u < 0.75, rng.uniform(0.93, 1.0, n), np.where(u < 0.95, rng.uniform(0.3, 0.93, n),
                                                                     rng.uniform(0.0, 0.15, n)))
    uptime[k_r0:k_r1] = 0.0
    days = np.diff(edges)
    on_days = uptime * days
    rate = truth * np.exp(eps)
    volume = rate * on_days
    observed = np.where(uptime > 0.0, rate, np.nan)
    return SyntheticWell(months[:-1].astype("datetime64[D]"), volume, on_days, observed, n_fit, restart,
                         k_c < n, flat)


def _piecewise_truth(rng: np.random.Generator, t: Array, flat: bool, restart_window: tuple[float, float] | None,
                     change_at: float | None) -> Array:
    """Point rates at days ``t`` of a modified-hyperbolic decline with an optional restart (new decline after
    ``restart_window``) and an optional regime change (decline x 0.5-2.0 from ``change_at``)."""
    qi = float(math.exp(rng.uniform(math.log(30.0), math.log(3000.0))))
    dl = float(nominal_from_tangent_effective(0.08)) / DAYS_PER_YEAR
    if flat:
        b, d, dl = 0.0, max(float(nominal_from_tangent_effective(rng.uniform(0.0, 0.10))) / DAYS_PER_YEAR, 1e-7), 0.0
    else:
        b = float(rng.uniform(0.0, 1.4))
        d = max(float(nominal_from_secant_effective(rng.uniform(0.15, 0.85), b)) / DAYS_PER_YEAR, 1.05 * dl)
    events = sorted(([(restart_window[1], "restart")] if restart_window else [])
                    + ([(change_at, "change")] if change_at is not None else []))
    q = np.empty(t.size)
    t0, q0, d0 = 0.0, qi, d
    for when, what in events + [(math.inf, "end")]:
        seg = (t >= t0) & (t < when)
        q[seg] = rate_bpd(t[seg] - t0, q0, d0, b, dl)
        if what == "end":
            break
        if what == "restart":
            q_before = float(rate_bpd(restart_window[0] - t0, q0, d0, b, dl))  # type: ignore[index]
            q0, d0 = q_before * rng.uniform(0.8, 2.0), max(d * rng.uniform(0.7, 1.5), 1.05 * dl)
        else:
            q0 = float(rate_bpd(when - t0, q0, d0, b, dl))
            d0 = max(float(decline_per_day(when - t0, q0, d0, b, dl)) * rng.uniform(0.5, 2.0),
                     1.05 * dl if dl > 0 else 1e-7)
        t0 = when
    return q


@dataclass(frozen=True)
class SyntheticDailyWell:
    """A daily record: ``dates`` (datetime64[D]), ``rate_bpd`` (calendar-day average, 0 when shut in),
    ``hours_on`` [h], ``true_on_stream_bpd`` (the observed on-stream rate, NaN when shut in), ``n_fit`` days."""

    dates: NDArray[np.datetime64]
    rate_bpd: Array
    hours_on: Array
    on_stream_bpd: Array
    n_fit: int
    restart: bool
    regime_change: bool
    flat: bool


def synthetic_daily_well(rng: np.random.Generator, holdout_days: int = 380) -> SyntheticDailyWell:
    """One synthetic daily well (module docstring); all draws from ``rng``."""
    n_fit = int(rng.integers(120, 541))
    n = n_fit + holdout_days
    t = np.arange(n, dtype=np.float64)
    flat = rng.random() < 0.1
    restart = (not flat) and rng.random() < 0.25 and n_fit >= 300
    window = None
    if restart:
        start = float(rng.integers(60, n_fit - 150))
        window = (start, start + float(rng.integers(50, 121)))
    change = float(rng.integers(60, n)) if rng.random() < 0.25 else None
    truth = _piecewise_truth(rng, t, flat, window, change)
    rho, sd = rng.uniform(0.3, 0.9), rng.uniform(0.03, 0.15)
    innov = rng.normal(0.0, sd * math.sqrt(1.0 - rho * rho), n)
    eps = np.empty(n)
    eps[0] = rng.normal(0.0, sd)
    for k in range(1, n):
        eps[k] = rho * eps[k - 1] + innov[k]
    u = rng.random(n)
    uptime = np.where(u < 0.875, rng.uniform(0.98, 1.0, n), np.where(u < 0.975, rng.uniform(0.25, 0.98, n), 0.0))
    if window is not None:
        uptime[(t >= window[0]) & (t < window[1])] = 0.0
    on_rate = truth * np.exp(eps)
    first = np.datetime64("2015-01-01") + int(rng.integers(0, 2000))
    return SyntheticDailyWell(first + t.astype("timedelta64[D]"), on_rate * uptime, 24.0 * uptime,
                              np.where(uptime > 0.0, on_rate, np.nan), n_fit, restart, change is not None
                              and change < n, flat)


@dataclass(frozen=True)
class Backtest:
    """Coverage of held-out months by the forecast's P90-P10 band (nominal 0.80), and per-class counts."""

    coverage: float
    n_months: int
    n_wells: int
    n_no_decline: int
    coverage_by_class: dict[str, float]
    median_abs_log_error_p50: float


def backtest_coverage(n_wells: int = 200, seed: int = 2026, settings: DcaSettings | None = None,
                      kind: str = "monthly") -> Backtest:
    """Fit the first part of ``n_wells`` synthetic wells (``kind`` monthly or daily), score the next 12
    months (module docstring)."""
    if kind not in ("monthly", "daily"):
        raise ValueError("kind must be 'monthly' or 'daily'")
    s = settings or DcaSettings(n_trials=400, forecast_months=HOLDOUT_MONTHS, economic_limit_bpd=0.0)
    s = replace(s, forecast_months=max(s.forecast_months, HOLDOUT_MONTHS))
    rng = np.random.default_rng(seed)
    hits = total = n_nd = 0
    by_class: dict[str, list[int]] = {}
    errors = []
    for i in range(n_wells):
        si = replace(s, seed=s.seed + i)
        if kind == "monthly":
            w = synthetic_monthly_well(rng)
            f = w.n_fit
            res = analyze_decline(w.month_start[:f], w.volume_bbl[:f], kind="volume", on_stream=w.on_stream_days[:f],
                                  settings=si)
            months = res.forecast["months"][:HOLDOUT_MONTHS]
            obs = w.rate_bpd[f:f + HOLDOUT_MONTHS]
            up = w.on_stream_days[f:f + HOLDOUT_MONTHS] / np.array([m["days"] for m in months])
        else:
            dw = synthetic_daily_well(rng)
            f = dw.n_fit
            res = analyze_decline(dw.dates[:f], dw.rate_bpd[:f], on_stream=dw.hours_on[:f], on_stream_unit="hours",
                                  settings=si)
            months = res.forecast["months"][:HOLDOUT_MONTHS]
            day_index = (dw.dates - dw.dates[0]).astype(np.float64)
            t_seg0 = res.segment_start_days
            obs_l, up_l = [], []
            prev = res.t_last_days + t_seg0
            for m in months:
                end = m["t_days"] + t_seg0
                sel = (day_index > prev - 1e-9) & (day_index < end - 1e-9)
                prev = end
                on = dw.hours_on[sel] / 24.0
                prod = on >= MIN_HOLDOUT_UPTIME
                obs_l.append(float(np.mean(dw.on_stream_bpd[sel][prod])) if prod.any() else math.nan)
                up_l.append(float(np.mean(on)) if sel.any() else 0.0)
            obs, up = np.array(obs_l), np.array(up_l)
            w = dw  # type: ignore[assignment]
        n_nd += res.no_decline
        cls = "no_decline_truth" if w.flat else "restart" if w.restart else "regime_change" if w.regime_change else "plain"
        for m, q, u in zip(months, obs, up):
            if not (u >= MIN_HOLDOUT_UPTIME and np.isfinite(q)):
                continue
            inside = int(m["rate_p90_bpd"] <= q <= m["rate_p10_bpd"])
            hits += inside
            total += 1
            by_class.setdefault(cls, []).append(inside)
            errors.append(abs(math.log(m["rate_p50_bpd"] / q)) if m["rate_p50_bpd"] > 0 else math.inf)
    return Backtest(hits / total, total, n_wells, n_nd, {k: float(np.mean(v)) for k, v in by_class.items()},
                    float(np.median(errors)))
