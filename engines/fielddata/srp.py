"""Sucker-rod pump well model of the synthetic field (vectorized over wells x time steps).

Pump displacement PD = 0.1166 S D^2 N bbl/d (S in, D plunger in, N spm; API RP 11L), delivered
q = PD eta_v fill with eta_v = 0.85; if inflow at the pumped-off pwf is below pump capacity the
pump fillage is q_inflow / (PD eta_v). pwf from the composite IPR inverse; pump intake pressure
PIP = pwf - G (D_perf - D_pump). Rod weight W_r = sum 2.904 d^2 L lbf (API RP 11L steel-rod weights),
fluid load F_o = (pi/4) D^2 (THP + G D_pump - PIP), Mills acceleration alpha = S N^2 / 70500;
PPRL = F_o + W_r (1 + alpha), MPRL = W_r (1 - alpha - 0.127 SG) (conventional method, Brown 1980,
The Technology of Artificial Lift Methods vol. 2a). Motor power = polished-rod power (card work)
/ 0.55 surface efficiency x cyclic-load factor + 0.8 kW idle. Units: lbf, in, ft, bbl/d, spm, kW, psi.
"""
from __future__ import annotations

import numpy as np

from engines.fielddata import card, fluids, inflow
from engines.fielddata.reservoir import wellhead_temperature_f

VOLUMETRIC_EFFICIENCY = 0.85
SURFACE_EFFICIENCY = 0.55
IDLE_POWER_KW = 0.8
ROD_MODULUS_PSI = 30.5e6


def draw(rng: np.random.Generator, common: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """SRP-specific static parameters; ``setpoint`` is the stroke rate (spm)."""
    n = common["reservoir_pressure_psi"].size
    p = dict(common)
    pr, pb = p["reservoir_pressure_psi"], p["bubble_point_psi"]
    p["pump_depth_ft"] = np.round(p["perforation_depth_ft"] - rng.uniform(100.0, 300.0, n))
    p["plunger_diameter_in"] = rng.choice([1.5, 1.75, 2.0], n)
    p["stroke_length_in"] = rng.choice([100.0, 120.0, 144.0], n)
    p["setpoint"] = np.round(rng.uniform(6.0, 9.0, n), 2)
    p["rod_top_ft"] = np.round(0.55 * p["pump_depth_ft"])
    p["rod_bottom_ft"] = p["pump_depth_ft"] - p["rod_top_ft"]
    cap = 0.1166 * p["stroke_length_in"] * p["plunger_diameter_in"] ** 2 * p["setpoint"] * VOLUMETRIC_EFFICIENCY
    p["capacity_bpd"] = cap
    pwf_design = rng.uniform(0.45, 0.6, n) * pr
    p["productivity_index_bpd_psi"] = cap / inflow.rate_bpd(pwf_design, pr, pb, 1.0)
    grad = fluids.WATER_GRADIENT_PSI_FT * p["liquid_sg"]
    p["pip_min_psi"] = p["casing_head_psi"] + 50.0 * grad
    p["rod_weight_lbf"] = 2.904 * (0.875**2 * p["rod_top_ft"] + 0.75**2 * p["rod_bottom_ft"])
    area_top, area_bot = np.pi / 4 * 0.875**2, np.pi / 4 * 0.75**2
    p["rod_compliance_in_per_lbf"] = 12.0 * (p["rod_top_ft"] / area_top + p["rod_bottom_ft"] / area_bot) / ROD_MODULUS_PSI
    return p


def attributes(p: dict[str, np.ndarray], i: int) -> dict:
    """SRP-specific ``SrpWellConfig`` attributes of well ``i`` (rod string as JSON-able list)."""
    return {
        "productivity_index_bpd_psi": float(p["productivity_index_bpd_psi"][i]),
        "pump_depth_ft": float(p["pump_depth_ft"][i]),
        "plunger_diameter_in": float(p["plunger_diameter_in"][i]),
        "stroke_length_in": float(p["stroke_length_in"][i]),
        "rod_string": [
            {"diameter_in": 0.875, "length_ft": float(p["rod_top_ft"][i]), "grade": "D"},
            {"diameter_in": 0.75, "length_ft": float(p["rod_bottom_ft"][i]), "grade": "D"},
        ],
        "spm_min": 4.0,
        "spm_max": 12.0,
    }


def state(p, sev, z, step) -> dict[str, np.ndarray]:
    """Noise-free pump state and card parameters (n_wells, n_steps), used by :func:`simulate` and the card."""
    col = lambda k: p[k][:, None]  # noqa: E731
    s_fp, s_gl, s_tv = sev["fluid_pound"], sev["gas_lock"], sev["traveling_valve_leak"]
    s_sv, s_rp = sev["standing_valve_leak"], sev["rod_part"]
    spm = col("setpoint") + 0.0 * step
    pr, pb = col("reservoir_pressure_psi"), col("bubble_point_psi")
    j = col("productivity_index_bpd_psi") * (1.0 - 0.6 * s_fp)
    grad = fluids.WATER_GRADIENT_PSI_FT * col("liquid_sg")
    below = col("perforation_depth_ft") - col("pump_depth_ft")
    cap = col("capacity_bpd") * spm / col("setpoint")
    q_avail = inflow.rate_bpd(col("pip_min_psi") + grad * below, pr, pb, j)
    fill_inflow = np.minimum(1.0, q_avail / cap)
    q = cap * fill_inflow * (1.0 - 0.95 * s_gl) * (1.0 - 0.35 * s_tv) * (1.0 - 0.30 * s_sv) * (1.0 - s_rp)
    pip = inflow.pwf_psi(q, pr, pb, j) - grad * below
    pip = np.maximum(pip, col("pip_min_psi"))
    thp = col("wellhead_pressure_psi") + 0.0 * step
    d = col("plunger_diameter_in")
    f_o = np.pi / 4.0 * d**2 * np.maximum(thp + grad * col("pump_depth_ft") - pip, 0.0)
    s_in = col("stroke_length_in")
    alpha = s_in * spm**2 / 70500.0
    w_r = col("rod_weight_lbf") * (1.0 - 0.55 * s_rp)  # rods above the break (45% of the string)
    f_o = f_o * (1.0 - s_rp) * (1.0 - 0.15 * s_tv)
    f_max = f_o + w_r * (1.0 + alpha)
    f_min0 = w_r * (1.0 - alpha - 0.127 * col("liquid_sg"))
    f_min = f_min0 + 0.75 * s_gl * (f_max - f_min0)
    stretch = f_o * col("rod_compliance_in_per_lbf")
    fill_card = np.minimum(fill_inflow, 1.0) * (1.0 - 0.95 * s_gl) * (1.0 - 0.30 * s_sv) * (1.0 - s_rp)
    up_loss = 0.45 * s_tv
    delta_dn = stretch + 0.30 * s_sv * s_in
    return dict(spm=spm, q=q, pip=pip, thp=thp, f_min=f_min, f_max=f_max, stretch=stretch, fill=fill_card,
                up_loss=up_loss, delta_dn=delta_dn, stroke=s_in + 0.0 * step)


def card_of(st) -> tuple[np.ndarray, np.ndarray]:
    """Surface card arrays (..., N_POINTS) from :func:`state`."""
    return card.build(st["stroke"], st["f_min"], st["f_max"], st["stretch"], st["fill"], st["up_loss"], st["delta_dn"])


def _card_summary(st, max_points: int = 2_000_000):
    """Card work (in*lbf), max and min load per sample, building the cards in time chunks to bound memory."""
    n, t_len = st["q"].shape
    chunk = max(1, max_points // max(1, n * card.N_POINTS))
    work, f_hi, f_lo = (np.empty((n, t_len)) for _ in range(3))
    for a in range(0, t_len, chunk):
        part = {k: v[:, a:a + chunk] for k, v in st.items()}
        pos, load = card_of(part)
        work[:, a:a + chunk] = card.area_inlbf(pos, load)
        f_hi[:, a:a + chunk], f_lo[:, a:a + chunk] = load.max(axis=-1), load.min(axis=-1)
    return work, f_hi, f_lo


def simulate(p, sev, z, step) -> dict[str, np.ndarray]:
    """Numeric telemetry (n_wells, n_steps); ``surface_card`` is built per sample by the field."""
    col = lambda k: p[k][:, None]  # noqa: E731
    st = state(p, sev, z, step)
    work, f_hi, f_lo = _card_summary(st)
    pr_kw = card.polished_rod_power_kw(work, st["spm"])
    motor = pr_kw / SURFACE_EFFICIENCY * (1.0 + 0.35 * sev["unbalance"]) + IDLE_POWER_KW
    q_meas = st["q"] * (1.0 + 0.02 * z["flow_rate_bpd"])
    wc = np.clip(col("water_cut_frac") + 0.005 * z["water_cut_frac"], 0.0, 1.0)
    oil = q_meas * (1.0 - wc)
    return {
        "flow_rate_bpd": q_meas,
        "oil_rate_bpd": oil,
        "water_cut_frac": wc,
        "gas_rate_mscfd": oil * col("gor_scf_stb") / 1000.0 * (1.0 + 0.03 * z["gas_rate_mscfd"]),
        "tubing_pressure_psi": st["thp"] * (1.0 + 0.01 * z["tubing_pressure_psi"]),
        "casing_pressure_psi": col("casing_head_psi") * (1.0 + 0.02 * z["casing_pressure_psi"]),
        "wellhead_temperature_f": wellhead_temperature_f(p, st["q"]) + 0.3 * z["wellhead_temperature_f"],
        "spm": st["spm"] * (1.0 + 0.002 * z["spm"]),
        "pump_fillage_pct": np.clip(100.0 * st["fill"] + 1.0 * z["pump_fillage_pct"], 0.0, 100.0),
        "polished_rod_load_max_lbf": f_hi * (1.0 + 0.005 * z["polished_rod_load_max_lbf"]),
        "polished_rod_load_min_lbf": f_lo * (1.0 + 0.005 * z["polished_rod_load_min_lbf"]),
        "motor_power_kw": motor * (1.0 + 0.01 * z["motor_power_kw"]),
        "pump_intake_pressure_psi": st["pip"] * (1.0 + 0.01 * z["pump_intake_pressure_psi"]),
        "_polished_rod_power_kw": pr_kw,
    }
