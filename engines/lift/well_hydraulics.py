"""Pump-system hydraulics on a rate grid, from the nodal engine (absolute pressures, psia).

For a pump set at ``pump_md_ft`` the lift optimizers need, for each liquid rate q (STB/d):

* the pump-intake pressure the reservoir supplies, p_in(q) = Pwf_IPR(q) - rho_L g (TVD_perf - TVD_pump),
  with the casing below the pump holding gas-free liquid (the gas is vented up the annulus or enters
  the pump; Takacs 2009, ESP design procedure) and rho_L the in-situ oil/water mixture density at Pwf;
* the pump-discharge pressure the tubing requires, from a top-down traverse (VLP) from the wellhead
  to the pump depth with all the produced gas;
* the free-gas volume fraction at the intake, (GOR - Rs)(1 - wc) Bg (1 - separation) over the in-situ
  total volume, with Rs, Bo, Bw, Bg from the black-oil model at (p_in, T_pump).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.nodal import BlackOilFluid, Ipr, PumpBoost, Wellbore, fluid_state, traverse
from engines.nodal.flow import BBL_TO_FT3 as FT3_PER_BBL


@dataclass(frozen=True)
class PumpCurves:
    """Rate grid (STB/d) with intake / required-discharge pressures (psia) and intake gas fraction."""

    q_bpd: np.ndarray
    intake_psia: np.ndarray
    discharge_psia: np.ndarray
    gas_fraction: np.ndarray
    liquid_sg: float
    pump_temperature_f: float


def liquid_density_lbft3(fluid: BlackOilFluid, p_psia, t_f) -> np.ndarray:
    """In-situ oil + water mixture density (lbm/ft3)."""
    st = fluid_state(fluid, p_psia, t_f)
    wc = fluid.water_cut_frac
    vo, vw = st.bo * (1.0 - wc), st.bw * wc
    return (st.rho_o * vo + st.rho_w * vw) / (vo + vw)


def intake_gas_fraction(fluid: BlackOilFluid, p_psia, t_f, separation_frac: float = 0.0) -> np.ndarray:
    """Free-gas volume fraction at the pump intake (0..1)."""
    if not (0 <= separation_frac <= 1):
        raise ValueError("separation_frac must be in [0, 1]")
    st = fluid_state(fluid, p_psia, t_f)
    wc = fluid.water_cut_frac
    free_scf = np.maximum(fluid.gor_scf_stb - st.rs, 0.0) * (1.0 - wc) * (1.0 - separation_frac)
    gas = free_scf * st.bg
    liquid = FT3_PER_BBL * (st.bo * (1.0 - wc) + st.bw * wc)
    return gas / (gas + liquid)


def pump_curves(ipr: Ipr, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float, pump_md_ft: float,
                q_bpd, correlation: str = "hagedorn_brown", n_segments: int = 40, separation_frac: float = 0.0) -> PumpCurves:
    """Intake and required discharge pressures (psia) and intake gas fraction on the rate grid ``q_bpd``."""
    q = np.asarray(q_bpd, dtype=float)
    if q.ndim != 1 or q.size < 3 or np.any(np.diff(q) <= 0) or q[0] < 0:
        raise ValueError("q_bpd must be an increasing 1-D grid of >= 3 non-negative rates")
    if not (0 < pump_md_ft <= wellbore.total_md_ft):
        raise ValueError("pump_md_ft must lie inside the well")
    tvd_pump = float(wellbore.tvd_at(pump_md_ft))
    t_pump = float(wellbore.temperature_at(pump_md_ft))
    t_bh = wellbore.bottomhole_temperature_f
    pwf = np.nan_to_num(ipr.pwf_psi(q), nan=0.0)
    rho = liquid_density_lbft3(fluid, np.maximum(pwf, 14.696), t_bh)
    p_in = pwf - rho / 144.0 * (wellbore.total_tvd_ft - tvd_pump)
    res = traverse(q, fluid, wellbore, wellhead_pressure_psia=wellhead_pressure_psia, correlation=correlation,
                   n_segments=n_segments, pump=PumpBoost(pump_md_ft, 0.0))
    node = int(np.argmin(np.abs(res.md_ft - pump_md_ft)))
    p_dis = res.pressure_psia[node]
    gvf = intake_gas_fraction(fluid, np.maximum(p_in, 14.696), t_pump, separation_frac)
    sg = float(np.median(liquid_density_lbft3(fluid, np.maximum(p_in, 14.696), t_pump))) / 62.37
    return PumpCurves(q, p_in, p_dis, gvf, sg, t_pump)
