"""Nodal analysis: IPR models, black-oil PVT, VLP correlations and the IPR/VLP operating point.

Public API (pressures psia unless stated, rates STB/d of liquid, depths ft, temperatures degF):

- IPR: :class:`VogelIpr`, :class:`DarcyIpr`, :class:`CompositeIpr`, :class:`FetkovichIpr`,
  :class:`JonesIpr` (``rate_bpd(pwf)``, ``pwf_psi(q)``, ``aof_bpd``, ``productivity_index(pwf)``,
  ``from_test`` / ``fit``), :func:`ipr_from_test`, :func:`darcy_productivity_index`.
- Fluid: :class:`BlackOilFluid` (optional ``rsb_scf_stb`` below the producing GOR: free gas at every pressure),
  :func:`fluid_state` (all phase properties at p, T, with their pressure derivatives), :func:`z_factor_dak`.
- Wellbore: :class:`Wellbore` (``vertical``, ``from_survey``).
- VLP: :func:`bottomhole_pressure` (VLP curve for an array of rates, optional :class:`PumpBoost` and
  :class:`GasInjection`), :func:`traverse` (pressure vs depth, top-down or bottom-up, fixed or adaptive
  segments ``max_dp_psi``), ``CORRELATIONS`` ("beggs_brill", "beggs_brill_original", "hagedorn_brown",
  "hagedorn_brown_original", "hagedorn_brown_guo", "no_slip"), and the gradient functions :func:`beggs_brill_gradient`, :func:`hagedorn_brown_gradient`,
  :func:`no_slip_gradient`. :class:`MatchedCorrelation` (a correlation with holdup and friction multipliers, from
  :func:`engines.nodal.matching.match_vlp`, PROSPER-style VLP matching to well tests) is accepted wherever a
  correlation name is. Wellbore temperature surveys, CO2/H2S (Wichert & Aziz 1972) and any segment count >= 1. Traverses run in the compiled kernel (:mod:`engines.nodal.kernel`, numba) by
  default; ``backend="numpy"`` runs the NumPy reference implementation (same pressures to 1e-9).
- Operating point: :func:`solve_operating_point` -> :class:`NodalResult`; :func:`solve_with_outflow` (the same
  intersection against any outflow curve q -> Pwf).
- Fleet (many wells in one pass, natural flow; wells spread over NUMBA_NUM_THREADS threads): :func:`solve_fleet`,
  :func:`fleet_bottomhole_pressure`, :func:`stack_fluids`.
"""
from engines.nodal.beggs_brill import beggs_brill_gradient
from engines.nodal.fleet import fleet_bottomhole_pressure, solve_fleet
from engines.nodal.flow import InSituFlow, in_situ_flow
from engines.nodal.gradient import PressureGradient
from engines.nodal.hagedorn_brown import hagedorn_brown_gradient
from engines.nodal.ipr import (
    IPR_MODELS,
    CompositeIpr,
    DarcyIpr,
    FetkovichIpr,
    Ipr,
    JonesIpr,
    VogelIpr,
    darcy_productivity_index,
    ipr_from_test,
)
from engines.nodal.no_slip import no_slip_gradient
from engines.nodal.operating_point import NodalResult, ipr_curve, solve_operating_point, solve_with_outflow
from engines.nodal.pvt import BlackOilFluid, FluidState, fluid_state, stack_fluids
from engines.nodal.traverse import (CORRELATIONS, MAX_PRESSURE_PSIA, GasInjection, MatchedCorrelation, PumpBoost, TraverseResult,
                                    bottomhole_pressure, traverse)
from engines.nodal.wellbore import Wellbore
from engines.nodal.zfactor import gas_z_factor, wichert_aziz, z_factor_dak

__all__ = [
    "BlackOilFluid", "CORRELATIONS", "CompositeIpr", "DarcyIpr", "FetkovichIpr", "FluidState", "GasInjection",
    "IPR_MODELS", "InSituFlow", "MAX_PRESSURE_PSIA", "Ipr", "JonesIpr", "MatchedCorrelation", "NodalResult", "PressureGradient", "PumpBoost", "TraverseResult",
    "VogelIpr", "Wellbore", "beggs_brill_gradient", "bottomhole_pressure", "darcy_productivity_index", "fluid_state",
    "gas_z_factor", "hagedorn_brown_gradient", "in_situ_flow", "ipr_curve", "ipr_from_test", "no_slip_gradient",
    "fleet_bottomhole_pressure", "solve_fleet", "solve_operating_point", "solve_with_outflow", "stack_fluids", "traverse", "wichert_aziz", "z_factor_dak",
]
