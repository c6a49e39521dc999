"""Well health score 0-100 from five components, weighted per lift type, with a 7-day trend adjustment.

Components (each 0-100):
- mechanical / electrical / hydraulic: 100 (1 - max(mean key penalty, 0.6 max rule score)) where a
  key's penalty is clip((|z| - 3) / 9, 0, 1) (no penalty inside the 3-sigma band, full at 12 sigma)
  and the rule scores are those of the Layer-2 rules mapped to that component;
- production: 100 min(1, oil rate / baseline oil rate), also capped by its rules;
- efficiency: 100 min(1, (liquid per unit energy) / baseline), energy = motor power (kW) or injection
  gas (Mscf/d) for gas lift, also capped by its rules.
Score = min(sum_c w_c C_c, 100 (1 - DEVIATION_WEIGHT x max_k penalty_k)) + clip(0.5 D7, -10, +5), D7 the
least-squares 7-day change of past daily scores (points), penalty_k the key penalty of every monitored key
given (whichever component, if any, it feeds): one key far off its baseline caps the score, so a pressure 300
robust sigma away cannot leave a well without a flow meter "Excellent" (12 sigma or more caps it at 40, Poor;
6 sigma at 80). Bands: Excellent >= 90, Good 70-89, Fair 50-69, Poor < 50.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPONENTS: tuple[str, ...] = ("mechanical", "electrical", "hydraulic", "production", "efficiency")

#: Weights per lift type (sum to 1; gas lift has no electrical component).
WEIGHTS: dict[str, dict[str, float]] = {
    "esp": {"mechanical": 0.20, "electrical": 0.25, "hydraulic": 0.25, "production": 0.20, "efficiency": 0.10},
    "srp": {"mechanical": 0.30, "electrical": 0.10, "hydraulic": 0.25, "production": 0.25, "efficiency": 0.10},
    "pcp": {"mechanical": 0.25, "electrical": 0.15, "hydraulic": 0.25, "production": 0.20, "efficiency": 0.15},
    "gas_lift": {"mechanical": 0.20, "electrical": 0.00, "hydraulic": 0.30, "production": 0.30, "efficiency": 0.20},
    "natural_flow": {"mechanical": 0.25, "electrical": 0.00, "hydraulic": 0.40, "production": 0.35, "efficiency": 0.00},
}

#: Weight of the largest key penalty over all monitored keys in the score's cap (see the module docstring).
DEVIATION_WEIGHT = 0.6

#: Keys whose robust z-scores feed each deviation-based component.
COMPONENT_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "esp": {"mechanical": ("vibration_g",), "electrical": ("motor_current_a", "motor_voltage_v", "motor_temperature_f"),
            "hydraulic": ("intake_pressure_psi", "discharge_pressure_psi")},
    "srp": {"mechanical": ("polished_rod_load_max_lbf", "polished_rod_load_min_lbf"), "electrical": ("motor_power_kw",),
            "hydraulic": ("pump_fillage_pct", "pump_intake_pressure_psi")},
    "pcp": {"mechanical": ("torque_ftlbf",), "electrical": ("motor_current_a", "motor_temperature_f"),
            "hydraulic": ("intake_pressure_psi", "tubing_pressure_psi")},
    "gas_lift": {"mechanical": ("casing_pressure_psi",), "electrical": (),
                 "hydraulic": ("tubing_pressure_psi", "injection_pressure_psi", "separator_level_pct")},
    "natural_flow": {"mechanical": ("choke_upstream_pressure_psi", "choke_downstream_pressure_psi"), "electrical": (),
                     "hydraulic": ("downhole_pressure_psi", "tubing_pressure_psi", "wellhead_temperature_f")},
}

ENERGY_KEY: dict[str, str] = {"esp": "motor_power_kw", "srp": "motor_power_kw", "pcp": "motor_power_kw",
                              "gas_lift": "injection_rate_mscfd"}  # natural flow: no lift energy, no efficiency term


@dataclass(frozen=True)
class HealthResult:
    """Scores (n_wells,), components {name: (n_wells,)}, status labels, trend labels and 7-day change."""

    score: np.ndarray
    status: tuple[str, ...]
    components: dict[str, np.ndarray]
    trend: tuple[str, ...]
    change_7d: np.ndarray


def band(score) -> str:
    """Status band of one score."""
    s = float(score)
    return "Excellent" if s >= 90 else "Good" if s >= 70 else "Fair" if s >= 50 else "Poor"


def key_penalty(z):
    """0 inside |z| <= 3, rising linearly to 1 at |z| = 12."""
    return np.clip((np.abs(np.asarray(z, dtype=float)) - 3.0) / 9.0, 0.0, 1.0)


def trend_adjustment(history_scores: np.ndarray | None, n_wells: int):
    """(adjustment points, 7-day change, labels) from past daily scores (n_wells, n_days), days oldest first."""
    if history_scores is None or np.shape(history_scores)[-1] < 2:
        return np.zeros(n_wells), np.zeros(n_wells), ("stable",) * n_wells
    h = np.asarray(history_scores, dtype=float)[:, -7:]
    t = np.arange(h.shape[1]) - (h.shape[1] - 1) / 2.0
    slope = (h - h.mean(axis=1, keepdims=True)) @ t / (t @ t)
    change = 7.0 * slope
    labels = tuple("improving" if c > 5 else "declining" if c < -5 else "stable" for c in change)
    return np.clip(0.5 * change, -10.0, 5.0), change, labels


def health_score(lift_type: str, z_by_key: dict[str, np.ndarray], production_ratio: np.ndarray,
                 efficiency_ratio: np.ndarray, rule_scores_by_component: dict[str, np.ndarray] | None = None,
                 history_scores: np.ndarray | None = None) -> HealthResult:
    """Vectorized health score. ``z_by_key`` robust z per key (n_wells,); ratios (n_wells,) vs baseline."""
    if lift_type not in WEIGHTS:
        raise ValueError(f"unknown lift type {lift_type!r}")
    prod = np.asarray(production_ratio, dtype=float)
    n = prod.size
    rules = rule_scores_by_component or {}
    comps: dict[str, np.ndarray] = {}
    for comp in COMPONENTS:
        if comp == "production":
            base = np.clip(np.nan_to_num(prod, nan=1.0), 0.0, 1.0)
        elif comp == "efficiency":
            base = np.clip(np.nan_to_num(np.asarray(efficiency_ratio, dtype=float), nan=1.0), 0.0, 1.0)
        else:
            keys = [k for k in COMPONENT_KEYS[lift_type][comp] if k in z_by_key]
            pen = np.mean([key_penalty(z_by_key[k]) for k in keys], axis=0) if keys else np.zeros(n)
            base = 1.0 - pen
        rule = np.asarray(rules.get(comp, np.zeros(n)), dtype=float)
        comps[comp] = 100.0 * np.minimum(base, 1.0 - 0.6 * rule)
    raw = sum(WEIGHTS[lift_type][c] * comps[c] for c in COMPONENTS)
    if z_by_key:
        worst = np.max([key_penalty(z) for z in z_by_key.values()], axis=0)
        raw = np.minimum(raw, 100.0 * (1.0 - DEVIATION_WEIGHT * worst))
    adj, change, labels = trend_adjustment(history_scores, n)
    score = np.clip(raw + adj, 0.0, 100.0)
    return HealthResult(score, tuple(band(s) for s in score), comps, labels, change)
