"""Darcy (Moody) friction factor: laminar 64/Re, turbulent Colebrook (1939) solved to machine precision.

Colebrook, C.F. (1939) "Turbulent flow in pipes...", J. Inst. Civil Eng. 11, 133-156:
1/sqrt(f) = -2 log10(eps/(3.7 D) + 2.51/(Re sqrt(f))). Started from Swamee & Jain (1976) and refined by
Newton iteration on x = 1/sqrt(f) (quadratic convergence: three steps reach 1e-12 relative for
Re in [2e3, 1e9] and eps/D up to 0.05). Below Re = 2000 the
flow is laminar (f = 64/Re); the transition band is not interpolated (Moody chart convention).
"""
from __future__ import annotations

import numpy as np

LAMINAR_REYNOLDS = 2000.0


def moody_friction_factor(reynolds, relative_roughness, *, newton_steps: int = 3):
    """Darcy-Weisbach friction factor for Reynolds number(s) and relative roughness eps/D (vectorized)."""
    re, rr = np.broadcast_arrays(np.asarray(reynolds, dtype=float), np.asarray(relative_roughness, dtype=float))
    if np.any(rr < 0):
        raise ValueError("relative roughness must be >= 0")
    re_t = np.maximum(re, LAMINAR_REYNOLDS)
    a = rr / 3.7
    b = 2.51 / re_t
    x = -2.0 * np.log10(a + 5.74 / re_t**0.9)  # Swamee-Jain 1/sqrt(f)
    two_over_ln10 = 2.0 / np.log(10.0)
    for _ in range(newton_steps):
        inner = a + b * x
        x = x - (x + 2.0 * np.log10(inner)) / (1.0 + two_over_ln10 * b / inner)
    turbulent = 1.0 / (x * x)
    with np.errstate(divide="ignore"):
        laminar = 64.0 / np.maximum(re, 1e-300)
    f = np.where(re < LAMINAR_REYNOLDS, laminar, turbulent)
    return f if f.ndim else float(f)
