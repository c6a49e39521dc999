"""Decline-curve analysis entry point: screen, fit all candidates, select, Monte Carlo EUR, forecast.

``analyze_decline(time, rate_bpd)`` takes plain arrays (time in days or dates; rate in bbl/d, or
volumes in bbl per period with ``kind="volume"``) and returns a frozen :class:`DcaResult` carrying
the chosen model, its parameters, the deterministic and probabilistic EUR, the monthly forecast, the
fit quality and every candidate's AIC/AICc/BIC.

Conventions of the outputs:

* ``qi_bpd``: fitted rate at the first history sample (``t = 0``), bbl/d.
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
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from engines.dca.arps import DeclineParams
from engines.dca.conventions import (DAYS_PER_MONTH, DAYS_PER_YEAR, nominal_from_tangent_effective,
                                     secant_effective_from_nominal)
from engines.dca.fitting import MODEL_NAMES, CandidateFit, fit_candidate, predict_rate, robust_inliers
from engines.dca.forecast import build_forecast
from engines.dca.history import DeclineHistory, history_from_rates, history_from_volumes, screen_history
from engines.dca.montecarlo import (EurDistribution, eur_distribution, mixture_curves, rate_band_bpd,
                                    remaining_volume_bbl)
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
    Burnham & Anderson 2002, section 4.3); ``chosen`` uses the chosen model's covariance only."""

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


def analyze_history(history: DeclineHistory, settings: DcaSettings = DcaSettings()) -> DcaResult:
    """Full analysis of a prepared :class:`DeclineHistory` (see module docstring)."""
    screening = screen_history(history, settings.restart_skip_days)
    usable = screening.usable
    if usable.sum() < 3:
        raise ValueError(f"only {int(usable.sum())} producing samples after screening; need at least 3")
    inliers, robust_theta = robust_inliers(history, usable, b_max=settings.b_max, outlier_z=settings.outlier_z)
    d_lim = settings.d_lim_per_day
    fits: list[CandidateFit] = []
    seeds: dict[str, np.ndarray] = {"hyperbolic": robust_theta}
    for name in MODEL_NAMES:
        if name not in settings.candidates or inliers.sum() < (4 if name in ("hyperbolic", "modified_hyperbolic") else 3):
            continue
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
    remaining = remaining_volume_bbl(np.array([p.qi_bpd]), np.array([p.d_per_day]), np.array([p.b]),
                                     np.array([p.d_lim_per_day]), t_last_days=t_last,
                                     economic_limit_bpd=settings.economic_limit_bpd,
                                     horizon_days=settings.horizon_days)[0]
    t_abandon = t_last + settings.horizon_days
    if settings.economic_limit_bpd > 0.0:
        t_abandon = max(min(t_abandon, float(p.time_to_rate(settings.economic_limit_bpd))), t_last)
    if settings.uncertainty == "model_average":
        mc_fits, mc_weights = fits, akaike_weights([f.score(settings.criterion) for f in fits])
    else:
        mc_fits, mc_weights = [chosen], [1.0]
    curves = mixture_curves(mc_fits, mc_weights, n_trials=settings.n_trials, seed=settings.seed,
                            d_lim_per_day=d_lim, b_max=settings.b_max)
    dist = eur_distribution(curves, history_cum_bbl=history.cumulative_bbl, t_last_days=t_last,
                            economic_limit_bpd=settings.economic_limit_bpd, horizon_days=settings.horizon_days,
                            seed=settings.seed)
    low, high = rate_band_bpd(curves, t_last + DAYS_PER_MONTH * np.arange(1, settings.forecast_months + 1))
    forecast = build_forecast(p, t_last_days=t_last, history_cum_bbl=history.cumulative_bbl,
                              abandonment_days=t_abandon, n_months=settings.forecast_months,
                              start_date=history.start_date, rate_low_bpd=low, rate_high_bpd=high)
    q_obs = history.rate_bpd[inliers]
    q_fit = predict_rate(chosen.model, chosen.theta, history.t_start_days[inliers], history.t_end_days[inliers], d_lim)
    quality = FitQuality(
        n_samples=history.n, n_used=int(inliers.sum()), n_missing=screening.n_missing,
        n_shut_in=screening.n_shut_in, n_restart=screening.n_restart,
        n_outliers=int(usable.sum() - inliers.sum()), rmse_log=chosen.sigma_log, r2_log=chosen.r2_log,
        mape_pct=float(100.0 * np.mean(np.abs(q_fit - q_obs) / q_obs)),
    )
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
    )


def analyze_decline(time: ArrayLike | Sequence[object], values: ArrayLike, *, kind: str = "rate",
                    settings: DcaSettings = DcaSettings()) -> DcaResult:
    """Decline analysis of plain arrays.

    ``time``: days (any origin; shifted so the first sample is ``t = 0``) or dates (ISO strings,
    ``datetime``, ``datetime64``). ``values``: rates in bbl/d (``kind="rate"``, e.g. daily
    ``flow_rate_bpd``) or volumes in bbl per period starting at ``time`` (``kind="volume"``, e.g.
    monthly volumes; each period ends at the next start)."""
    if kind == "rate":
        history = history_from_rates(time, values)
    elif kind == "volume":
        history = history_from_volumes(time, values)
    else:
        raise ValueError("kind must be 'rate' or 'volume'")
    return analyze_history(history, settings)
