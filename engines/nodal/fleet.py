"""Nodal analysis of many wells at once: one vectorized traverse over (wells x rates).

Per-well Python overhead dominates a single-well solve, so for the hourly fleet run all wells are
traversed in one call: by default the compiled kernel spreads the wells over the numba threads; the
NumPy backend evaluates every property and gradient on an (n_wells, n_rates) array.
Each well's path is cut into the same number of equal measured-depth segments (survey stations are
interpolated, not inserted), natural flow only (no pump or gas-lift hooks). To keep the hourly run
cheap the VLP is traversed at ``n_grid`` rates (default 25, evenly spaced from AOF/100 to the AOF), the stable
crossing is refined with ``n_refine`` traversed rates inside its bracket, and the 100-point dashboard
VLP curve is the monotone cubic (PCHIP) interpolant of the traversed grid (set ``n_grid = n_points``
to traverse every curve point). Operating points match :func:`solve_operating_point` per well up to
the discretization difference (checked in the tests).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from engines.nodal.flow import in_situ_flow
from engines.nodal.ipr import Ipr
from engines.nodal.operating_point import N_CURVE_POINTS, NodalResult, assemble_result, ipr_curve
from engines.nodal.pvt import STANDARD_PRESSURE_PSIA, BlackOilFluid, fluid_state, stack_fluids
from engines.nodal.kernel import fluid_matrix, run_march_fleet
from engines.nodal.traverse import MAX_PRESSURE_PSIA, CorrelationSpec, _check_backend, _kernel_flags, correlation_gradient, resolve_correlation
from engines.nodal.wellbore import Wellbore


def fleet_bottomhole_pressure(q_bpd: np.ndarray, fluids: BlackOilFluid | Sequence[BlackOilFluid], wellbores: Sequence[Wellbore],
                              wellhead_pressure_psia, *, correlation: CorrelationSpec = "beggs_brill", n_segments: int = 50,
                              backend: str = "compiled") -> np.ndarray:
    """VLP of every well: bottomhole pressure (psia) for rates ``q_bpd`` of shape (n_wells, n_rates) (STB/d).

    ``backend`` "compiled" runs :func:`engines.nodal.kernel.run_march_fleet` (blocks of wells over
    NUMBA_NUM_THREADS threads); "numpy" the vectorized reference below. Same pressures to 1e-9. A
    :class:`~engines.nodal.traverse.MatchedCorrelation` applies its multipliers to every well of the call.
    """
    _, holdup_mult, friction_mult = resolve_correlation(correlation)
    _check_backend(backend)
    q = np.asarray(q_bpd, dtype=float)
    n_wells = len(wellbores)
    if q.ndim != 2 or q.shape[0] != n_wells:
        raise ValueError("q_bpd must have shape (n_wells, n_rates)")
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError("rates must be finite and >= 0")
    fluid = fluids if isinstance(fluids, BlackOilFluid) else stack_fluids(fluids)
    frac = np.linspace(0.0, 1.0, n_segments + 1)
    md = np.array([w.total_md_ft * frac for w in wellbores]).T  # (n_nodes, n_wells)
    tvd = np.array([w.tvd_at(md[:, i]) for i, w in enumerate(wellbores)]).T
    temp = np.array([np.broadcast_to(w.temperature_at(md[:, i]), md[:, i].shape) for i, w in enumerate(wellbores)]).T
    d_md = np.diff(md, axis=0)[..., None]  # (n_seg, n_wells, 1)
    angle = np.degrees(np.arcsin(np.clip(np.diff(tvd, axis=0)[..., None] / d_md, -1.0, 1.0)))
    t_mid = (0.5 * (temp[1:] + temp[:-1]))[..., None]
    diameter = np.array([w.diameter_ft for w in wellbores])[:, None]
    area = np.array([w.area_ft2 for w in wellbores])[:, None]
    rough = np.array([w.roughness_in for w in wellbores])[:, None]
    p_wh = np.broadcast_to(np.asarray(wellhead_pressure_psia, dtype=float).reshape(-1), (n_wells,)).astype(float)
    flags = _kernel_flags(correlation)
    if backend == "compiled" and flags is not None:
        return run_march_fleet(np.ascontiguousarray(q), p_wh, np.ascontiguousarray(md.T), np.ascontiguousarray(tvd.T),
                               np.ascontiguousarray(temp.T), fluid_matrix(fluid), diameter[:, 0].copy(), area[:, 0].copy(),
                               rough[:, 0] / 12.0 / diameter[:, 0], flags[0], flags[1], None, holdup_mult, friction_mult)
    gradient = correlation_gradient(correlation)

    def grad(p, seg, t_f):
        p_eval = np.minimum(np.maximum(p, STANDARD_PRESSURE_PSIA), MAX_PRESSURE_PSIA)
        flow = in_situ_flow(fluid, fluid_state(fluid, p_eval, t_f), q, area)
        return gradient(flow, diameter, rough, angle[seg], p_eval).total

    p = np.broadcast_to(p_wh[:, None], q.shape).astype(float)
    g_prev = grad(p, 0, temp[0][:, None])
    for seg in range(n_segments):
        g = grad(p + 0.5 * g_prev * d_md[seg], seg, t_mid[seg])
        p = np.minimum(p + g * d_md[seg], MAX_PRESSURE_PSIA)
        g_prev = g
    return p


def solve_fleet(iprs: Sequence[Ipr], fluids: Sequence[BlackOilFluid], wellbores: Sequence[Wellbore], wellhead_pressures_psia,
                *, correlation: CorrelationSpec = "beggs_brill", n_segments: int = 50, n_points: int = N_CURVE_POINTS, n_grid: int = 25,
                n_refine: int = 8, backend: str = "compiled") -> list[NodalResult]:
    """Operating point of every well (same rules as :func:`solve_operating_point`), vectorized across wells."""
    n = len(iprs)
    if n_grid < 4 or n_refine < 2 or n_points < 2:
        raise ValueError("need n_grid >= 4, n_refine >= 2 and n_points >= 2")
    if not (len(fluids) == len(wellbores) == n) or n == 0:
        raise ValueError("iprs, fluids and wellbores must be non-empty and of equal length")
    pwh = np.broadcast_to(np.asarray(wellhead_pressures_psia, dtype=float), (n,))
    if not np.all(np.isfinite(pwh) & (pwh > 0)):
        raise ValueError("wellhead pressures must be > 0 psia")
    fluid = stack_fluids(fluids)
    aof = np.array([ipr.aof_bpd for ipr in iprs])
    u_grid = np.linspace(1.0 / n_points, 1.0, n_grid)  # rate as a fraction of each well's AOF; spans the curve
    q_grid = aof[:, None] * u_grid[None, :]
    vlp = fleet_bottomhole_pressure(q_grid, fluid, wellbores, pwh, correlation=correlation, n_segments=n_segments, backend=backend)
    u_curve = np.arange(1, n_points + 1) / n_points
    vlp_curve = vlp if n_grid == n_points else PchipInterpolator(u_grid, vlp, axis=1)(u_curve)
    q_curve = aof[:, None] * u_curve[None, :]
    diff = np.array([ipr.pwf_psi(q_grid[i]) for i, ipr in enumerate(iprs)]) - vlp
    stable = (diff[:, :-1] > 0) & (diff[:, 1:] <= 0)
    has = stable.any(axis=1)
    k = np.where(has, n_grid - 2 - np.argmax(stable[:, ::-1], axis=1), 0)  # last stable crossing
    rows = np.arange(n)
    t = np.linspace(0.0, 1.0, n_refine)
    q_fine = q_grid[rows, k][:, None] + (q_grid[rows, k + 1] - q_grid[rows, k])[:, None] * t[None, :]
    d_fine = np.array([ipr.pwf_psi(q_fine[i]) for i, ipr in enumerate(iprs)]) - fleet_bottomhole_pressure(
        q_fine, fluid, wellbores, pwh, correlation=correlation, n_segments=n_segments, backend=backend)
    results = []
    for i, ipr in enumerate(iprs):
        curves = dict(ipr_curve=ipr_curve(ipr, n_points), vlp_curve=np.column_stack([q_curve[i], vlp_curve[i]]), correlation=str(correlation))
        crossing = has[i] and diff[i, -1] <= 0
        results.append(assemble_result(ipr, float(diff[i, -1]), q_fine[i] if crossing else None, d_fine[i] if crossing else None, curves))
    return results
