"""Decline-curve analysis entry point: screen, fit all candidates, select, Monte Carlo EUR, forecast.

``analyze_decline(time, rate_bpd)`` takes plain arrays (time in days or dates; rate in bbl/d, or
volumes in bbl per period with ``kind="volume"``) and returns a frozen :class:`DcaResult` carrying
the chosen model, its parameters, the deterministic and probabilistic EUR, the monthly forecast, the
fit quality and every candidate's AIC/AICc/BIC.

Conventions of the outputs:

* ``qi_bpd``: fitted rate at the first sample of the fitted segment (``t = 0``), bbl/d (on-stream
  rate when on-stream time is given).
* ``di_pct_month``: initial **nominal** decline ``D`` at ``t = 0`` in percent per month
  (``100 * D_per_day * 30.4375``); the secant effective annual decline (petbox-dca's ``Di``) is
  ``di_secant_eff_pct_year``.
* ``eur_stb``: deterministic EUR of the chosen model = observed cumulative of the history
  + forecast volume from the end of the history to the economic limit or the horizon (whichever
  first); ``eur_p10_stb/eur_p50_stb/eur_p90_stb``: Monte Carlo percentiles, P10 high, P90 low (SPE-PRMS).
* the terminal decline ``D_lim`` of the modified hyperbolic is an input, as a tangent effective
  annual decline (petbox-dca's ``Dterm``).
* selection: lowest AICc (default; AIC or BIC selectable) over candidates fitted to the same
  inliers; exact ties (hyperbolic vs modified hyperbolic whose switch lies beyond the history) go
  to the modified hyperbolic. ``b_above_one`` flags a chosen b > 1 (transient/unconventional).

Field effects (issue 20):

* **segments**: a shut-in of ``segment_shut_in_days`` (45) or more starts a new decline; the last segment
  is fitted (``fit_all_segments`` fits everything); the observed cumulative still counts the whole history.
* **no decline identified**: when the log-rate trend of the fitted samples [1] does not decline by more
  than ``no_decline_z`` (1.645) standard errors, inflated for lag-1 autocorrelation [3], or the last
  segment is too short (a restart), the result says so (``no_decline``, ``no_decline_reason``) and the
  forecast starts from the recent level with a decline drawn from an assumed range, bounded by the
  economic limit and ``max_life_no_decline_years``; the EUR is then the trials' median, inside its own
  P90-P10 by construction.
* **band**: Monte Carlo trials over the candidates' parameter covariances (model-averaged by Akaike
  weights [2]) inflated by ``(1 + rho) / (1 - rho)`` for lag-1 autocorrelated residuals [3], plus the
  month-scale scatter of ``ln q`` about the curve (the variance of a mean of ``m`` AR(1) residuals [3]);
  the P90/P50/P10 (SPE-PRMS convention [4]) of each forecast month's average on-stream rate; coverage
  backtested in :mod:`engines.dca.backtest`.

References
----------
[1] Arps, J.J. (1945) "Analysis of Decline Curves", Trans. AIME 160, 228-247.
[2] Burnham, K.P. & Anderson, D.R. (2002) "Model Selection and Multimodel Inference", 2nd ed., sections 2.2, 4.3.
[3] Box, G.E.P., Jenkins, G.M. & Reinsel, G.C. (2008) "Time Series Analysis", 4th ed., eq. 2.1.13.
[4] SPE/WPC/AAPG/SPEE/SEG/SPWLA/EAGE (2018) "Petroleum Resources Management System", section 2.2.2.
[5] Robertson, S. (1988) "Generalized Hyperbolic Equation", SPE-18731-MS (modified hyperbolic).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from engines.dca.arps import DeclineParams, switch_time_days
from engines.dca.conventions import (DAYS_PER_MONTH, DAYS_PER_YEAR, nominal_from_tangent_effective,
                                     secant_effective_from_nominal)
from engines.dca.fitting import LN_D_BOUNDS, MODEL_NAMES, CandidateFit, fit_candidate, predict_rate, robust_inliers
from engines.dca.forecast import build_forecast, month_edges_days
from engines.dca.history import (DeclineHistory, Screening, history_from_rates, history_from_volumes,
                                 screen_history, segment_history)
from engines.dca.montecarlo import (EurDistribution, ar1_mean_variance_factor, end_of_life_days, eur_distribution,
                                    mixture_curves, monthly_rate_paths_bpd, rate_percentiles_bpd, remaining_volume_bbl)
from engines.dca.selection import CRITERIA, akaike_weights


@dataclass(frozen=True)
class DcaSettings:
    """Inputs of the analysis (units in names). Defaults are common practice, not well-specific.

    economic_limit_bpd: abandonment rate (WellConfig.economic_limit_bpd); 0 = none.
    horizon_years: maximum forecast life after the end of the history.
    terminal_decline_eff_per_year: D_lim of the modified hyperbolic, tangent effective per year.
    b_max: upper bound of the hyperbolic exponent (2 allows transient/unconventional behaviour; b > 1 is flagged).
    candidates: models fitted and ranked; criterion: ``aicc`` (default), ``aic`` or ``bic``.
    n_trials, seed: Monte Carlo size and seed. restart_skip_days: samples dropped after a shut-in.
    outlier_z: modified z-score threshold. forecast_months: months in the forecast.
    uncertainty: ``model_average`` (default) draws Monte Carlo trials from every candidate in
    proportion to its Akaike weight under ``criterion`` (parameter + model-selection uncertainty,
    Burnham & Anderson 2002, section 4.3); ``chosen`` uses the chosen model's covariance only.
    min_uptime_fraction [-]: samples on stream less than this fraction of their period count as shut-ins.
    segment_shut_in_days [day]: a shut-in at least this long starts a new decline segment; the last
    segment is fitted unless fit_all_segments. min_segment_samples: fewer usable samples than this in
    the last segment give a "no decline identified" result (too soon after the restart).
    no_decline_z [-]: one-sided normal quantile; a decline is identified only when the log-rate trend
    declines by more than no_decline_z standard errors (1.645: 95 %).
    no_decline_decline_eff_per_year [-]: (low, high) tangent effective annual declines assumed (log-uniform)
    when no decline is identified; max_life_no_decline_years [year]: the forecast life then.
    forecast_uptime_fraction [-]: expected fraction on stream in the forecast (None: the fitted segment's mean).
    calibrated_band: inflate the parameter covariance for lag-1 autocorrelated residuals and add the
    month-scale scatter about the curve to the rate band (a band for monthly outcomes); False gives the
    parameter-only band (Gauss-Newton covariance as fitted), kept for comparison in the backtest."""

    economic_limit_bpd: float = 5.0
    horizon_years: float = 30.0
    terminal_decline_eff_per_year: float = 0.08
    b_max: float = 2.0
    candidates: tuple[str, ...] = MODEL_NAMES
    criterion: str = "aicc"
    n_trials: int = 1000
    seed: int = 0
    restart_skip_days: float = 1.0
    outlier_z: float = 3.5
    forecast_months: int = 60
    uncertainty: str = "model_average"
    min_uptime_fraction: float = 0.1
    segment_shut_in_days: float = 45.0
    fit_all_segments: bool = False
    min_segment_samples: int = 6
    no_decline_z: float = 1.645
    no_decline_decline_eff_per_year: tuple[float, float] = (0.05, 0.40)
    max_life_no_decline_years: float = 10.0
    forecast_uptime_fraction: float | None = None
    calibrated_band: bool = True

    def __post_init__(self) -> None:
        if not (self.economic_limit_bpd >= 0.0 and math.isfinite(self.economic_limit_bpd)):
            raise ValueError("economic_limit_bpd must be finite and >= 0")
        if not self.horizon_years > 0.0:
            raise ValueError("horizon_years must be positive")
        if not 0.0 < self.terminal_decline_eff_per_year < 1.0:
            raise ValueError("terminal_decline_eff_per_year must be in (0, 1)")
        if not 0.0 < self.b_max <= 5.0:
            raise ValueError("b_max must be in (0, 5]")
        unknown = [c for c in self.candidates if c not in MODEL_NAMES]
        if unknown or not self.candidates:
            raise ValueError(f"candidates must be a non-empty subset of {MODEL_NAMES}, got {self.candidates}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}")
        if self.uncertainty not in ("model_average", "chosen"):
            raise ValueError("uncertainty must be 'model_average' or 'chosen'")
        if self.n_trials < 1 or self.forecast_months < 1:
            raise ValueError("n_trials and forecast_months must be >= 1")
        if not 0.0 <= self.min_uptime_fraction < 1.0:
            raise ValueError("min_uptime_fraction must be in [0, 1)")
        if not self.segment_shut_in_days > 0.0:
            raise ValueError("segment_shut_in_days must be positive")
        if self.min_segment_samples < 3:
            raise ValueError("min_segment_samples must be >= 3")
        if not self.no_decline_z >= 0.0:
            raise ValueError("no_decline_z must be >= 0")
        lo, hi = self.no_decline_decline_eff_per_year
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError("no_decline_decline_eff_per_year must be (low, high) with 0 < low <= high < 1")
        if not self.max_life_no_decline_years > 0.0:
            raise ValueError("max_life_no_decline_years must be positive")
        if self.forecast_uptime_fraction is not None and not 0.0 < self.forecast_uptime_fraction <= 1.0:
            raise ValueError("forecast_uptime_fraction must be in (0, 1]")

    @property
    def d_lim_per_day(self) -> float:
        """Terminal nominal decline (1/day)."""
        return float(nominal_from_tangent_effective(self.terminal_decline_eff_per_year)) / DAYS_PER_YEAR

    @property
    def horizon_days(self) -> float:
        return self.horizon_years * DAYS_PER_YEAR


@dataclass(frozen=True)
class FitQuality:
    """Sample accounting and goodness of fit of the chosen model (residuals in ln q)."""

    n_samples: int
    n_used: int
    n_missing: int
    n_shut_in: int
    n_restart: int
    n_outliers: int
    rmse_log: float
    r2_log: float
    mape_pct: float


@dataclass(frozen=True, eq=False)
class DcaResult:
    """Decline analysis of one well: chosen model, parameters, EUR, forecast, plus diagnostics.

    model: chosen Arps model. qi_bpd, di_pct_month, b_factor: its initial rate (bbl/d), initial nominal
    decline (%/month) and b exponent. eur_stb: deterministic EUR (STB); eur_p10_stb, eur_p50_stb,
    eur_p90_stb: Monte Carlo EUR percentiles (P10 high, P90 low). forecast: monthly points and
    12-month summaries (JSON-ready dict, see :mod:`engines.dca.forecast`)."""

    model: str
    qi_bpd: float
    di_pct_month: float
    b_factor: float
    eur_stb: float
    eur_p10_stb: float
    eur_p50_stb: float
    eur_p90_stb: float
    forecast: dict[str, Any]
    params: DeclineParams
    di_secant_eff_pct_year: float
    b_above_one: bool
    criterion: str
    candidates: tuple[CandidateFit, ...]
    quality: FitQuality
    history_cum_bbl: float
    t_last_days: float
    abandonment_days: float
    eur_distribution: EurDistribution = field(repr=False)
    no_decline: bool = False
    no_decline_reason: str = ""
    segment_start_days: float = 0.0
    n_segments: int = 1
    trend_pct_year: float = float("nan")
    sigma_process_log: float = 0.0
    cov_scale: float = 1.0
    rate_paths_bpd: Any = field(default=None, repr=False)

    def candidate_scores(self) -> list[dict[str, Any]]:
        """Every candidate's parameters and AIC/AICc/BIC (JSON-ready)."""
        return [{
            "model": c.model, "qi_bpd": c.params.qi_bpd,
            "di_pct_month": 100.0 * c.params.d_per_day * DAYS_PER_MONTH, "b_factor": c.params.b,
            "n_points": c.n_points, "n_params": c.n_params, "rmse_log": c.sigma_log, "r2_log": c.r2_log,
            "aic": c.aic, "aicc": c.aicc, "bic": c.bic, "chosen": c.model == self.model,
        } for c in self.candidates]


def _select(fits: Sequence[CandidateFit], criterion: str) -> CandidateFit:
    """Lowest score wins; ties (within 1e-9) go to the earlier of ``fits`` (sorted by the caller)."""
    best = fits[0]
    for fit in fits[1:]:
        if fit.score(criterion) < best.score(criterion) - 1e-9:
            best = fit
    return best


def _switch_beyond(fit: CandidateFit, d_lim_per_day: float, history: DeclineHistory, mask: np.ndarray) -> bool:
    """Whether ``fit``'s instantaneous decline stays above ``d_lim`` over the fitted samples (b > 0, D > D_lim)."""
    p = fit.params
    if not (p.b > 1e-6 and p.d_per_day > d_lim_per_day > 0.0):
        return False
    t_sw = float(switch_time_days(p.d_per_day, p.b, d_lim_per_day))
    return t_sw > float(np.max(history.t_end_days[mask]))


def _lag1(r: np.ndarray) -> float:
    """Lag-1 autocorrelation of time-ordered residuals, clipped to [0, 0.9] (0 for fewer than 4)."""
    if r.size < 4:
        return 0.0
    rc = r - r.mean()
    den = float(rc @ rc)
    return float(np.clip(float(rc[1:] @ rc[:-1]) / den, 0.0, 0.9)) if den > 0.0 else 0.0


def log_rate_trend(t_days: np.ndarray, ln_q: np.ndarray) -> tuple[float, float, float]:
    """``(slope, se, rho)``: ordinary least-squares slope of ``ln q`` on ``t`` [1/day], its standard error
    inflated by ``sqrt((1 + rho) / (1 - rho))`` for lag-1 autocorrelated residuals (the AR(1) variance
    inflation, Box, Jenkins & Reinsel 2008, eq. 2.1.13, large-sample form), and ``rho`` [-]."""
    n = t_days.size
    tc = t_days - t_days.mean()
    sxx = float(tc @ tc)
    if n < 3 or sxx <= 0.0:
        return 0.0, math.inf, 0.0
    slope = float(tc @ (ln_q - ln_q.mean())) / sxx
    r = ln_q - ln_q.mean() - slope * tc
    rho = _lag1(r)
    se = math.sqrt(float(r @ r) / (n - 2) / sxx * (1.0 + rho) / (1.0 - rho))
    return slope, se, rho


def _samples_per_month(history: DeclineHistory, mask: np.ndarray) -> int:
    """Samples in one forecast month: ``DAYS_PER_MONTH`` over the typical sample period (at least 1)."""
    if history.kind == "volume":
        period = float(np.median(history.t_end_days[mask] - history.t_start_days[mask]))
    else:
        t = history.t_start_days[mask]
        period = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    return max(1, int(round(DAYS_PER_MONTH / max(period, 1e-9))))


def _uptime(history: DeclineHistory, mask: np.ndarray, settings: DcaSettings) -> float:
    if settings.forecast_uptime_fraction is not None:
        return float(settings.forecast_uptime_fraction)
    if history.uptime_fraction is None or not mask.any():
        return 1.0
    return float(np.clip(np.mean(history.uptime_fraction[mask]), 1e-3, 1.0))


def _quality(history: DeclineHistory, screening: Screening, used: np.ndarray, usable: np.ndarray, rmse: float,
             r2: float, mape: float) -> FitQuality:
    return FitQuality(n_samples=history.n, n_used=int(used.sum()), n_missing=screening.n_missing,
                      n_shut_in=screening.n_shut_in, n_restart=screening.n_restart,
                      n_outliers=int(usable.sum() - used.sum()), rmse_log=rmse, r2_log=r2, mape_pct=mape)


def _no_decline(history: DeclineHistory, mask: np.ndarray, reason: str, settings: DcaSettings, *,
                screening: Screening, usable: np.ndarray, fits: Sequence[CandidateFit], trend_pct_year: float,
                segment_start_days: float) -> DcaResult:
    """'No decline identified': the forecast starts from the recent level (the mean ``ln q`` of the last
    three months of ``mask``ed samples) and declines exponentially at a rate drawn log-uniform from the
    settings' range (effective annual), stopping at the economic limit or ``max_life_no_decline_years``;
    the level's standard error and the month-scale scatter enter the trials. The EUR is the trials'
    median, so it lies inside its own P90-P10 by construction."""
    t_mid = 0.5 * (history.t_start_days[mask] + history.t_end_days[mask])
    ln_q = np.log(history.rate_bpd[mask])
    recent = t_mid >= t_mid[-1] - 3.0 * DAYS_PER_MONTH
    if recent.sum() < min(3, t_mid.size):
        recent = np.zeros_like(recent)
        recent[-min(3, t_mid.size):] = True
    level = float(ln_q[recent].mean())
    k = int(recent.sum())
    r = ln_q[recent] - level
    sigma = float(np.sqrt(r @ r / (k - 1))) if k >= 3 else 0.2  # 20 % scatter assumed from 1-2 samples
    rho = _lag1(r)
    se_level = sigma * math.sqrt(ar1_mean_variance_factor(rho, k))
    m = _samples_per_month(history, mask)
    sigma_p = sigma * math.sqrt(ar1_mean_variance_factor(rho, m)) if settings.calibrated_band else 0.0
    lo_eff, hi_eff = settings.no_decline_decline_eff_per_year
    d_lo = float(nominal_from_tangent_effective(lo_eff)) / DAYS_PER_YEAR
    d_hi = float(nominal_from_tangent_effective(hi_eff)) / DAYS_PER_YEAR
    t_last = history.t_last_days
    rng = np.random.default_rng(settings.seed)
    d_tr = np.exp(rng.uniform(math.log(d_lo), math.log(d_hi), settings.n_trials))
    q_last = np.exp(level + se_level * rng.standard_normal(settings.n_trials))
    zeros = np.zeros(settings.n_trials)
    curves = (q_last * np.exp(d_tr * t_last), d_tr, zeros, zeros)
    horizon = min(settings.horizon_days, settings.max_life_no_decline_years * DAYS_PER_YEAR)
    uptime = _uptime(history, mask, settings)
    dist = eur_distribution(curves, history_cum_bbl=history.cumulative_bbl, t_last_days=t_last,
                            economic_limit_bpd=settings.economic_limit_bpd, horizon_days=horizon, seed=settings.seed,
                            uptime_fraction=uptime)
    d_det = math.sqrt(d_lo * d_hi)
    p = DeclineParams(math.exp(level + d_det * t_last), d_det, 0.0, 0.0)
    t_abandon = t_last + horizon
    if settings.economic_limit_bpd > 0.0:
        t_abandon = max(min(t_abandon, float(p.time_to_rate(settings.economic_limit_bpd))), t_last)
    edges, _ = month_edges_days(t_last, settings.forecast_months, history.start_date)
    t_end = end_of_life_days(*curves, t_last_days=t_last, economic_limit_bpd=settings.economic_limit_bpd,
                             horizon_days=horizon)
    paths = monthly_rate_paths_bpd(curves, edges, t_end_days=t_end, sigma_process_log=sigma_p,
                                   seed=settings.seed + 104729)
    p90, p50, p10 = rate_percentiles_bpd(paths)
    forecast = build_forecast(p, t_last_days=t_last, history_cum_bbl=history.cumulative_bbl,
                              abandonment_days=t_abandon, n_months=settings.forecast_months,
                              start_date=history.start_date, rate_low_bpd=p90, rate_high_bpd=p10, rate_p50_bpd=p50,
                              uptime_fraction=uptime)
    forecast["model"] = "no_decline"
    forecast["no_decline_reason"] = reason
    quality = _quality(history, screening, mask, usable, sigma, float("nan"), float("nan"))
    return DcaResult(
        model="no_decline", qi_bpd=p.qi_bpd, di_pct_month=100.0 * d_det * DAYS_PER_MONTH, b_factor=0.0,
        eur_stb=dist.p50_bbl, eur_p10_stb=dist.p10_bbl, eur_p50_stb=dist.p50_bbl, eur_p90_stb=dist.p90_bbl,
        forecast=forecast, params=p,
        di_secant_eff_pct_year=100.0 * float(secant_effective_from_nominal(d_det * DAYS_PER_YEAR, 0.0)),
        b_above_one=False, criterion=settings.criterion, candidates=tuple(fits), quality=quality,
        history_cum_bbl=history.cumulative_bbl, t_last_days=t_last, abandonment_days=t_abandon,
        eur_distribution=dist, no_decline=True, no_decline_reason=reason, segment_start_days=segment_start_days,
        n_segments=screening.n_segments, trend_pct_year=trend_pct_year, sigma_process_log=sigma_p,
        cov_scale=(1.0 + rho) / (1.0 - rho), rate_paths_bpd=paths)


def analyze_history(history: DeclineHistory, settings: DcaSettings = DcaSettings()) -> DcaResult:
    """Full analysis of a prepared :class:`DeclineHistory` (see module docstring)."""
    screening = screen_history(history, settings.restart_skip_days, min_uptime_fraction=settings.min_uptime_fraction,
                               segment_shut_in_days=settings.segment_shut_in_days, fit_all=settings.fit_all_segments)
    first = screening.segment_start
    segment_start_days = float(history.t_start_days[first])
    whole = history
    history = segment_history(history, first)
    usable = screening.usable[first:]
    if usable.sum() < 3 and screening.n_segments == 1:
        raise ValueError(f"only {int(usable.sum())} producing samples after screening; need at least 3")
    common = {"screening": screening, "segment_start_days": segment_start_days}
    if screening.n_segments > 1 and usable.sum() < settings.min_segment_samples:
        producing = np.isfinite(history.rate_bpd) & (history.rate_bpd > 0.0)
        mask = usable if usable.any() else producing
        start = "" if whole.start_date is None else " on " + str(history.start_date.astype("datetime64[D]"))
        reason = (f"restart: {int(usable.sum())} usable samples since the restart{start} (day "
                  f"{segment_start_days:.0f}), fewer than {settings.min_segment_samples}; the decline before the "
                  f"shut-in is not this one")
        return _no_decline(history, mask, reason, settings, usable=usable, fits=(), trend_pct_year=float("nan"),
                           **common)
    inliers, robust_theta = robust_inliers(history, usable, b_max=settings.b_max, outlier_z=settings.outlier_z)
    d_lim = settings.d_lim_per_day
    fits: list[CandidateFit] = []
    seeds: dict[str, np.ndarray] = {"hyperbolic": robust_theta}
    for name in MODEL_NAMES:
        if name not in settings.candidates or inliers.sum() < (4 if name in ("hyperbolic", "modified_hyperbolic") else 3):
            continue
        hyp = next((f for f in fits if f.model == "hyperbolic"), None)
        if name == "modified_hyperbolic" and hyp is not None and _switch_beyond(hyp, d_lim, history, inliers):
            # the hyperbolic's switch to D_lim lies beyond the last sample: both curves, residuals and
            # Jacobians coincide there, so the hyperbolic optimum (from the same starts) is the modified
            # hyperbolic's; no second solve
            p_h = hyp.params
            fit = dataclasses.replace(hyp, model=name, params=DeclineParams(p_h.qi_bpd, p_h.d_per_day, p_h.b, d_lim))
        else:
            fit = fit_candidate(history, name, inliers, d_lim_per_day=d_lim, b_max=settings.b_max, seeds=seeds)
        seeds[name] = fit.theta
        fits.append(fit)
    if not fits:
        raise ValueError("no candidate model could be fitted (too few samples)")
    # tie order: fewer parameters first; a hyperbolic and a modified hyperbolic that fit the history
    # identically (switch beyond the history) tie, and the one with the terminal decline is preferred
    # (the conservative forecast recommended for long hyperbolic tails, SPEE Monograph 4, 2016).
    order = {m: i for i, m in enumerate(("exponential", "harmonic", "modified_hyperbolic", "hyperbolic"))}
    chosen = _select(sorted(fits, key=lambda f: order[f.model]), settings.criterion)
    p = chosen.params
    t_last = history.t_last_days
    ts, te = history.t_start_days[inliers], history.t_end_days[inliers]
    q_obs = history.rate_bpd[inliers]
    slope, se, _ = log_rate_trend(0.5 * (ts + te), np.log(q_obs))
    trend_pct_year = 100.0 * math.expm1(slope * DAYS_PER_YEAR)
    reason = ""
    if not -slope > settings.no_decline_z * se:
        kind = "rising" if slope > settings.no_decline_z * se else "flat"
        reason = (f"{kind}: log-rate trend {trend_pct_year:+.1f} %/year ({slope * DAYS_PER_YEAR:+.3f} +/- "
                  f"{se * DAYS_PER_YEAR:.3f} /year, autocorrelation-corrected) is not a decline at "
                  f"{settings.no_decline_z:g} standard errors")
    elif p.d_per_day <= 1.001 * math.exp(LN_D_BOUNDS[0]):
        reason = "flat: the fitted initial decline sits at its lower bound"
    if reason:
        return _no_decline(history, inliers, reason, settings, usable=usable, fits=fits,
                           trend_pct_year=trend_pct_year, **common)
    uptime = _uptime(history, inliers, settings)
    remaining = remaining_volume_bbl(np.array([p.qi_bpd]), np.array([p.d_per_day]), np.array([p.b]),
                                     np.array([p.d_lim_per_day]), t_last_days=t_last,
                                     economic_limit_bpd=settings.economic_limit_bpd,
                                     horizon_days=settings.horizon_days, uptime_fraction=uptime)[0]
    t_abandon = t_last + settings.horizon_days
    if settings.economic_limit_bpd > 0.0:
        t_abandon = max(min(t_abandon, float(p.time_to_rate(settings.economic_limit_bpd))), t_last)
    q_fit = predict_rate(chosen.model, chosen.theta, ts, te, d_lim)
    resid = np.log(q_obs) - np.log(q_fit)
    rho = _lag1(resid)
    cov_scale = (1.0 + rho) / (1.0 - rho) if settings.calibrated_band else 1.0
    m = _samples_per_month(history, inliers)
    sigma_p = chosen.sigma_log * math.sqrt(ar1_mean_variance_factor(rho, m)) if settings.calibrated_band else 0.0
    if settings.uncertainty == "model_average":
        mc_fits, mc_weights = fits, akaike_weights([f.score(settings.criterion) for f in fits])
    else:
        mc_fits, mc_weights = [chosen], [1.0]
    curves = mixture_curves(mc_fits, mc_weights, n_trials=settings.n_trials, seed=settings.seed,
                            d_lim_per_day=d_lim, b_max=settings.b_max, cov_scale=cov_scale)
    dist = eur_distribution(curves, history_cum_bbl=history.cumulative_bbl, t_last_days=t_last,
                            economic_limit_bpd=settings.economic_limit_bpd, horizon_days=settings.horizon_days,
                            seed=settings.seed, uptime_fraction=uptime)
    edges, _ = month_edges_days(t_last, settings.forecast_months, history.start_date)
    t_end = end_of_life_days(*curves, t_last_days=t_last, economic_limit_bpd=settings.economic_limit_bpd,
                             horizon_days=settings.horizon_days)
    paths = monthly_rate_paths_bpd(curves, edges, t_end_days=t_end, sigma_process_log=sigma_p,
                                   seed=settings.seed + 104729)
    p90, p50, p10 = rate_percentiles_bpd(paths)
    forecast = build_forecast(p, t_last_days=t_last, history_cum_bbl=history.cumulative_bbl,
                              abandonment_days=t_abandon, n_months=settings.forecast_months,
                              start_date=history.start_date, rate_low_bpd=p90, rate_high_bpd=p10, rate_p50_bpd=p50,
                              uptime_fraction=uptime)
    quality = _quality(history, screening, inliers, usable, chosen.sigma_log, chosen.r2_log,
                       float(100.0 * np.mean(np.abs(q_fit - q_obs) / q_obs)))
    return DcaResult(
        model=chosen.model,
        qi_bpd=p.qi_bpd,
        di_pct_month=100.0 * p.d_per_day * DAYS_PER_MONTH,
        b_factor=p.b,
        eur_stb=float(history.cumulative_bbl + remaining),
        eur_p10_stb=dist.p10_bbl,
        eur_p50_stb=dist.p50_bbl,
        eur_p90_stb=dist.p90_bbl,
        forecast=forecast,
        params=p,
        di_secant_eff_pct_year=100.0 * float(secant_effective_from_nominal(p.d_per_day * DAYS_PER_YEAR, p.b)),
        b_above_one=p.b > 1.0,
        criterion=settings.criterion,
        candidates=tuple(fits),
        quality=quality,
        history_cum_bbl=history.cumulative_bbl,
        t_last_days=t_last,
        abandonment_days=t_abandon,
        eur_distribution=dist,
        segment_start_days=segment_start_days,
        n_segments=screening.n_segments,
        trend_pct_year=trend_pct_year,
        sigma_process_log=sigma_p,
        cov_scale=cov_scale,
        rate_paths_bpd=paths,
    )


def analyze_decline(time: ArrayLike | Sequence[object], values: ArrayLike, *, kind: str = "rate",
                    settings: DcaSettings = DcaSettings(), on_stream: ArrayLike | None = None,
                    on_stream_unit: str = "days") -> DcaResult:
    """Decline analysis of plain arrays.

    ``time``: days (any origin; shifted so the first sample is ``t = 0``) or dates (ISO strings,
    ``datetime``, ``datetime64``). ``values``: rates in bbl/d (``kind="rate"``, e.g. daily
    ``flow_rate_bpd``) or volumes in bbl per period starting at ``time`` (``kind="volume"``, e.g.
    monthly volumes; each period ends at the next start). ``on_stream`` (optional): producing time per
    sample in ``on_stream_unit`` -- ``"days"`` [day] or ``"hours"`` [h] per period (for rates, per day:
    daily samples), or ``"fraction"`` [-] of the period (rates only); rates are normalized by it
    (:mod:`engines.dca.history`)."""
    if on_stream_unit not in ("days", "hours", "fraction"):
        raise ValueError("on_stream_unit must be 'days', 'hours' or 'fraction'")
    on = None
    if on_stream is not None:
        on = np.asarray(on_stream, dtype=np.float64) / (24.0 if on_stream_unit == "hours" else 1.0)
    if kind == "rate":
        history = history_from_rates(time, values, uptime_fraction=on)
    elif kind == "volume":
        if on_stream_unit == "fraction":
            raise ValueError("on-stream time of volumes must be in days or hours")
        history = history_from_volumes(time, values, on_stream_days=on)
    else:
        raise ValueError("kind must be 'rate' or 'volume'")
    return analyze_history(history, settings)
