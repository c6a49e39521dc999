"""In-situ flow description at one point of the pipe: superficial velocities and phase properties.

Black-oil volume balance (Brill & Mukherjee 1999, ch. 3): per STB of oil, Bo bbl of oil, (GOR - Rs) scf
of free gas at Bg ft3/scf; water at Bw. The liquid is an oil/water mixture averaged by in-situ volume
fraction (no slip between oil and water, no emulsion viscosity), as in the Beggs & Brill and
Hagedorn & Brown papers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.nodal.pvt import BlackOilFluid, FluidState

BBL_TO_FT3 = 5.614583
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class InSituFlow:
    """Superficial velocities (ft/s) and phase properties (lbm/ft3, cp, dyne/cm), arrays broadcast together.

    dvm_dp: pressure derivative of the mixture velocity vsl + vsg at constant mass flow (ft/s per psi,
    negative when the mixture expands as pressure falls); 0 when not known (no kinetic-energy term).
    """

    vsl: np.ndarray
    vsg: np.ndarray
    rho_l: np.ndarray
    rho_g: np.ndarray
    mu_l: np.ndarray
    mu_g: np.ndarray
    sigma_l: np.ndarray
    dvm_dp: np.ndarray | float = 0.0


def in_situ_flow(fluid: BlackOilFluid, state: FluidState, q_liquid_stb_d, area_ft2: float, injected_gas_scf_d=0.0) -> InSituFlow:
    """Superficial velocities and mixture properties for a stock-tank liquid rate (STB/d).

    ``injected_gas_scf_d`` is extra free gas (gas-lift injection) of the same gravity as the produced gas.
    """
    q = np.asarray(q_liquid_stb_d, dtype=float)
    wc = fluid.water_cut_frac
    q_oil = q * (1.0 - wc)
    oil_ft3_d = q_oil * state.bo * BBL_TO_FT3
    water_ft3_d = q * wc * state.bw * BBL_TO_FT3
    free_gas_per_stb = fluid.gor_scf_stb - state.rs
    free_gas_scf_d = q_oil * np.maximum(free_gas_per_stb, 0.0) + injected_gas_scf_d
    scale = 1.0 / (SECONDS_PER_DAY * area_ft2)
    # d(free gas)/dp: gas leaves solution as Rs falls (only while some gas is free)
    d_free_gas = np.where(free_gas_per_stb > 0.0, -q_oil * state.drs_dp, 0.0)
    dvm_dp = ((q_oil * state.dbo_dp + q * wc * state.dbw_dp) * BBL_TO_FT3
              + d_free_gas * state.bg + free_gas_scf_d * state.dbg_dp) * scale
    f_oil = (1.0 - wc) * state.bo / ((1.0 - wc) * state.bo + wc * state.bw)
    f_water = 1.0 - f_oil
    return InSituFlow(
        vsl=(oil_ft3_d + water_ft3_d) * scale,
        vsg=free_gas_scf_d * state.bg * scale,
        rho_l=f_oil * state.rho_o + f_water * state.rho_w,
        rho_g=state.rho_g,
        mu_l=f_oil * state.mu_o + f_water * state.mu_w,
        mu_g=state.mu_g,
        sigma_l=f_oil * state.sigma_o + f_water * state.sigma_w,
        dvm_dp=dvm_dp,
    )
