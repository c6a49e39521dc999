"""Simplified VLP: homogeneous (no-slip) mixture, hydrostatic head plus Darcy-Weisbach friction.

The mixture density and viscosity are volume-weighted with the no-slip holdup lambda_L = vsl / vm;
friction uses the Moody (Colebrook) factor at the no-slip Reynolds number; acceleration is neglected.
This is the "homogeneous model" of Brill & Mukherjee (1999) SPE Monograph 17, sec. 4.1, and the exact
single-phase Darcy-Weisbach gradient when only one phase flows. It underestimates the gradient of
slow gas-liquid flow (no slip) and is meant as a fast screening curve.

Matching multipliers as in ``beggs_brill``: the elevation term uses the density at HL' = min(m_H lambda_L, 1)
(exactly the no-slip density when m_H = 1; friction keeps the no-slip density), the friction gradient is
multiplied by m_F.
"""
from __future__ import annotations

import numpy as np

from engines.nodal.flow import InSituFlow
from engines.nodal.friction import moody_friction_factor
from engines.nodal.gradient import GC, PressureGradient


def no_slip_gradient(flow: InSituFlow, diameter_ft: float, roughness_in: float, angle_deg, p_psia, *,
                     holdup_multiplier: float = 1.0, friction_multiplier: float = 1.0) -> PressureGradient:
    """Homogeneous-flow gradient (psi/ft along the pipe)."""
    vm = flow.vsl + flow.vsg
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(vm > 0, flow.vsl / np.where(vm > 0, vm, 1.0), 1.0)
    rho = flow.rho_l * lam + flow.rho_g * (1.0 - lam)
    mu = flow.mu_l * lam + flow.mu_g * (1.0 - lam)
    f = moody_friction_factor(1488.0 * rho * vm * diameter_ft / mu, roughness_in / 12.0 / diameter_ft)
    hl = np.minimum(holdup_multiplier * lam, 1.0)
    rho_s = flow.rho_l * hl + flow.rho_g * (1.0 - hl)
    elevation = rho_s * np.sin(np.radians(angle_deg)) / 144.0
    friction = f * rho * vm * vm / (2.0 * GC * diameter_ft) / 144.0 * friction_multiplier
    return PressureGradient(elevation=elevation, friction=friction, ek=np.zeros_like(elevation), holdup=hl,
                            pattern=np.full(np.shape(elevation), -1))
