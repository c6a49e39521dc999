"""Random but plausible reservoir / fluid / wellbore parameters shared by every lift type."""
from __future__ import annotations

import numpy as np

from engines.fielddata import fluids


def draw_common(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` wells' common static parameters (oilfield units). Keys follow ``WellConfig`` names."""
    pr = rng.uniform(2200.0, 3400.0, n)
    depth = rng.uniform(6000.0, 8500.0, n)
    api = rng.uniform(27.0, 36.0, n)
    wc = rng.uniform(0.2, 0.6, n)
    wsg = np.full(n, 1.05)
    return {
        "reservoir_pressure_psi": pr,
        "bubble_point_psi": pr * rng.uniform(0.45, 0.7, n),
        "reservoir_temperature_f": 0.012 * depth + 80.0 + rng.uniform(0, 15, n),
        "oil_api": api,
        "gas_specific_gravity": rng.uniform(0.68, 0.82, n),
        "water_specific_gravity": wsg,
        "water_cut_frac": wc,
        "gor_scf_stb": rng.uniform(250.0, 700.0, n),
        "surface_temperature_f": np.full(n, 80.0),
        "perforation_depth_ft": depth,
        "tubing_id_in": np.full(n, 2.441),
        "casing_id_in": np.full(n, 6.276),
        "wellhead_pressure_psi": rng.uniform(100.0, 180.0, n),
        "casing_head_psi": rng.uniform(30.0, 80.0, n),
        "liquid_sg": fluids.liquid_specific_gravity(api, wsg, wc),
    }


def wellhead_temperature_f(p: dict, q_bpd):
    """Flowing wellhead temperature: more of the bottomhole heat reaches surface at higher rate
    (Ramey-type heat-loss fraction q / (q + 600 bbl/d)), degF."""
    frac = np.asarray(q_bpd) / (np.asarray(q_bpd) + 600.0)
    ts = p["surface_temperature_f"][:, None]
    tr = p["reservoir_temperature_f"][:, None]
    return ts + 0.85 * (tr - ts) * frac


#: Keys from ``draw_common`` that are ``WellConfig`` attributes (the rest are generator internals).
COMMON_ATTRIBUTE_KEYS: tuple[str, ...] = (
    "reservoir_pressure_psi", "bubble_point_psi", "reservoir_temperature_f", "oil_api", "gas_specific_gravity",
    "water_specific_gravity", "water_cut_frac", "gor_scf_stb", "surface_temperature_f", "perforation_depth_ft",
    "tubing_id_in", "casing_id_in", "wellhead_pressure_psi",
)
