"""Pump-system hydraulics on a rate grid, from the nodal engine (absolute pressures, psia).

One model of a pumped well's hydraulics serves both the lift optimizers and the nodal operating point at a
setpoint. For a pump set at ``pump_md_ft``, and each liquid rate q (STB/d):

* between the perforations and the pump the flow is in the casing (the tubing ends at the pump), which
  holds gas-free liquid: the gas is vented up the annulus or enters the pump (Takacs 2009, *Electrical
  Submersible Pumps Manual*, ch. 6, design procedure: pump-intake pressure from the flowing bottomhole
  pressure and the liquid gradient). Pwf = p_in + rho_L(Pwf, T_bh) (TVD_perf - TVD_pump) / 144, with
  rho_L the in-situ oil/water mixture density at Pwf and the bottomhole temperature
  (:func:`liquid_column_psi`; inverted for Pwf by :func:`pwf_from_intake_psia`);
* the pump-intake pressure the reservoir supplies is then p_in(q) = Pwf_IPR(q) - that column;
* the pump-discharge pressure the tubing requires, from a top-down traverse (VLP) from the wellhead
  to the pump depth with all the produced gas (:func:`discharge_pressure_psia`);
* the free-gas volume fraction at the intake, (GOR - Rs)(1 - wc) Bg (1 - separation) over the in-situ
  total volume, with Rs, Bo, Bw, Bg from the black-oil model at (p_in, T_pump).

:func:`pump_curves` tabulates these for the optimizers (up to :func:`pumped_rate_limit_bpd`, where the intake
reaches atmospheric pressure); :func:`pumped_outflow` is the outflow (VLP) of
the well with a pump adding ``gain_psi(q)`` at a given setpoint, Pwf(q) = column above
max(p_dis(q) - gain(q), p_min), the pump unable to draw its intake below ``min_intake_psia`` (it
pumps off instead), and :func:`pumped_operating_point` intersects it with the IPR
(:func:`engines.nodal.solve_with_outflow`). At an operating point the pump's gain equals
p_dis - p_in on both paths, so the optimizer's rate at a setpoint and the nodal rate agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engines.nodal import MAX_PRESSURE_PSIA, BlackOilFluid, Ipr, NodalResult, PumpBoost, Wellbore, fluid_state, solve_with_outflow, traverse
from engines.nodal.flow import BBL_TO_FT3 as FT3_PER_BBL
from engines.nodal.pvt import STANDARD_PRESSURE_PSIA

#: fixed-point iterations of :func:`pwf_from_intake_psia` at most, and the change (psi) that stops them
COLUMN_MAX_ITERATIONS = 50
COLUMN_TOLERANCE_PSI = 1e-7


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


def liquid_column_psi(fluid: BlackOilFluid, pwf_psia, t_f: float, height_ft: float) -> np.ndarray:
    """Pressure (psi) of the gas-free liquid column between the pump intake and the perforations,
    rho_L(Pwf, T) h / 144, rho_L from :func:`liquid_density_lbft3` at max(Pwf, 14.696 psia)."""
    rho = liquid_density_lbft3(fluid, np.maximum(np.asarray(pwf_psia, dtype=float), STANDARD_PRESSURE_PSIA), t_f)
    return rho / 144.0 * height_ft


def pwf_from_intake_psia(fluid: BlackOilFluid, intake_psia, t_f: float, height_ft: float) -> np.ndarray:
    """Flowing bottomhole pressure (psia) under a pump-intake pressure ``intake_psia``: the root of
    Pwf = p_in + :func:`liquid_column_psi` (Pwf), by fixed-point iteration (a contraction: the column's
    pressure derivative, h/144 d(rho_L)/dp, is far below 1)."""
    p_in = np.asarray(intake_psia, dtype=float)
    pwf = p_in + liquid_column_psi(fluid, p_in, t_f, height_ft)
    for _ in range(COLUMN_MAX_ITERATIONS):
        new = p_in + liquid_column_psi(fluid, pwf, t_f, height_ft)
        done = np.max(np.abs(new - pwf), initial=0.0) < COLUMN_TOLERANCE_PSI
        pwf = new
        if done:
            break
    return pwf


def _pump_section(wellbore: Wellbore, pump_md_ft: float) -> tuple[float, float]:
    """(liquid-column height TVD_perf - TVD_pump in ft, bottomhole temperature degF) below a pump at ``pump_md_ft``."""
    if not (0 < pump_md_ft <= wellbore.total_md_ft):
        raise ValueError("pump_md_ft must lie inside the well")
    return wellbore.total_tvd_ft - float(wellbore.tvd_at(pump_md_ft)), wellbore.bottomhole_temperature_f


def pumped_rate_limit_bpd(ipr: Ipr, fluid: BlackOilFluid, wellbore: Wellbore, pump_md_ft: float) -> float:
    """Largest rate (STB/d) the reservoir gives a pump at ``pump_md_ft``: the inflow at the Pwf whose liquid
    column leaves atmospheric pressure (14.696 psia) at the intake; 0 when that Pwf reaches the reservoir
    pressure (the reservoir cannot hold a liquid column up to the pump)."""
    height, t_bh = _pump_section(wellbore, pump_md_ft)
    pwf = float(pwf_from_intake_psia(fluid, STANDARD_PRESSURE_PSIA, t_bh, height))
    if pwf >= ipr.reservoir_pressure_psi:
        return 0.0
    return max(float(ipr.rate_bpd(pwf)), 0.0)


def discharge_pressure_psia(q_bpd, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float, pump_md_ft: float,
                            correlation: str = "hagedorn_brown", n_segments: int = 40) -> np.ndarray:
    """Pump-discharge pressure (psia) the tubing requires at each liquid rate: the top-down traverse from the
    wellhead to the pump depth (a segment boundary) with all the produced gas."""
    res = traverse(q_bpd, fluid, wellbore, wellhead_pressure_psia=wellhead_pressure_psia, correlation=correlation,
                   n_segments=n_segments, pump=PumpBoost(pump_md_ft, 0.0))
    node = int(np.argmin(np.abs(res.md_ft - pump_md_ft)))
    return res.pressure_psia[node]


def pump_curves(ipr: Ipr, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float, pump_md_ft: float,
                q_bpd, correlation: str = "hagedorn_brown", n_segments: int = 40, separation_frac: float = 0.0) -> PumpCurves:
    """Intake and required discharge pressures (psia) and intake gas fraction on the rate grid ``q_bpd``."""
    q = np.asarray(q_bpd, dtype=float)
    if q.ndim != 1 or q.size < 3 or np.any(np.diff(q) <= 0) or q[0] < 0:
        raise ValueError("q_bpd must be an increasing 1-D grid of >= 3 non-negative rates")
    height, t_bh = _pump_section(wellbore, pump_md_ft)
    t_pump = float(wellbore.temperature_at(pump_md_ft))
    pwf = np.nan_to_num(ipr.pwf_psi(q), nan=0.0)
    p_in = pwf - liquid_column_psi(fluid, pwf, t_bh, height)
    p_dis = discharge_pressure_psia(q, fluid, wellbore, wellhead_pressure_psia, pump_md_ft, correlation, n_segments)
    gvf = intake_gas_fraction(fluid, np.maximum(p_in, 14.696), t_pump, separation_frac)
    sg = float(np.median(liquid_density_lbft3(fluid, np.maximum(p_in, 14.696), t_pump))) / 62.37
    return PumpCurves(q, p_in, p_dis, gvf, sg, t_pump)


def pumped_outflow(fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float, pump_md_ft: float,
                   gain_psi: Callable[[np.ndarray], np.ndarray], *, correlation: str = "hagedorn_brown", n_segments: int = 40,
                   min_intake_psia: float = STANDARD_PRESSURE_PSIA) -> Callable[[np.ndarray], np.ndarray]:
    """Outflow (VLP) of a pumped well, liquid rates (STB/d) -> Pwf (psia): the discharge pressure the tubing
    requires, less the pump's pressure gain ``gain_psi(q)`` (psi, at the pump's setpoint), gives the intake
    pressure, held at or above ``min_intake_psia`` (a pump that could draw its intake lower pumps off: the
    fluid level stands at the intake), and the liquid column below the pump gives Pwf (module docstring)."""
    height, t_bh = _pump_section(wellbore, pump_md_ft)
    if not (np.isfinite(min_intake_psia) and min_intake_psia > 0):
        raise ValueError(f"min_intake_psia must be a finite pressure > 0 psia, got {min_intake_psia}")

    def outflow(q_bpd) -> np.ndarray:
        q = np.asarray(q_bpd, dtype=float)
        p_dis = discharge_pressure_psia(q, fluid, wellbore, wellhead_pressure_psia, pump_md_ft, correlation, n_segments)
        p_in = np.clip(p_dis - np.asarray(gain_psi(q), dtype=float), min_intake_psia, MAX_PRESSURE_PSIA)
        return pwf_from_intake_psia(fluid, p_in, t_bh, height)

    return outflow


def pumped_operating_point(ipr: Ipr, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float,
                           pump_md_ft: float, gain_psi: Callable[[np.ndarray], np.ndarray], *,
                           correlation: str = "hagedorn_brown", n_segments: int = 40,
                           min_intake_psia: float = STANDARD_PRESSURE_PSIA) -> NodalResult:
    """Stable IPR / pumped-outflow intersection (:func:`pumped_outflow`) with 100-point curves (psia, STB/d)."""
    outflow = pumped_outflow(fluid, wellbore, wellhead_pressure_psia, pump_md_ft, gain_psi, correlation=correlation,
                             n_segments=n_segments, min_intake_psia=min_intake_psia)
    return solve_with_outflow(ipr, outflow, correlation=correlation)
