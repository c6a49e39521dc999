"""ESP well model of the synthetic field (vectorized over wells x time steps).

Rate follows the affinity law q = q60 (f / 60) eta_vol (Gulich 2014, Centrifugal Pumps, sec. 3.4);
pwf from the composite IPR inverse; intake pressure = pwf - G (D_perf - D_pump); discharge pressure =
THP + G D_pump + friction. Shaft power = q dP / eta_pump + mechanical losses ~ f^3; electric power =
shaft / eta_motor; current I = P / (sqrt(3) V pf) with V/Hz control V = V_np f / f_base. Motor
temperature = intake temperature + 35 degF (I/I_np)^2 / sqrt(q/q_nom) (copper loss over cooling
flow). G = 0.433 SG_liquid psi/ft. Units: bbl/d, psi, Hz, A, V, kW, degF, g.
"""
from __future__ import annotations

import numpy as np

from engines.fielddata import fluids, inflow
from engines.fielddata.reservoir import wellhead_temperature_f

PUMP_EFFICIENCY = 0.60
MOTOR_EFFICIENCY = 0.86
POWER_FACTOR = 0.84
SQRT3 = np.sqrt(3.0)


def draw(rng: np.random.Generator, common: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ESP-specific static parameters; ``setpoint`` is the drive frequency (Hz)."""
    n = common["reservoir_pressure_psi"].size
    p = dict(common)
    pr, pb = p["reservoir_pressure_psi"], p["bubble_point_psi"]
    p["productivity_index_bpd_psi"] = rng.uniform(0.7, 1.5, n)
    p["pump_depth_ft"] = p["perforation_depth_ft"] - rng.uniform(200.0, 600.0, n)
    p["setpoint"] = np.round(rng.uniform(50.0, 58.0, n), 1)
    p["base_frequency_hz"] = np.full(n, 60.0)
    p["motor_voltage_v"] = np.full(n, 2300.0)
    pwf_design = 0.45 * pr
    p["q60_bpd"] = inflow.rate_bpd(pwf_design, pr, pb, p["productivity_index_bpd_psi"]) * 60.0 / p["setpoint"]
    grad = fluids.WATER_GRADIENT_PSI_FT * p["liquid_sg"]
    dp60 = p["wellhead_pressure_psi"] + grad * p["pump_depth_ft"] - (pwf_design - grad * (p["perforation_depth_ft"] - p["pump_depth_ft"]))
    p["loss60_kw"] = 0.08 * fluids.hydraulic_power_kw(p["q60_bpd"], dp60) / PUMP_EFFICIENCY
    p60_kw = (fluids.hydraulic_power_kw(p["q60_bpd"], dp60) / PUMP_EFFICIENCY + p["loss60_kw"]) / MOTOR_EFFICIENCY
    p["motor_hp"] = np.ceil(1.4 * p60_kw / 0.7457 / 10.0) * 10.0
    p["motor_current_a"] = np.round(p["motor_hp"] * 745.7 / (SQRT3 * p["motor_voltage_v"] * POWER_FACTOR * MOTOR_EFFICIENCY), 1)
    p["vibration0_g"] = rng.uniform(0.10, 0.18, n)
    # Pump-stage count consistent with the design head (~ 20 ft/stage at 60 Hz), informational.
    p["pump_stages"] = np.ceil(dp60 / grad / 20.0).astype(int)
    return p


def attributes(p: dict[str, np.ndarray], i: int) -> dict:
    """ESP-specific ``EspWellConfig`` attributes of well ``i``."""
    return {
        "productivity_index_bpd_psi": float(p["productivity_index_bpd_psi"][i]),
        "pump_depth_ft": float(p["pump_depth_ft"][i]),
        "pump_stages": int(p["pump_stages"][i]),
        "motor_hp": float(p["motor_hp"][i]),
        "motor_voltage_v": float(p["motor_voltage_v"][i]),
        "motor_current_a": float(p["motor_current_a"][i]),
        "base_frequency_hz": 60.0,
        "frequency_min_hz": 35.0,
        "frequency_max_hz": 70.0,
    }


def simulate(p, sev, z, step) -> dict[str, np.ndarray]:
    """Telemetry (n_wells, n_steps) for severities ``sev[fault]`` and standard-normal noise ``z[key]``."""
    col = lambda k: p[k][:, None]  # noqa: E731
    s_gl, s_wear, s_oh = sev["gas_lock"], sev["pump_wear"], sev["motor_overheating"]
    s_el, s_imb = sev["electrical_fault"], sev["mechanical_imbalance"]
    f = col("setpoint") + 0.05 * z["frequency_hz"]
    locked = (step % 4) < 2
    gl_mult = 1.0 - s_gl * np.where(locked, 0.85, 0.45)
    q_nom = col("q60_bpd") * f / 60.0
    q = q_nom * (1.0 - 0.30 * s_wear) * gl_mult
    pr, pb, j = col("reservoir_pressure_psi"), col("bubble_point_psi"), col("productivity_index_bpd_psi")
    pwf = inflow.pwf_psi(q, pr, pb, j)
    grad = fluids.WATER_GRADIENT_PSI_FT * col("liquid_sg")
    intake = pwf - grad * (col("perforation_depth_ft") - col("pump_depth_ft"))
    thp = col("wellhead_pressure_psi") * (1.0 + 0.01 * z["tubing_pressure_psi"])
    friction = 2e-6 * col("pump_depth_ft") * (q / 100.0) ** 1.8
    discharge = thp + grad * col("pump_depth_ft") + friction
    hyd_kw = fluids.hydraulic_power_kw(q, discharge - intake)
    eta_p = PUMP_EFFICIENCY * (1.0 - 0.25 * s_wear)
    shaft_kw = hyd_kw / eta_p + col("loss60_kw") * (f / 60.0) ** 3 * (1.0 + 0.5 * s_imb)
    power = shaft_kw / MOTOR_EFFICIENCY * (1.0 + 0.04 * s_imb)
    power = power * (1.0 + 0.01 * z["motor_power_kw"])
    volts = col("motor_voltage_v") * f / col("base_frequency_hz") * (1.0 - 0.15 * s_el)
    volts = volts * (1.0 + 0.004 * z["motor_voltage_v"])
    current = power * 1000.0 / (SQRT3 * volts * POWER_FACTOR)
    current = current * (1.0 + 0.01 * z["motor_current_a"] + 0.08 * s_el * np.sign(z["spike"]) * (np.abs(z["spike"]) > 1.0))
    t_intake = col("reservoir_temperature_f") - 0.012 * (col("perforation_depth_ft") - col("pump_depth_ft"))
    load = current / col("motor_current_a")
    cooling = np.sqrt(np.maximum(q / q_nom, 0.15))
    t_motor = t_intake + 35.0 * load**2 / cooling + 60.0 * s_oh
    vib = col("vibration0_g") * (1.0 + 0.05 * z["vibration_g"]) + 0.75 * s_imb
    q_meas = q * (1.0 + 0.02 * z["flow_rate_bpd"])
    wc = np.clip(col("water_cut_frac") + 0.005 * z["water_cut_frac"], 0.0, 1.0)
    oil = q_meas * (1.0 - wc)
    return {
        "flow_rate_bpd": q_meas,
        "oil_rate_bpd": oil,
        "water_cut_frac": wc,
        "gas_rate_mscfd": oil * col("gor_scf_stb") / 1000.0 * (1.0 + 0.03 * z["gas_rate_mscfd"]),
        "tubing_pressure_psi": thp,
        "casing_pressure_psi": col("casing_head_psi") * (1.0 + 0.02 * z["casing_pressure_psi"]),
        "wellhead_temperature_f": wellhead_temperature_f(p, q) + 0.3 * z["wellhead_temperature_f"],
        "frequency_hz": f,
        "motor_current_a": current,
        "motor_voltage_v": volts,
        "motor_temperature_f": t_motor + 0.5 * z["motor_temperature_f"],
        "intake_pressure_psi": intake * (1.0 + 0.01 * z["intake_pressure_psi"]),
        "discharge_pressure_psi": discharge * (1.0 + 0.005 * z["discharge_pressure_psi"]),
        "intake_temperature_f": t_intake + 0.3 * z["intake_temperature_f"],
        "vibration_g": vib,
        "motor_power_kw": power,
        # Noise-free internals used by consistency tests.
        "_hydraulic_power_kw": hyd_kw,
    }

