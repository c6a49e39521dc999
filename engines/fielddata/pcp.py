"""PCP well model of the synthetic field (vectorized over wells x time steps).

Delivered rate q = d N (1 - slip), slip = c_s dP / dP_rated (slip grows with differential pressure;
Moineau pump, Nelik & Brennan 2005 / Dunn 2006 "Progressing Cavity Pumping Systems" ch. 3), solved
with the composite IPR by fixed-point iteration; intake pressure = pwf - G (D_perf - D_pump), floored
at the pumped-off level. Torque = hydraulic torque 0.08936 d dP (ft*lbf; d in bbl/d/rpm, dP psi:
V_rev dP / 2 pi) + interference friction torque. Surface power = T N / 5252 hp / 0.85 drive
efficiency; current = P / (sqrt(3) 460 V 0.85 pf); motor temperature = 80 degF + 60 (I / I_rated)^2.
"""
from __future__ import annotations

import numpy as np

from engines.fielddata import fluids, inflow
from engines.fielddata.reservoir import wellhead_temperature_f

HYDRAULIC_TORQUE_FTLBF_PER_BPD_RPM_PSI = 0.08936
DRIVE_EFFICIENCY = 0.85
VOLTAGE_V = 460.0
POWER_FACTOR = 0.85
SLIP_COEFFICIENT = 0.10


def draw(rng: np.random.Generator, common: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PCP-specific static parameters; ``setpoint`` is the rotor speed (rpm)."""
    n = common["reservoir_pressure_psi"].size
    p = dict(common)
    pr, pb = p["reservoir_pressure_psi"], p["bubble_point_psi"]
    p["pump_depth_ft"] = np.round(p["perforation_depth_ft"] - rng.uniform(100.0, 300.0, n))
    p["displacement_bpd_per_rpm"] = rng.uniform(0.8, 1.6, n)
    p["setpoint"] = np.round(rng.uniform(150.0, 280.0, n))
    grad = fluids.WATER_GRADIENT_PSI_FT * p["liquid_sg"]
    pwf_design = 0.5 * pr
    intake = pwf_design - grad * (p["perforation_depth_ft"] - p["pump_depth_ft"])
    dp = p["wellhead_pressure_psi"] + grad * p["pump_depth_ft"] - intake
    p["pump_rated_lift_psi"] = np.ceil(1.5 * dp / 100.0) * 100.0
    q = p["displacement_bpd_per_rpm"] * p["setpoint"] * (1.0 - SLIP_COEFFICIENT * dp / p["pump_rated_lift_psi"])
    p["productivity_index_bpd_psi"] = q / inflow.rate_bpd(pwf_design, pr, pb, 1.0)
    p["intake_min_psi"] = p["casing_head_psi"] + 30.0 * grad
    p["friction_torque_ftlbf"] = rng.uniform(60.0, 120.0, n)
    torque = HYDRAULIC_TORQUE_FTLBF_PER_BPD_RPM_PSI * p["displacement_bpd_per_rpm"] * dp + p["friction_torque_ftlbf"]
    kw = torque * p["setpoint"] / 5252.0 * 0.7457 / DRIVE_EFFICIENCY
    p["motor_hp"] = np.ceil(1.5 * kw / 0.7457 / 5.0) * 5.0
    p["rated_current_a"] = p["motor_hp"] * 745.7 / (np.sqrt(3.0) * VOLTAGE_V * POWER_FACTOR * DRIVE_EFFICIENCY)
    p["rod_torque_limit_ftlbf"] = np.ceil(2.5 * torque / 50.0) * 50.0
    return p


def attributes(p: dict[str, np.ndarray], i: int) -> dict:
    """PCP-specific ``PcpWellConfig`` attributes of well ``i``."""
    return {
        "productivity_index_bpd_psi": float(p["productivity_index_bpd_psi"][i]),
        "pump_depth_ft": float(p["pump_depth_ft"][i]),
        "displacement_bpd_per_rpm": float(p["displacement_bpd_per_rpm"][i]),
        "pump_rated_lift_psi": float(p["pump_rated_lift_psi"][i]),
        "rod_torque_limit_ftlbf": float(p["rod_torque_limit_ftlbf"][i]),
        "motor_hp": float(p["motor_hp"][i]),
        "rpm_min": 50.0,
        "rpm_max": 400.0,
    }


def simulate(p, sev, z, step) -> dict[str, np.ndarray]:
    """Telemetry (n_wells, n_steps) for severities ``sev[fault]`` and standard-normal noise ``z[key]``."""
    col = lambda k: p[k][:, None]  # noqa: E731
    s_wear, s_sand, s_ovl = sev["pump_wear"], sev["sand_up"], sev["motor_overload"]
    s_spk, s_lip, s_thp, s_slip = sev["torque_spike"], sev["low_intake_pressure"], sev["high_tubing_pressure"], sev["increasing_slip"]
    rpm = col("setpoint") * (1.0 + 0.002 * z["rpm"])
    pr = col("reservoir_pressure_psi") * (1.0 - 0.45 * s_lip)
    pb = np.minimum(col("bubble_point_psi"), pr)
    j = col("productivity_index_bpd_psi")
    grad = fluids.WATER_GRADIENT_PSI_FT * col("liquid_sg")
    below = col("perforation_depth_ft") - col("pump_depth_ft")
    thp = col("wellhead_pressure_psi") * (1.0 + 1.6 * s_thp)
    c_slip = SLIP_COEFFICIENT * (1.0 + 3.5 * s_wear) * (1.0 + 6.0 * s_slip)
    q_max_inflow = inflow.rate_bpd(col("intake_min_psi") + grad * below, pr, pb, j)
    disp = col("displacement_bpd_per_rpm")
    q = disp * rpm * 0.9
    for _ in range(30):
        intake = np.maximum(inflow.pwf_psi(q, pr, pb, j) - grad * below, col("intake_min_psi"))
        dp = thp + grad * col("pump_depth_ft") - intake
        q_new = disp * rpm * np.clip(1.0 - c_slip * dp / col("pump_rated_lift_psi"), 0.0, 1.0) * (1.0 - 0.25 * s_sand)
        q = 0.5 * q + 0.5 * np.minimum(q_new, q_max_inflow)
    intake = np.maximum(inflow.pwf_psi(q, pr, pb, j) - grad * below, col("intake_min_psi"))
    dp = thp + grad * col("pump_depth_ft") - intake
    friction = col("friction_torque_ftlbf") * (1.0 - 0.5 * s_wear) * (1.0 + 2.5 * s_sand) * (1.0 + 0.6 * s_slip)
    torque = HYDRAULIC_TORQUE_FTLBF_PER_BPD_RPM_PSI * disp * dp + friction
    spike = 1.0 + s_spk * (z["spike"] > 1.04) * (0.6 + 0.3 * np.abs(np.sin(7.0 * step)))
    torque = torque * spike * (1.0 + 0.01 * z["torque_ftlbf"])
    power = torque * rpm / 5252.0 * 0.7457 / DRIVE_EFFICIENCY * (1.0 + 0.12 * s_ovl)
    power = power * (1.0 + 0.01 * z["motor_power_kw"])
    current = power * 1000.0 / (np.sqrt(3.0) * VOLTAGE_V * POWER_FACTOR) * (1.0 + 0.16 * s_ovl)
    current = current * (1.0 + 0.01 * z["motor_current_a"])
    t_motor = 80.0 + 60.0 * (current / col("rated_current_a")) ** 2 + 45.0 * s_ovl
    q_meas = q * (1.0 + 0.02 * z["flow_rate_bpd"])
    wc = np.clip(col("water_cut_frac") + 0.005 * z["water_cut_frac"], 0.0, 1.0)
    oil = q_meas * (1.0 - wc)
    return {
        "flow_rate_bpd": q_meas,
        "oil_rate_bpd": oil,
        "water_cut_frac": wc,
        "gas_rate_mscfd": oil * col("gor_scf_stb") / 1000.0 * (1.0 + 0.03 * z["gas_rate_mscfd"]),
        "tubing_pressure_psi": thp * (1.0 + 0.01 * z["tubing_pressure_psi"]),
        "casing_pressure_psi": col("casing_head_psi") * (1.0 + 0.02 * z["casing_pressure_psi"]),
        "wellhead_temperature_f": wellhead_temperature_f(p, q) + 0.3 * z["wellhead_temperature_f"],
        "rpm": rpm,
        "torque_ftlbf": torque,
        "motor_power_kw": power,
        "motor_current_a": current,
        "intake_pressure_psi": intake * (1.0 + 0.01 * z["intake_pressure_psi"]),
        "motor_temperature_f": t_motor + 0.5 * z["motor_temperature_f"],
        "_differential_pressure_psi": dp,
    }
