"""The inflow grid a pump system is evaluated on: intake pressure (psia) -> reservoir inflow (STB/d)."""
from __future__ import annotations

import numpy as np


def sorted_inflow_grid(intake_pressure_grid_psi, inflow_grid_bpd) -> tuple[np.ndarray, np.ndarray]:
    """Validate the grid (finite 1-D arrays of equal length >= 2) and return it sorted by pressure,
    with negative inflow clipped to zero."""
    p = np.asarray(intake_pressure_grid_psi, dtype=float)
    q = np.asarray(inflow_grid_bpd, dtype=float)
    if p.ndim != 1 or p.shape != q.shape or p.size < 2 or not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("intake_pressure_grid_psi and inflow_grid_bpd must be finite 1-D arrays of equal length >= 2")
    order = np.argsort(p)
    return p[order], np.maximum(q[order], 0.0)
