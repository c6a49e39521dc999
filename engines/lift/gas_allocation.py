"""Field-wide gas-lift allocation by the equal-slope (equal marginal oil per gas) rule.

With concave performance curves q_oil,i(q_inj,i) the optimum of max sum q_oil,i subject to
sum q_inj,i <= G gives every well with gas the same slope dq_oil/dq_inj = lambda (Kanu, Mach & Brown
1981, J. Petrol. Technol.; Nishikiori et al. 1995). Each tabulated GLPC is replaced by its upper concave hull
(the part a rational allocation can use); on a piecewise-linear concave curve the equal-slope
solution is exactly the greedy allocation of segments in order of decreasing slope, stopping when the
gas runs out or the slope falls below ``min_slope_bbl_per_mscf`` (the economic threshold,
gas cost / oil price). :func:`allocate_gas_lp` solves the same problem as a linear program with
SciPy's HiGHS, an independent check.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from engines.lift.gas_lift import Glpc


@dataclass(frozen=True)
class Allocation:
    """Gas per well (Mscf/d), expected oil per well (bbl/d), totals and the common marginal slope."""

    injection_mscfd: np.ndarray
    oil_bpd: np.ndarray
    total_injection_mscfd: float
    total_oil_bpd: float
    marginal_slope_bbl_per_mscf: float


def concave_hull(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper concave hull of the points (x increasing): vertices (x, y)."""
    hx, hy = [float(x[0])], [float(y[0])]
    for xi, yi in zip(x[1:], y[1:]):
        hx.append(float(xi)); hy.append(float(yi))
        while len(hx) >= 3:
            (x0, y0), (x1, y1), (x2, y2) = (hx[-3], hy[-3]), (hx[-2], hy[-2]), (hx[-1], hy[-1])
            if (y1 - y0) * (x2 - x1) <= (y2 - y1) * (x1 - x0):  # middle point not above the chord
                del hx[-2]; del hy[-2]
            else:
                break
    return np.array(hx), np.array(hy)


def _segments(curves: list[Glpc]):
    wells, lengths, slopes, base_gas, base_oil = [], [], [], [], []
    for i, c in enumerate(curves):
        hx, hy = concave_hull(c.injection_mscfd, c.oil_bpd)
        base_gas.append(hx[0]); base_oil.append(hy[0])
        dx, dy = np.diff(hx), np.diff(hy)
        keep = dx > 0
        wells += [i] * int(keep.sum()); lengths += list(dx[keep]); slopes += list(dy[keep] / dx[keep])
    return np.array(wells, int), np.array(lengths), np.array(slopes), np.array(base_gas), np.array(base_oil)


def _check(curves, available_mscfd):
    if not curves:
        raise ValueError("need at least one GLPC")
    if not (np.isfinite(available_mscfd) and available_mscfd >= 0):
        raise ValueError("available_mscfd must be finite and >= 0")


def allocate_gas_equal_slope(curves: list[Glpc], available_mscfd: float, min_slope_bbl_per_mscf: float = 0.0) -> Allocation:
    """Equal-slope allocation; each well starts at its curve's first injection value (its minimum)."""
    _check(curves, available_mscfd)
    wells, lengths, slopes, gas0, oil0 = _segments(curves)
    remaining = available_mscfd - gas0.sum()
    if remaining < -1e-9:
        raise ValueError(f"minimum injections ({gas0.sum():.1f} Mscf/d) exceed the available gas ({available_mscfd:.1f})")
    gas = gas0.astype(float).copy()
    oil = oil0.astype(float).copy()
    lam = float(slopes.max()) if slopes.size else 0.0
    for s in np.argsort(-slopes, kind="stable"):
        if slopes[s] <= min_slope_bbl_per_mscf or remaining <= 0:
            break
        take = min(lengths[s], remaining)
        gas[wells[s]] += take
        oil[wells[s]] += take * slopes[s]
        remaining -= take
        lam = float(slopes[s])
    return Allocation(gas, oil, float(gas.sum()), float(oil.sum()), lam)


def allocate_gas_lp(curves: list[Glpc], available_mscfd: float, min_slope_bbl_per_mscf: float = 0.0) -> Allocation:
    """The same problem as a linear program over hull segments (SciPy HiGHS): the cross-check."""
    _check(curves, available_mscfd)
    wells, lengths, slopes, gas0, oil0 = _segments(curves)
    remaining = available_mscfd - gas0.sum()
    if remaining < -1e-9:
        raise ValueError("minimum injections exceed the available gas")
    res = linprog(-(slopes - min_slope_bbl_per_mscf), A_ub=np.ones((1, slopes.size)), b_ub=[remaining],
                  bounds=list(zip(np.zeros(slopes.size), lengths)), method="highs")
    if not res.success:
        raise ValueError(f"linear program failed: {res.message}")
    x = res.x
    gas = gas0 + np.bincount(wells, weights=x, minlength=len(curves))
    oil = oil0 + np.bincount(wells, weights=x * slopes, minlength=len(curves))
    used = x > 1e-9 * max(1.0, lengths.max())
    lam = float(slopes[used].min()) if np.any(used) else 0.0
    return Allocation(gas, oil, float(gas.sum()), float(oil.sum()), lam)
