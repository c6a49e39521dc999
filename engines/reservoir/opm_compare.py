"""Step-by-step comparison of the built-in simulator with OPM Flow on the same deck.

Both run the case with the Eclipse pore-volume law (OPM's ROCK: phi_ref [1 + X + X^2/2]) and fixed
report steps; rates are the implicit end-of-step field oil rates (FOPR), cumulatives FOPT.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from engines.reservoir.case import PlacementCase, plan_to_mask
from engines.reservoir.opm import run_flow, write_deck
from engines.reservoir.simulator import BatchSimulator


@dataclass(frozen=True)
class FlowComparison:
    """Per-step field rates (STB/d) and cumulatives (STB) of both simulators and their largest
    relative differences; wall times in seconds (measured here, outside the engines' pure core)."""

    columns: tuple
    time_days: np.ndarray
    builtin_rate_stb_d: np.ndarray
    flow_rate_stb_d: np.ndarray
    builtin_cum_stb: np.ndarray
    flow_cum_stb: np.ndarray
    max_rate_rel_diff: float
    max_cum_rel_diff: float
    builtin_wall_s: float
    flow_wall_s: float


def compare_with_flow(case: PlacementCase, columns, *, timeout_s: float = 600.0) -> FlowComparison:
    """Run the plan ``columns`` in both simulators (OPM Flow must be installed)."""
    cols = tuple(sorted(int(c) for c in columns))
    res = dataclasses.replace(case.reservoir, rock_law="eclipse")
    ecl_case = dataclasses.replace(case, reservoir=res)
    t0 = time.perf_counter()
    summary = run_flow(write_deck(ecl_case, cols), timeout_s=timeout_s)
    t1 = time.perf_counter()
    sim = BatchSimulator(res, case.wells, case.dt_days, newton_tol_psi=1e-8)
    out = sim.run(plan_to_mask(cols, res.n_columns)[None])
    t2 = time.perf_counter()
    fr, fc = summary.get("FOPR"), summary.get("FOPT")
    if fr.size != out.time_days.size or not np.allclose(summary.time_days, out.time_days, atol=1e-6):
        raise RuntimeError("OPM Flow report steps do not match the case schedule")
    br, bc = out.oil_rate_stb_d[0], out.cumulative_oil_stb[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        dr = np.where(fr > 0, np.abs(br / fr - 1), np.abs(br - fr))
        dc = np.where(fc > 0, np.abs(bc / fc - 1), np.abs(bc - fc))
    return FlowComparison(cols, out.time_days, br, fr, bc, fc, float(dr.max()), float(dc.max()), t2 - t1, t1 - t0)
