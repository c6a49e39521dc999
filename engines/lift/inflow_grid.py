"""The inflow grid a pump system is evaluated on: intake pressure (psi) -> reservoir inflow (STB/d)."""
from __future__ import annotations

import numpy as np


def sorted_inflow_grid(intake_pressure_grid_psi, inflow_grid_bpd, *aligned) -> tuple[np.ndarray, ...]:
    """Validate the grid (finite 1-D arrays of equal length >= 2) and return it sorted by pressure,
    with negative inflow clipped to zero; each array of ``aligned`` (same length, e.g. the discharge
    pressure at each grid rate) is validated and returned in the same order after them."""
    p = np.asarray(intake_pressure_grid_psi, dtype=float)
    q = np.asarray(inflow_grid_bpd, dtype=float)
    if p.ndim != 1 or p.shape != q.shape or p.size < 2 or not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("intake_pressure_grid_psi and inflow_grid_bpd must be finite 1-D arrays of equal length >= 2")
    extra = [np.asarray(a, dtype=float) for a in aligned]
    if any(a.shape != p.shape or not np.all(np.isfinite(a)) for a in extra):
        raise ValueError("arrays on the inflow grid must be finite with the grid's length")
    order = np.argsort(p, kind="stable")
    return (p[order], np.maximum(q[order], 0.0), *(a[order] for a in extra))
