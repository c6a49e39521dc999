"""Lift optimizers: ESP (frequency), SRP (strokes per minute, Gibbs wave equation), PCP (RPM, Arrhenius
elastomer life) and continuous gas lift (injection rate, field-wide equal-slope allocation).

Each lift type has a problem dataclass (``EspSystem``, ``SrpSystem``, ``PcpSystem``, ``Glpc``) separate
from its algorithm (``optimize_frequency``, ``optimize_spm``, ``optimize_rpm``, ``glpc_optimum`` /
``allocate_gas_equal_slope``). Inflow and tubing come from :mod:`engines.nodal` through
:mod:`engines.lift.well_hydraulics` and :func:`engines.lift.gas_lift.glpc_from_nodal`; the same
hydraulics give the nodal operating point at a setpoint (:func:`pumped_operating_point` with a pump's
``pump_pressure_gain_psi``: ESP head by the affinity laws, SRP and PCP displacement less rod stretch / slip).
"""
from engines.lift.elastomer import (ELASTOMERS, Elastomer, Environment, derated_max_temperature_c, life_days,
                                    remaining_life)
from engines.lift.esp import EspRecommendation, EspSystem, FrequencyScan, optimize_frequency, scan_frequencies
from engines.lift.esp import pump_pressure_gain_psi as esp_pressure_gain_psi
from engines.lift.esp_catalogue import PumpCurve, load_pump_catalogue
from engines.lift.gas_allocation import Allocation, allocate_gas_equal_slope, allocate_gas_lp, concave_hull
from engines.lift.gas_lift import (Glpc, GlpcOptimum, casing_pressure_at_depth_psia, detect_casing_heading, glpc_from_nodal,
                                   glpc_optimum, valve_stability)
from engines.lift.pcp import PcpRecommendation, PcpSystem, hydraulic_torque_ftlbf, optimize_rpm, scan_rpm
from engines.lift.pcp import pump_pressure_gain_psi as pcp_pressure_gain_psi
from engines.lift.rod_loading import free_fall_spm, goodman_loading_pct, rod_fall_limit_spm, rod_string_loading
from engines.lift.rod_string import RodString, RodTaper
from engines.lift.srp import SrpRecommendation, SrpSystem, optimize_spm, scan_spm
from engines.lift.srp import pump_pressure_gain_psi as srp_pressure_gain_psi
from engines.lift.srp_card import CARD_CLASSES, CardAnalysis, analyze_pump_card, pump_displacement_bpd
from engines.lift.srp_predictive import PUMP_CONDITIONS, PumpCondition, predict_cards
from engines.lift.srp_wave import Card, DownholeResult, damping_work_ftlbf, downhole_card_fd, downhole_card_fourier
from engines.lift.well_hydraulics import (PumpCurves, liquid_column_psi, pump_curves, pumped_operating_point, pumped_outflow,
                                          pumped_rate_limit_bpd, pwf_from_intake_psia)

__all__ = [
    "Allocation", "CARD_CLASSES", "Card", "CardAnalysis", "DownholeResult", "ELASTOMERS", "Elastomer", "Environment",
    "EspRecommendation", "EspSystem", "FrequencyScan", "Glpc", "GlpcOptimum", "PUMP_CONDITIONS", "PcpRecommendation",
    "PcpSystem", "PumpCondition", "PumpCurve", "PumpCurves", "RodString", "RodTaper", "SrpRecommendation", "SrpSystem",
    "allocate_gas_equal_slope", "allocate_gas_lp", "analyze_pump_card", "casing_pressure_at_depth_psia", "concave_hull",
    "damping_work_ftlbf", "derated_max_temperature_c", "detect_casing_heading", "downhole_card_fd", "downhole_card_fourier",
    "esp_pressure_gain_psi", "free_fall_spm", "glpc_from_nodal", "glpc_optimum", "goodman_loading_pct", "hydraulic_torque_ftlbf", "life_days",
    "liquid_column_psi", "load_pump_catalogue", "optimize_frequency", "optimize_rpm", "optimize_spm", "pcp_pressure_gain_psi", "predict_cards", "pump_curves",
    "pumped_operating_point", "pumped_outflow", "pumped_rate_limit_bpd", "pwf_from_intake_psia",
    "pump_displacement_bpd", "remaining_life", "rod_fall_limit_spm", "rod_string_loading", "scan_frequencies", "scan_rpm",
    "scan_spm", "srp_pressure_gain_psi", "valve_stability",
]
