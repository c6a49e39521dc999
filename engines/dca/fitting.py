"""Least-squares fitting of the Arps candidates to a screened history (bounded Levenberg-Marquardt).

Residuals are ``ln q_obs - ln q_model`` (multiplicative, constant-percentage noise, the usual
assumption for rate data spanning orders of magnitude). Parameters are ``theta = (ln qi, ln D[,
b])`` with ``qi`` in bbl/d at ``t = 0`` and ``D`` the nominal initial decline in 1/day, so both stay
positive; ``b`` is bounded to ``[0, b_max]`` (``b_max`` 2 allows transient, unconventional wells,
flagged by the caller when b > 1). The modified hyperbolic keeps ``D >= D_lim``.

Outliers: a robust fit (``soft_l1`` loss) of the most flexible candidate gives residuals; samples
whose modified z-score ``0.6745 |r - median(r)| / MAD`` exceeds ``outlier_z`` (3.5, Iglewicz &
Hoaglin 1993) are excluded, and every candidate is then fitted by ordinary least squares on the
**same** inliers, so their information criteria compare like with like.

Starting values come from the data: ``ln q`` vs ``t`` regression (exponential), ``1/q`` vs ``t``
regression (harmonic), and the better of those two fits for the 3-parameter models.

The parameter covariance is the Gauss-Newton estimate ``s^2 (J^T J)^-1`` with
``s^2 = RSS / (n - p)`` (e.g. Seber & Wild 1989, "Nonlinear Regression", section 2.1).

The solver is a small bounded Levenberg-Marquardt (:func:`levenberg_marquardt`) with the analytic
Jacobian for point rates: SciPy's general ``least_squares`` spent most of its time in per-iteration
overhead (an SVD and bookkeeping) on these 2-3 parameter problems.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engines.dca.arps import DeclineParams, cumulative_bbl, rate_bpd
from engines.dca.history import DeclineHistory
from engines.dca.selection import information_criteria

Array = NDArray[np.float64]

MODEL_NAMES: tuple[str, ...] = ("exponential", "harmonic", "hyperbolic", "modified_hyperbolic")
N_CURVE_PARAMS: dict[str, int] = {"exponential": 2, "harmonic": 2, "hyperbolic": 3, "modified_hyperbolic": 3}

#: Bounds of the fitted ``ln qi`` (qi in bbl/d) and ``ln D`` (D in 1/day); Monte Carlo trials are clipped to them.
LN_QI_BOUNDS = (math.log(1e-6), math.log(1e7))
LN_D_BOUNDS = (math.log(1e-9), math.log(1.0))


def curve_arrays(model: str, theta: Array, d_lim_per_day: float) -> tuple[Array, Array, Array, Array]:
    """``(qi, D, b, D_lim)`` arrays from parameter rows ``theta[..., :]`` of ``model``."""
    theta = np.asarray(theta, dtype=np.float64)
    qi = np.exp(theta[..., 0])
    d = np.exp(theta[..., 1])
    if model == "exponential":
        b = np.zeros_like(qi)
    elif model == "harmonic":
        b = np.ones_like(qi)
    else:
        b = theta[..., 2]
    d_lim = np.full_like(qi, d_lim_per_day if model == "modified_hyperbolic" else 0.0)
    return qi, d, b, d_lim


def predict_rate(model: str, theta: Array, t_start_days: Array, t_end_days: Array, d_lim_per_day: float) -> Array:
    """Model rate at points (``t_start == t_end``) or interval average rate (bbl/d)."""
    qi, d, b, dl = curve_arrays(model, theta, d_lim_per_day)
    width = t_end_days - t_start_days
    point = width <= 0.0
    q_point = rate_bpd(t_start_days, qi, d, b, dl)
    if np.all(point):
        return q_point
    vol = cumulative_bbl(t_end_days, qi, d, b, dl) - cumulative_bbl(t_start_days, qi, d, b, dl)
    return np.where(point, q_point, vol / np.where(point, 1.0, width))


def log_rate_and_jacobian(model: str, theta: Array, t_days: Array, d_lim_per_day: float) -> tuple[Array, Array]:
    """``ln q(t)`` at point times and its analytic Jacobian ``d ln q / d theta`` (``n x p``).

    Hyperbolic, ``x = D t``: ``ln q = ln qi - ln(1 + b x) / b``; ``d/d ln D = -x / (1 + b x)``;
    ``d/db = [ln(1 + b x) / b - x / (1 + b x)] / b`` (series ``x^2/2 - 2 b x^3 / 3`` for ``b x < 1e-5``).
    Past a modified-hyperbolic switch (``1 + b D t_sw = D / D_lim``):
    ``ln q = ln qi - ln(D/D_lim)/b - D_lim t + (1 - D_lim/D)/b``, ``d/d ln D = -(1 - D_lim/D)/b``,
    ``d/db = [ln(D/D_lim) - (1 - D_lim/D)] / b^2``."""
    ln_qi = float(theta[0])
    d = math.exp(float(theta[1]))
    x = d * t_days
    ones = np.ones_like(x)
    if model == "exponential":
        return ln_qi - x, np.column_stack([ones, -x])
    if model == "harmonic":
        return ln_qi - np.log1p(x), np.column_stack([ones, -x / (1.0 + x)])
    b = float(theta[2])
    bx = b * x
    small = bx < 1e-5
    log_term = np.log1p(bx)
    dlnd = -x / (1.0 + bx)
    series_db = 0.5 * x * x - (2.0 / 3.0) * b * x**3
    if b > 1e-12:
        decay = log_term / b
        with np.errstate(over="ignore", invalid="ignore"):  # the series branch is taken where this loses precision
            db = np.where(small, series_db, (decay - x / (1.0 + bx)) / b)
    else:
        decay = x - 0.5 * b * x * x
        db = series_db
    ln_q = ln_qi - decay
    if model == "modified_hyperbolic" and b > 0.0 and d > d_lim_per_day > 0.0:
        t_sw = (1.0 / d_lim_per_day - 1.0 / d) / b
        after = t_days > t_sw
        if np.any(after):
            ratio = d / d_lim_per_day
            frac = 1.0 - d_lim_per_day / d
            ln_q = np.where(after, ln_qi - math.log(ratio) / b - d_lim_per_day * t_days + frac / b, ln_q)
            dlnd = np.where(after, -frac / b, dlnd)
            db = np.where(after, (math.log(ratio) - frac) / (b * b), db)
    return ln_q, np.column_stack([ones, dlnd, db])


@dataclass(frozen=True, eq=False)
class CandidateFit:
    """One fitted candidate. ``theta = (ln qi, ln D[, b])``; ``covariance`` is that of ``theta``.

    ``rss_log``/``sigma_log`` are in ``ln q``; ``r2_log`` is the coefficient of determination of ``ln q``."""

    model: str
    params: DeclineParams
    theta: Array
    covariance: Array
    n_points: int
    n_params: int
    rss_log: float
    sigma_log: float
    r2_log: float
    aic: float
    aicc: float
    bic: float
    converged: bool

    def score(self, criterion: str) -> float:
        """The named information criterion (``aic``, ``aicc`` or ``bic``)."""
        return {"aic": self.aic, "aicc": self.aicc, "bic": self.bic}[criterion]


def _mid_times(history: DeclineHistory, mask: NDArray[np.bool_]) -> Array:
    return 0.5 * (history.t_start_days[mask] + history.t_end_days[mask])


def _start_exponential(t: Array, q: Array) -> Array:
    if t.size >= 2 and np.ptp(t) > 0.0:
        slope, intercept = np.polyfit(t, np.log(q), 1)
    else:
        slope, intercept = -1e-3, float(np.log(q[0]))
    return np.array([intercept, math.log(min(max(-slope, 1e-6), 0.5))])


def _start_harmonic(t: Array, q: Array) -> Array:
    if t.size >= 2 and np.ptp(t) > 0.0:
        slope, intercept = np.polyfit(t, 1.0 / q, 1)
        if intercept > 0.0 and slope > 0.0:
            qi = 1.0 / intercept
            return np.array([math.log(qi), math.log(min(max(slope * qi, 1e-6), 0.5))])
    return _start_exponential(t, q)


def _bounds(model: str, d_lim_per_day: float, b_max: float) -> tuple[Array, Array]:
    lo_d = LN_D_BOUNDS[0]
    if model == "modified_hyperbolic":
        lo_d = max(lo_d, math.log(d_lim_per_day) + 1e-9)
    lo = [LN_QI_BOUNDS[0], lo_d]
    hi = [LN_QI_BOUNDS[1], LN_D_BOUNDS[1]]
    if N_CURVE_PARAMS[model] == 3:
        lo.append(0.0)
        hi.append(b_max)
    return np.array(lo), np.array(hi)


@dataclass(frozen=True)
class _Solution:
    """What the callers use of a least-squares solution (the fields of SciPy's ``OptimizeResult``)."""

    x: Array
    fun: Array
    jac: Array
    cost: float
    success: bool


def _solve_small(m: Array, v: Array) -> Array | None:
    """``m^-1 v`` for a symmetric positive (semi)definite ``m`` of order 1-3 by Cramer's rule in Python
    floats (NumPy's LAPACK call costs more than the arithmetic at this size); ``None`` if singular."""
    n = v.size
    if n == 1:
        return None if m[0, 0] == 0.0 else np.array([v[0] / m[0, 0]])
    if n == 2:
        a, b, c, d = float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1])
        det = a * d - b * c
        if not det != 0.0 or not math.isfinite(det):
            return None
        return np.array([(d * v[0] - b * v[1]) / det, (a * v[1] - c * v[0]) / det])
    if n == 3:
        (a, b, c), (d, e, f), (g, h, i) = m.tolist()
        c0, c1, c2 = e * i - f * h, f * g - d * i, d * h - e * g
        det = a * c0 + b * c1 + c * c2
        if not det != 0.0 or not math.isfinite(det):
            return None
        x, y, z = (float(w) for w in v)
        return np.array([(x * c0 + b * (z * f - y * i) + c * (y * h - z * e)) / det,
                         (a * (y * i - z * f) + x * c1 + c * (z * d - y * g)) / det,
                         (a * (e * z - h * y) + b * (y * g - d * z) + x * c2) / det])
    try:
        return np.linalg.solve(m, v)
    except np.linalg.LinAlgError:
        return None


def levenberg_marquardt(resid_jac, x0: Array, lo: Array, hi: Array, *, max_iter: int = 200) -> _Solution:
    """Bounded Levenberg-Marquardt for small problems (``p <= 3`` parameters).

    Minimizes ``0.5 |r(x)|^2``; ``resid_jac(x)`` returns ``(r, dr/dx)``. Steps solve
    ``(J^T J + lam diag(J^T J)) dx = -J^T r`` (Marquardt 1963, SIAM J. Appl. Math. 11, 431-441) on the
    parameters not held at a bound (a bound is active when the descent direction points out of the
    box), then are projected onto the box. Converges to the same stationary point as SciPy's ``trf``
    on the interior; at an active bound the Karush-Kuhn-Tucker conditions hold for the free set."""
    x = np.clip(np.asarray(x0, dtype=np.float64), lo, hi)
    r, jac = resid_jac(x)
    cost = 0.5 * float(r @ r)
    lam = 1e-3
    success = False
    for _ in range(max_iter):
        g = jac.T @ r
        a = jac.T @ jac
        free = ~(((x <= lo) & (g > 0.0)) | ((x >= hi) & (g < 0.0)))
        if not free.any() or float(np.max(np.abs(g[free]))) <= 1e-15 * (1.0 + cost):
            success = True
            break
        af = a if free.all() else a[np.ix_(free, free)]
        m = af + lam * np.diag(np.maximum(np.diag(af), 1e-12))
        step = np.zeros_like(x)
        sol = _solve_small(m, -(g if free.all() else g[free]))
        if sol is None:
            lam *= 10.0
            continue
        step[free] = sol
        x_new = np.clip(x + step, lo, hi)
        r_new, jac_new = resid_jac(x_new)
        cost_new = 0.5 * float(r_new @ r_new)
        if np.isfinite(cost_new) and cost_new <= cost:
            small_step = float(np.max(np.abs(x_new - x) / (1.0 + np.abs(x)))) <= 1e-11
            small_gain = cost - cost_new <= 1e-13 * cost
            x, r, jac, cost = x_new, r_new, jac_new, cost_new
            lam = max(lam * 0.2, 1e-12)
            if small_step or small_gain:
                success = True
                break
        else:
            lam *= 8.0
            if lam > 1e14:
                success = True  # no descent left at machine precision
                break
    return _Solution(x, r, jac, cost, success)


def _solve(model: str, x0: Array, ts: Array, te: Array, ln_q: Array, d_lim: float, b_max: float,
           loss: str, f_scale: float, max_reweight: int = 30) -> _Solution:
    """Least squares in ``ln q`` (``loss="linear"``) or the ``soft_l1`` robust loss
    ``rho(z) = 2 (sqrt(1 + z) - 1)``, ``z = (r / f_scale)^2``, by iteratively reweighted least squares
    (weights ``rho'(z) = (1 + z)^(-1/2)``, Holland & Welsch 1977, Commun. Stat. A6, 813-827)."""
    lo, hi = _bounds(model, d_lim, b_max)
    x0 = np.clip(x0, lo + 1e-9 * (1.0 + np.abs(lo)), hi - 1e-9 * (1.0 + np.abs(hi)))
    point = bool(np.all(te <= ts))

    t_both = np.concatenate([ts, te])
    width = te - ts

    def model_and_jac(theta: Array) -> tuple[Array, Array]:
        if point:
            return log_rate_and_jacobian(model, theta, ts, d_lim)
        # interval averages: the closed-form cumulative at theta and at p forward-perturbed thetas, in one call
        steps = 1e-7 * (1.0 + np.abs(theta))
        steps = np.where(theta + steps <= hi, steps, -steps)
        thetas = np.vstack([theta, theta + np.diag(steps)])
        qi, d, b, dl = (v[:, None] for v in curve_arrays(model, thetas, d_lim))
        cum = cumulative_bbl(t_both[None, :], qi, d, b, dl)
        avg = (cum[:, ts.size:] - cum[:, :ts.size]) / width[None, :]
        ln_avg = np.log(np.maximum(avg, 1e-300))
        return ln_avg[0], ((ln_avg[1:] - ln_avg[0]) / steps[:, None]).T

    if loss == "linear":
        def resid_jac(theta: Array) -> tuple[Array, Array]:
            m, j = model_and_jac(theta)
            return ln_q - m, -j

        return levenberg_marquardt(resid_jac, x0, lo, hi)
    if loss != "soft_l1":
        raise ValueError(f"unknown loss {loss!r}")
    sw = np.ones_like(ln_q)
    x = x0
    sol = None
    for _ in range(max_reweight):
        def weighted(theta: Array, sw: Array = sw) -> tuple[Array, Array]:
            m, j = model_and_jac(theta)
            return sw * (ln_q - m), -sw[:, None] * j

        sol = levenberg_marquardt(weighted, x, lo, hi, max_iter=8)  # warm-started: a few steps per reweighting
        r = sol.fun / sw
        sw_new = (1.0 + (r / f_scale) ** 2) ** -0.25
        moved = float(np.max(np.abs(sol.x - x) / (1.0 + np.abs(x))))
        x, sw = sol.x, sw_new
        if moved < 1e-6:
            break
    assert sol is not None
    r = sol.fun / np.where(sw > 0, sw, 1.0)
    cost = float(np.sum(2.0 * (np.sqrt(1.0 + (r / f_scale) ** 2) - 1.0))) * 0.5 * f_scale**2
    return _Solution(sol.x, r, sol.jac, cost, sol.success)


def _starts(model: str, t: Array, q: Array, seeds: dict[str, Array]) -> list[Array]:
    if model == "exponential":
        return [_start_exponential(t, q)]
    if model == "harmonic":
        return [_start_harmonic(t, q)]
    base_exp = seeds.get("exponential", _start_exponential(t, q))
    base_harm = seeds.get("harmonic", _start_harmonic(t, q))
    starts = [np.append(base_exp[:2], 0.1), np.append(base_harm[:2], 1.0)]
    if "hyperbolic" in seeds:
        starts.insert(0, seeds["hyperbolic"])
    return starts


def fit_candidate(history: DeclineHistory, model: str, mask: NDArray[np.bool_], *, d_lim_per_day: float = 0.0,
                  b_max: float = 2.0, seeds: dict[str, Array] | None = None) -> CandidateFit:
    """Ordinary least-squares fit of ``model`` on the samples selected by ``mask``.

    ``seeds`` maps model names to already fitted ``theta`` used as extra starting points."""
    if model not in N_CURVE_PARAMS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODEL_NAMES}")
    if model == "modified_hyperbolic" and not d_lim_per_day > 0.0:
        raise ValueError("modified_hyperbolic needs d_lim_per_day > 0")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != history.rate_bpd.shape:
        raise ValueError(f"mask must have one entry per sample ({history.n}), got shape {mask.shape}")
    p = N_CURVE_PARAMS[model]
    n = int(mask.sum())
    if n < p + 1:
        raise ValueError(f"{model}: {n} usable samples, need at least {p + 1}")
    ts, te = history.t_start_days[mask], history.t_end_days[mask]
    q = history.rate_bpd[mask]
    if not np.all(np.isfinite(q) & (q > 0.0)):
        raise ValueError("masked samples must have finite positive rates (screen shut-ins first)")
    ln_q = np.log(q)
    best = None
    for x0 in _starts(model, _mid_times(history, mask), q, seeds or {}):
        res = _solve(model, np.asarray(x0, dtype=np.float64)[:p], ts, te, ln_q, d_lim_per_day, b_max, "linear", 1.0)
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    theta = best.x
    rss = float(np.sum(best.fun**2))
    jac = best.jac
    s2 = rss / (n - p)
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    aic, aicc, bic = information_criteria(rss, n, p)
    ss_tot = float(np.sum((ln_q - ln_q.mean()) ** 2))
    r2 = 1.0 - rss / ss_tot if ss_tot > 0.0 else 1.0
    qi, d, b, dl = (float(v) for v in curve_arrays(model, theta, d_lim_per_day))
    return CandidateFit(model, DeclineParams(qi, d, b, dl), theta, cov, n, p, rss, math.sqrt(s2), r2,
                        aic, aicc, bic, bool(best.success))


def fit_exponential(history: DeclineHistory, mask: NDArray[np.bool_]) -> CandidateFit:
    """Exponential decline ``q = qi exp(-D t)`` (Arps 1945, b = 0) fitted to the ``mask``ed samples of
    ``history`` (rates [bbl/d], times [day]): :func:`fit_candidate` with ``model="exponential"``."""
    return fit_candidate(history, "exponential", mask)


def fit_harmonic(history: DeclineHistory, mask: NDArray[np.bool_]) -> CandidateFit:
    """Harmonic decline ``q = qi / (1 + D t)`` (Arps 1945, b = 1): :func:`fit_candidate` with ``model="harmonic"``."""
    return fit_candidate(history, "harmonic", mask)


def fit_hyperbolic(history: DeclineHistory, mask: NDArray[np.bool_], *, b_max: float = 2.0) -> CandidateFit:
    """Hyperbolic decline ``q = qi (1 + b D t)^(-1/b)`` (Arps 1945), ``0 <= b <= b_max`` [-]:
    :func:`fit_candidate` with ``model="hyperbolic"``."""
    return fit_candidate(history, "hyperbolic", mask, b_max=b_max)


def fit_modified_hyperbolic(history: DeclineHistory, mask: NDArray[np.bool_], *, d_lim_per_day: float,
                            b_max: float = 2.0) -> CandidateFit:
    """Modified hyperbolic (Robertson 1988, SPE-18731-MS): hyperbolic until its decline falls to
    ``d_lim_per_day`` [1/day], exponential after; :func:`fit_candidate` with ``model="modified_hyperbolic"``."""
    return fit_candidate(history, "modified_hyperbolic", mask, d_lim_per_day=d_lim_per_day, b_max=b_max)


def robust_inliers(history: DeclineHistory, usable: NDArray[np.bool_], *, b_max: float = 2.0,
                   outlier_z: float = 3.5) -> tuple[NDArray[np.bool_], Array]:
    """Inlier mask from a robust (``soft_l1``) hyperbolic fit, and that fit's ``theta``.

    Outliers have modified z-score ``0.6745 |r - median| / MAD > outlier_z``; the MAD is floored at
    1e-4 (0.01 % in rate) so an exact fit flags nothing. Falls back to the exponential when fewer
    than 4 samples are usable."""
    if outlier_z <= 0.0:
        raise ValueError("outlier_z must be positive")
    ts, te = history.t_start_days[usable], history.t_end_days[usable]
    q = history.rate_bpd[usable]
    ln_q = np.log(q)
    t_mid = _mid_times(history, usable)
    model = "hyperbolic" if q.size >= 4 else "exponential"
    start = _start_exponential(t_mid, q)
    resid0 = ln_q - (start[0] - math.exp(start[1]) * t_mid)
    scale = max(1.4826 * float(np.median(np.abs(resid0 - np.median(resid0)))), 1e-3)
    # one robust solve, from the start with the lower soft_l1 cost (the robust fit only flags outliers and
    # seeds the hyperbolic candidate, which is refitted from several starts)
    starts = [x0[: N_CURVE_PARAMS[model]] for x0 in _starts(model, t_mid, q, {})]
    lo, hi = _bounds(model, 0.0, b_max)

    def soft_l1_cost(x0: Array) -> float:
        x = np.clip(x0, lo, hi)
        r0 = ln_q - np.log(np.maximum(predict_rate(model, x, ts, te, 0.0), 1e-300))
        return float(np.sum(np.sqrt(1.0 + (r0 / scale) ** 2)))

    x_start = min(starts, key=soft_l1_cost)
    # five reweightings: the outlier flags (z > 3.5 on the MAD scale) are settled long before the M-estimate
    # converges to 1e-6, and the candidates are refitted by least squares on the inliers anyway
    best = _solve(model, x_start, ts, te, ln_q, 0.0, b_max, "soft_l1", scale, max_reweight=5)
    r = ln_q - np.log(predict_rate(model, best.x, ts, te, 0.0))
    mad = max(float(np.median(np.abs(r - np.median(r)))), 1e-4)
    z = 0.6745 * np.abs(r - np.median(r)) / mad
    inliers = usable.copy()
    inliers[np.flatnonzero(usable)[z > outlier_z]] = False
    theta = best.x if model == "hyperbolic" else np.append(best.x, 0.0)
    return inliers, theta
