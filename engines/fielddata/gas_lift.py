"""Continuous gas-lift well model of the synthetic field (vectorized over wells x time steps).

Liquid rate follows a concave gas-lift performance curve q(q_inj) = a [1 - exp(-q_inj / g)] - b q_inj
(the shape of Beggs 1991 / Brown 1980 GLPC: rising, maximum, then falling as friction dominates),
scaled so the design injection gives the IPR rate at pwf = 0.5 Pr; its optimum sits at 1.6 x the
design injection. Casing pressure = 0.93 x injection-line pressure (choke loss); tubing pressure
rises 30% of the relative change of total gas; separator gas = formation gas + injection gas.
"""
from __future__ import annotations

import numpy as np

from engines.fielddata import inflow
from engines.fielddata.reservoir import wellhead_temperature_f

CASING_TO_LINE_PRESSURE = 0.93
HEADING_PERIOD_STEPS = 12


def _curve(q_inj, g):
    """Normalized performance curve (1 - exp(-q/g)) - q exp(-1.6 q_d/g) / g, with g = 0.7 q_d."""
    return 1.0 - np.exp(-q_inj / g) - q_inj * np.exp(-1.6 / 0.7) / g


def draw(rng: np.random.Generator, common: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gas-lift static parameters; ``setpoint`` is the injection rate (Mscf/d)."""
    n = common["reservoir_pressure_psi"].size
    p = dict(common)
    pr, pb = p["reservoir_pressure_psi"], p["bubble_point_psi"]
    p["productivity_index_bpd_psi"] = rng.uniform(0.5, 1.3, n)
    p["setpoint"] = np.round(rng.uniform(400.0, 900.0, n))
    p["injection_depth_ft"] = np.round(p["perforation_depth_ft"] - rng.uniform(300.0, 800.0, n))
    p["injection_pressure_psi"] = np.round(rng.uniform(1000.0, 1400.0, n))
    p["g_mscfd"] = 0.7 * p["setpoint"]
    q_design = inflow.rate_bpd(0.5 * pr, pr, pb, p["productivity_index_bpd_psi"])
    p["curve_scale_bpd"] = q_design / _curve(p["setpoint"], p["g_mscfd"])
    p["gas0_mscfd"] = q_design * (1.0 - p["water_cut_frac"]) * p["gor_scf_stb"] / 1000.0 + p["setpoint"]
    return p


def attributes(p: dict[str, np.ndarray], i: int) -> dict:
    """``GasLiftWellConfig`` attributes of well ``i``."""
    return {
        "productivity_index_bpd_psi": float(p["productivity_index_bpd_psi"][i]),
        "injection_depth_ft": float(p["injection_depth_ft"][i]),
        "injection_pressure_psi": float(p["injection_pressure_psi"][i]),
        "injection_min_mscfd": 0.0,
        "injection_max_mscfd": float(3.0 * p["setpoint"][i]),
    }


def liquid_rate_bpd(p, q_inj_mscfd):
    """Performance-curve liquid rate (bbl/d) for injection ``q_inj_mscfd`` (n_wells, n_steps)."""
    return p["curve_scale_bpd"][:, None] * _curve(q_inj_mscfd, p["g_mscfd"][:, None])


def simulate(p, sev, z, step) -> dict[str, np.ndarray]:
    """Telemetry (n_wells, n_steps) for severities ``sev[fault]`` and standard-normal noise ``z[key]``."""
    col = lambda k: p[k][:, None]  # noqa: E731
    s_hd, s_oi, s_lk = sev["casing_heading"], sev["over_injection"], sev["gas_leak"]
    s_sep, s_pd, s_wb = sev["separator_flooding"], sev["pressure_drop"], sev["water_breakthrough"]
    wave = np.sin(2.0 * np.pi * step / HEADING_PERIOD_STEPS)
    line = col("injection_pressure_psi") * (1.0 + 0.05 * s_oi) * (1.0 - 0.18 * s_lk) * (1.0 - 0.40 * s_pd)
    line = line * (1.0 + 0.12 * s_hd * wave)
    q_inj = col("setpoint") * (1.0 + 1.2 * s_oi) * (1.0 + 0.45 * s_lk) * (1.0 - 0.55 * s_pd) * (1.0 + 0.2 * s_hd * wave)
    q = liquid_rate_bpd(p, q_inj / (1.0 + 0.45 * s_lk)) * (1.0 - 0.30 * s_lk) * (1.0 - 0.08 * s_wb)
    q = q * (1.0 + 0.45 * s_hd * np.sin(2.0 * np.pi * step / HEADING_PERIOD_STEPS - 1.0))
    wc = np.clip(col("water_cut_frac") + 0.40 * s_wb + 0.005 * z["water_cut_frac"], 0.0, 0.99)
    q_meas = q * (1.0 + 0.02 * z["flow_rate_bpd"])
    oil = q_meas * (1.0 - wc)
    gas = oil * col("gor_scf_stb") / 1000.0 * (1.0 + 0.03 * z["gas_rate_mscfd"]) + q_inj
    thp = col("wellhead_pressure_psi") * (1.0 + 0.3 * (gas / col("gas0_mscfd") - 1.0)) * (1.0 + 0.15 * s_sep)
    thp = thp * (1.0 + 0.35 * s_hd * wave)
    return {
        "flow_rate_bpd": q_meas,
        "oil_rate_bpd": oil,
        "water_cut_frac": wc,
        "gas_rate_mscfd": gas,
        "tubing_pressure_psi": thp * (1.0 + 0.01 * z["tubing_pressure_psi"]),
        "casing_pressure_psi": CASING_TO_LINE_PRESSURE * line * (1.0 + 0.005 * z["casing_pressure_psi"]),
        "wellhead_temperature_f": wellhead_temperature_f(p, q) + 0.3 * z["wellhead_temperature_f"],
        "injection_rate_mscfd": q_inj * (1.0 + 0.01 * z["injection_rate_mscfd"]),
        "injection_pressure_psi": line * (1.0 + 0.005 * z["injection_pressure_psi"]),
        "separator_level_pct": np.clip(50.0 + 43.0 * s_sep + 1.5 * z["separator_level_pct"], 0.0, 100.0),
    }
