"""Probabilistic EUR: Monte Carlo over the fitted parameters' uncertainty (vectorized over trials).

Trials draw ``theta = (ln qi, ln D[, b])`` from the multivariate normal ``N(theta_hat, C)`` of the
fit's Gauss-Newton covariance (lognormal ``qi`` and ``D``); ``ln qi`` and ``ln D`` are clipped to the
fit's own bounds (``qi`` in [1e-6, 1e7] bbl/d, ``D`` in [1e-9, 1] 1/day: a poorly identified decline, e.g. a
flat history, has a huge ``ln D`` variance whose draws would otherwise overflow to D = inf or underflow to 0),
``b`` to ``[0, b_max]`` and the modified hyperbolic's ``D`` to ``>= D_lim``. Each trial's EUR is

``EUR = Np_hist + [Np(t_end) - Np(t_last)]``,  ``t_end = min(t_el, t_last + horizon)``

where ``Np_hist`` is the observed cumulative of the history, ``t_last`` the end of the history,
``t_el`` the time the trial's rate reaches the economic limit (no forecast volume if the rate at
``t_last`` is already below it). All trials are evaluated in one NumPy call.

With several candidates, trials are split among them in proportion to weights (Akaike weights in
the analysis: model-averaged, "unconditional" uncertainty, Burnham & Anderson 2002, section 4.3),
so the spread includes the model-selection uncertainty that one model's covariance misses.

Petroleum convention (SPE-PRMS 2018, section 2.2.2): **P90 is the low estimate** -- exceeded with
90 % probability, i.e. the 10th percentile of the trial EURs; P50 the median; **P10 the high
estimate** (the 90th percentile). Hence ``P10 >= P50 >= P90``. Deterministic for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from engines.dca.arps import B_HARMONIC_EPS, cumulative_bbl, rate_bpd, time_to_rate_days
from engines.dca.conventions import B_EXPONENTIAL_EPS
from engines.dca.fitting import LN_D_BOUNDS, LN_QI_BOUNDS, CandidateFit, N_CURVE_PARAMS, curve_arrays

Array = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class EurDistribution:
    """EUR percentiles (bbl, petroleum convention: p10 high, p90 low) and the trial samples."""

    p10_bbl: float
    p50_bbl: float
    p90_bbl: float
    mean_bbl: float
    samples_bbl: Array
    n_trials: int
    seed: int


def sample_theta(fit: CandidateFit, n_trials: int, seed: int, cov_scale: float = 1.0) -> Array:
    """``(n_trials, p)`` draws of ``theta`` from ``N(theta_hat, cov_scale * covariance)`` (eigen-decomposition,
    PSD-safe). ``cov_scale`` [-] >= 1 inflates the Gauss-Newton covariance for autocorrelated residuals."""
    if n_trials < 1:
        raise ValueError("n_trials must be >= 1")
    if not cov_scale > 0.0:
        raise ValueError("cov_scale must be positive")
    rng = np.random.default_rng(seed)
    cov = 0.5 * cov_scale * (fit.covariance + fit.covariance.T)
    eigval, eigvec = np.linalg.eigh(cov)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    z = rng.standard_normal((n_trials, fit.theta.size))
    return fit.theta + z @ root.T


def trial_curves(fit: CandidateFit, theta: Array, d_lim_per_day: float, b_max: float) -> tuple[Array, Array, Array, Array]:
    """``(qi, D, b, D_lim)`` arrays for the trial rows, clipped to the model's domain (module docstring)."""
    theta = np.array(theta, dtype=np.float64)
    theta[..., 0] = np.clip(theta[..., 0], *LN_QI_BOUNDS)
    theta[..., 1] = np.clip(theta[..., 1], *LN_D_BOUNDS)
    qi, d, b, dl = curve_arrays(fit.model, theta, d_lim_per_day)
    if N_CURVE_PARAMS[fit.model] == 3:
        b = np.clip(b, 0.0, b_max)
    if fit.model == "modified_hyperbolic":
        d = np.maximum(d, dl)
    return qi, d, b, dl


def end_of_life_days(qi: Array, d: Array, b: Array, d_lim: Array, *, t_last_days: float,
                     economic_limit_bpd: float, horizon_days: float) -> Array:
    """``min(t_el, t_last + horizon)`` [day] per curve: when its rate reaches ``economic_limit_bpd`` [bbl/d]."""
    t_end = np.full(np.shape(qi), t_last_days + horizon_days)
    if economic_limit_bpd > 0.0:
        t_end = np.minimum(t_end, time_to_rate_days(economic_limit_bpd, qi, d, b, d_lim))
    return t_end


def remaining_volume_bbl(qi: Array, d: Array, b: Array, d_lim: Array, *, t_last_days: float,
                         economic_limit_bpd: float, horizon_days: float, uptime_fraction: float = 1.0) -> Array:
    """Forecast volume (bbl) from ``t_last`` to ``min(t_el, t_last + horizon)``, 0 if already below the limit.

    ``uptime_fraction`` [-]: expected fraction of time on stream (the curves are on-stream rates)."""
    t_end = end_of_life_days(qi, d, b, d_lim, t_last_days=t_last_days, economic_limit_bpd=economic_limit_bpd,
                             horizon_days=horizon_days)
    vol = cumulative_bbl(np.maximum(t_end, t_last_days), qi, d, b, d_lim) - cumulative_bbl(t_last_days, qi, d, b, d_lim)
    return uptime_fraction * np.where(t_end > t_last_days, vol, 0.0)


def allocate_trials(weights: Sequence[float], n_trials: int) -> NDArray[np.int64]:
    """Split ``n_trials`` among candidates in proportion to ``weights`` (largest-remainder rounding)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0.0) or not w.sum() > 0.0:
        raise ValueError("weights must be a non-empty vector of non-negative numbers with a positive sum")
    share = w / w.sum() * n_trials
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: n_trials - int(counts.sum())]] += 1
    return counts


def mixture_curves(fits: Sequence[CandidateFit], weights: Sequence[float], *, n_trials: int, seed: int,
                   d_lim_per_day: float, b_max: float, cov_scale: float = 1.0) -> tuple[Array, Array, Array, Array]:
    """``(qi, D, b, D_lim)`` trial arrays drawn from each fit's covariance, ``n_k`` trials per fit.

    With Akaike weights this is the model-averaged ("unconditional") uncertainty of Burnham &
    Anderson (2002, section 4.3): parameter *and* model-selection uncertainty. With a single fit
    and weight 1 it is the plain covariance Monte Carlo."""
    if len(fits) != len(weights):
        raise ValueError("fits and weights lengths differ")
    counts = allocate_trials(weights, n_trials)
    parts = []
    for k, (fit, n_k) in enumerate(zip(fits, counts)):
        if n_k == 0:
            continue
        theta = sample_theta(fit, int(n_k), seed + 7919 * k, cov_scale)
        parts.append(trial_curves(fit, theta, d_lim_per_day, b_max))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))  # type: ignore[return-value]


def eur_distribution(curves: tuple[Array, Array, Array, Array], *, history_cum_bbl: float, t_last_days: float,
                     economic_limit_bpd: float, horizon_days: float, seed: int = 0,
                     uptime_fraction: float = 1.0) -> EurDistribution:
    """EUR percentiles over trial curves ``(qi, D, b, D_lim)`` (see module docstring)."""
    if economic_limit_bpd < 0.0 or not horizon_days > 0.0:
        raise ValueError("economic_limit_bpd must be >= 0 and horizon_days > 0")
    qi, d, b, dl = curves
    eur = history_cum_bbl + remaining_volume_bbl(qi, d, b, dl, t_last_days=t_last_days,
                                                 economic_limit_bpd=economic_limit_bpd, horizon_days=horizon_days,
                                                 uptime_fraction=uptime_fraction)
    p90, p50, p10 = np.percentile(eur, [10.0, 50.0, 90.0])
    return EurDistribution(float(p10), float(p50), float(p90), float(eur.mean()), eur, int(eur.size), seed)


def probabilistic_eur(fits: CandidateFit | Sequence[CandidateFit], *, history_cum_bbl: float, t_last_days: float,
                      economic_limit_bpd: float, horizon_days: float, weights: Sequence[float] | None = None,
                      d_lim_per_day: float = 0.0, b_max: float = 2.0, n_trials: int = 1000,
                      seed: int = 0) -> EurDistribution:
    """Monte Carlo EUR distribution for one fitted candidate, or a weighted mixture of candidates."""
    fit_list = [fits] if isinstance(fits, CandidateFit) else list(fits)
    w = [1.0] * len(fit_list) if weights is None else list(weights)
    curves = mixture_curves(fit_list, w, n_trials=n_trials, seed=seed, d_lim_per_day=d_lim_per_day, b_max=b_max)
    return eur_distribution(curves, history_cum_bbl=history_cum_bbl, t_last_days=t_last_days,
                            economic_limit_bpd=economic_limit_bpd, horizon_days=horizon_days, seed=seed)


def rate_band_bpd(curves: tuple[Array, Array, Array, Array], t_days: Array) -> tuple[Array, Array]:
    """Low (10th percentile, "P90") and high (90th percentile, "P10") rate (bbl/d) at ``t_days`` over trial curves."""
    qi, d, b, dl = (np.asarray(c)[:, None] for c in curves)
    q = rate_bpd(np.asarray(t_days, dtype=np.float64)[None, :], qi, d, b, dl)
    low, high = np.percentile(q, [10.0, 90.0], axis=0)
    return low, high


def ar1_mean_variance_factor(rho: float, m: int) -> float:
    """Variance of the mean of ``m`` consecutive AR(1) residuals (lag-1 correlation ``rho`` [-]) over the
    variance of one: ``[1 + 2 sum_{k=1}^{m-1} (1 - k/m) rho^k] / m`` (e.g. Box, Jenkins & Reinsel 2008,
    "Time Series Analysis", 4th ed., eq. 2.1.13 for the variance of a sample mean)."""
    if m < 1:
        raise ValueError("m must be >= 1")
    k = np.arange(1, m, dtype=np.float64)
    return float((1.0 + 2.0 * np.sum((1.0 - k / m) * rho**k)) / m)


def monthly_rate_paths_bpd(curves: tuple[Array, Array, Array, Array], edges_days: Array, *, t_end_days: Array,
                           sigma_process_log: float, seed: int) -> Array:
    """Trial paths of the average on-stream rate (bbl/d) over each forecast month ``[edges[k], edges[k+1]]``.

    Parameter uncertainty: one trial curve per row (``curves``); each trial stops producing at its own
    end of life ``t_end_days`` [day] (economic limit or horizon). Process uncertainty: each month's
    average is multiplied by ``exp(sigma_process_log * z)``, ``z ~ N(0, 1)`` independent per trial and
    month, ``sigma_process_log`` [-] being the month-scale scatter of ``ln q`` about the curve. Returns an
    ``(n_trials, n_months)`` array; deterministic for a given ``seed``."""
    qi, d, b, dl = (np.asarray(c, dtype=np.float64)[:, None] for c in curves)
    e = np.asarray(edges_days, dtype=np.float64)
    t_end = np.asarray(t_end_days, dtype=np.float64)[:, None]
    e_eff = np.minimum(e[None, :], np.maximum(t_end, e[0]))
    # rows grouped by closed form (exponential, harmonic, hyperbolic trials of a model mixture), so each
    # group is evaluated by its own formula only
    small = b[:, 0] < B_EXPONENTIAL_EPS
    harmonic = np.abs(1.0 - b[:, 0]) < B_HARMONIC_EPS
    cum = np.empty(e_eff.shape)
    for rows in (small, harmonic, ~(small | harmonic)):
        if rows.all():
            cum = cumulative_bbl(e_eff, qi, d, b, dl)
            break
        if rows.any():
            cum[rows] = cumulative_bbl(e_eff[rows], qi[rows], d[rows], b[rows], dl[rows])
    avg = np.diff(cum, axis=1) / np.diff(e)[None, :]
    if sigma_process_log > 0.0:
        z = np.random.default_rng(seed).standard_normal(avg.shape, dtype=np.float32)
        avg = avg * np.exp(np.float32(sigma_process_log) * z)
    return avg


def rate_percentiles_bpd(paths: Array) -> tuple[Array, Array, Array]:
    """``(P90, P50, P10)`` of trial paths per month: the 10th, 50th and 90th percentiles (P90 low)."""
    p90, p50, p10 = np.percentile(paths, [10.0, 50.0, 90.0], axis=0)
    return p90, p50, p10
