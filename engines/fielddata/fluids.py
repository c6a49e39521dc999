"""Fluid-column helpers for the synthetic field (oilfield units)."""
from __future__ import annotations

import numpy as np

#: Pressure gradient of fresh water, psi/ft.
WATER_GRADIENT_PSI_FT = 0.433


def oil_specific_gravity(api):
    """Stock-tank oil specific gravity from API gravity: 141.5 / (131.5 + API)."""
    return 141.5 / (131.5 + np.asarray(api, dtype=float))


def liquid_specific_gravity(api, water_sg, water_cut_frac):
    """Water-cut-weighted liquid specific gravity (dead oil + water, no gas)."""
    return water_cut_frac * water_sg + (1.0 - water_cut_frac) * oil_specific_gravity(api)


def hydraulic_power_kw(q_bpd, dp_psi):
    """Hydraulic power q * dP in kW: 1 bbl/d * 1 psi = 1.84013e-6 m3/s * 6894.76 Pa = 1.26871e-2 W."""
    return 1.26871e-5 * np.asarray(q_bpd) * np.asarray(dp_psi)
