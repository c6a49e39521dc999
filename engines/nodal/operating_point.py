"""Operating point: intersection of the IPR (inflow) and VLP (outflow) curves at the mid-perforations.

The VLP is evaluated on a 100-rate grid from AOF/100 to the AOF (vectorized traverse), the difference
d(q) = Pwf_IPR(q) - Pwf_VLP(q) is scanned for sign changes, and the stable intersection is the one where
d goes from positive to negative with increasing rate (the VLP rises faster than the IPR, so a small
rate increase raises the required pressure above what the reservoir supplies; Brown 1984, vol. 4).
When several exist the highest-rate stable one is taken; the lower, unstable one (d going from negative
to positive on the J-shaped VLP's falling branch) is never reported. The bracket is then refined with a
second 16-rate traverse and linear interpolation of d. No stable crossing means the well cannot flow
against this wellhead pressure (``flowing=False``, q = 0, Pwf and drawdown NaN). If the VLP lies below
the IPR at the AOF (a pump larger than the inflow), the rate is limited by inflow: q = AOF, Pwf = 0.

:func:`solve_operating_point` takes the VLP from a tubing traverse (optionally with a :class:`PumpBoost` or
:class:`GasInjection` on it); :func:`solve_with_outflow` runs the same intersection against any outflow curve
q -> Pwf, e.g. a pumped well whose casing below the pump holds liquid (:mod:`engines.lift.well_hydraulics`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engines.nodal.ipr import Ipr
from engines.nodal.pvt import BlackOilFluid
from engines.nodal.traverse import GasInjection, PumpBoost, bottomhole_pressure
from engines.nodal.wellbore import Wellbore

N_CURVE_POINTS = 100
N_REFINE_POINTS = 16


@dataclass(frozen=True)
class NodalResult:
    """Operating point and curves (pressures psia or the IPR's datum, rates STB/d of liquid).

    status: "flowing", "no_intersection" (cannot flow naturally / lift insufficient) or "inflow_limited".
    ipr_curve, vlp_curve: (100, 2) arrays of [q_bpd, pwf_psi].
    """

    q_bpd: float
    pwf_psi: float
    aof_bpd: float
    pi_bpd_psi: float
    drawdown_psi: float
    flowing: bool
    status: str
    correlation: str
    ipr_curve: np.ndarray
    vlp_curve: np.ndarray


def ipr_curve(ipr: Ipr, n_points: int = N_CURVE_POINTS) -> np.ndarray:
    """(n, 2) array of [q_bpd, pwf_psi] from Pwf = Pr down to 0."""
    pwf = np.linspace(ipr.reservoir_pressure_psi, 0.0, n_points)
    return np.column_stack([ipr.rate_bpd(pwf), pwf])


def solve_operating_point(ipr: Ipr, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float, *,
                          correlation: str = "beggs_brill", n_segments: int = 100, pump: PumpBoost | None = None,
                          gas_lift: GasInjection | None = None, n_points: int = N_CURVE_POINTS) -> NodalResult:
    """Stable IPR/VLP intersection with 100-point curves for the dashboard."""
    if n_points < 4:
        raise ValueError("n_points must be >= 4")
    if not (np.isfinite(wellhead_pressure_psia) and wellhead_pressure_psia > 0):
        raise ValueError(f"wellhead_pressure_psia must be > 0, got {wellhead_pressure_psia}")
    kwargs = dict(correlation=correlation, n_segments=n_segments, pump=pump, gas_lift=gas_lift)
    return solve_with_outflow(ipr, lambda q: bottomhole_pressure(q, fluid, wellbore, wellhead_pressure_psia, **kwargs),
                              correlation=correlation, n_points=n_points)


def solve_with_outflow(ipr: Ipr, outflow: Callable[[np.ndarray], np.ndarray], *, correlation: str,
                       n_points: int = N_CURVE_POINTS) -> NodalResult:
    """Stable intersection of the IPR with the outflow curve ``outflow(q_bpd) -> pwf`` (same pressure datum as
    the IPR; vectorized over a 1-D array of liquid rates, STB/d), with 100-point curves; ``correlation`` names
    the VLP correlation the outflow uses (reported in the result)."""
    if n_points < 4:
        raise ValueError("n_points must be >= 4")
    aof = float(ipr.aof_bpd)
    q_grid = aof * np.arange(1, n_points + 1) / n_points
    vlp = np.asarray(outflow(q_grid), dtype=float)
    diff = ipr.pwf_psi(q_grid) - vlp
    curves = dict(ipr_curve=ipr_curve(ipr, n_points), vlp_curve=np.column_stack([q_grid, vlp]), correlation=str(correlation))

    stable = np.flatnonzero((diff[:-1] > 0) & (diff[1:] <= 0))
    if diff[-1] > 0 or stable.size == 0:
        return assemble_result(ipr, float(diff[-1]), None, None, curves)
    k = stable[-1]
    q_fine = np.linspace(q_grid[k], q_grid[k + 1], N_REFINE_POINTS)
    d_fine = ipr.pwf_psi(q_fine) - np.asarray(outflow(q_fine), dtype=float)
    return assemble_result(ipr, float(diff[-1]), q_fine, d_fine, curves)


def assemble_result(ipr: Ipr, diff_at_aof: float, q_fine: np.ndarray | None, d_fine: np.ndarray | None, curves: dict) -> NodalResult:
    """Result from the scan: inflow-limited when IPR - VLP > 0 at the AOF, no intersection when ``q_fine`` is None,
    otherwise the last + to - sign change of ``d_fine`` (IPR - VLP on the refined rates), linearly interpolated."""
    aof = float(ipr.aof_bpd)
    pr = ipr.reservoir_pressure_psi
    if diff_at_aof > 0:  # VLP below the IPR even at the AOF: inflow is the limit
        return NodalResult(q_bpd=aof, pwf_psi=0.0, aof_bpd=aof, pi_bpd_psi=aof / pr, drawdown_psi=pr, flowing=True,
                           status="inflow_limited", **curves)
    if q_fine is None or d_fine is None:
        return NodalResult(q_bpd=0.0, pwf_psi=float("nan"), aof_bpd=aof, pi_bpd_psi=float("nan"),
                           drawdown_psi=float("nan"), flowing=False, status="no_intersection", **curves)
    j = np.flatnonzero((d_fine[:-1] > 0) & (d_fine[1:] <= 0))
    j = j[-1] if j.size else 0
    q0, q1, d0, d1 = q_fine[j], q_fine[j + 1], d_fine[j], d_fine[j + 1]
    q_op = float(q0 + (q1 - q0) * d0 / (d0 - d1)) if d0 != d1 else float(q0)
    pwf_op = float(ipr.pwf_psi(q_op))
    return NodalResult(q_bpd=q_op, pwf_psi=pwf_op, aof_bpd=aof, pi_bpd_psi=float(ipr.productivity_index(pwf_op)),
                       drawdown_psi=pr - pwf_op, flowing=True, status="flowing", **curves)
