"""Isolation-Forest fallback for wells without a baseline, trained on the field's wells of one lift type.

Without a baseline a well's own "normal" is unknown, so raw levels (rates, currents) only tell how
atypical the well is within the field. The forest therefore works on features that are comparable
across wells of one lift type: absolute condition indicators (vibration g, motor temperature rise,
fillage, separator level, water cut), dimensionless ratios (V/Hz, power factor, MPRL/PPRL, casing
over injection pressure) and within-window variability (coefficient of variation). The anomaly
score is s = 2^(-E[h(x)] / c(n)) of Liu, Ting & Zhou (2008, ICDM, eq. 2), i.e. minus
scikit-learn's ``score_samples``: s -> 1 for outliers, about 0.5 or below for ordinary points.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.ensemble import IsolationForest

DEFAULT_THRESHOLD = 0.60


def _med(w, k):
    return np.median(w[k], axis=1)


def _cv(w, k):
    x = w[k]
    return np.std(x, axis=1) / np.maximum(np.abs(np.mean(x, axis=1)), 1e-9)


def _ratio(w, a, b):
    return _med(w, a) / np.maximum(np.abs(_med(w, b)), 1e-9)


#: Cross-well comparable features per lift type: name -> f(window) -> (n_wells,).
FALLBACK_FEATURES: dict[str, dict[str, Callable]] = {
    "esp": {
        "vibration_g": lambda w: _med(w, "vibration_g"),
        "motor_temp_rise_f": lambda w: _med(w, "motor_temperature_f") - _med(w, "intake_temperature_f"),
        "volts_per_hz": lambda w: _ratio(w, "motor_voltage_v", "frequency_hz"),
        "power_factor": lambda w: _med(w, "motor_power_kw") * 1000.0
        / np.maximum(np.sqrt(3.0) * _med(w, "motor_voltage_v") * _med(w, "motor_current_a"), 1e-9),
        "cv_current": lambda w: _cv(w, "motor_current_a"),
        "cv_flow": lambda w: _cv(w, "flow_rate_bpd"),
    },
    "srp": {
        "fillage_pct": lambda w: _med(w, "pump_fillage_pct"),
        "load_ratio": lambda w: _ratio(w, "polished_rod_load_min_lbf", "polished_rod_load_max_lbf"),
        "cv_power": lambda w: _cv(w, "motor_power_kw"),
        "cv_flow": lambda w: _cv(w, "flow_rate_bpd"),
        "cv_fillage": lambda w: _cv(w, "pump_fillage_pct"),
    },
    "pcp": {
        "cv_torque": lambda w: _cv(w, "torque_ftlbf"),
        "peak_torque_ratio": lambda w: np.max(w["torque_ftlbf"], axis=1) / np.maximum(_med(w, "torque_ftlbf"), 1e-9),
        "motor_temperature_f": lambda w: _med(w, "motor_temperature_f"),
        "amps_per_kw": lambda w: _ratio(w, "motor_current_a", "motor_power_kw"),
        "cv_flow": lambda w: _cv(w, "flow_rate_bpd"),
    },
    "gas_lift": {
        "separator_level_pct": lambda w: _med(w, "separator_level_pct"),
        "water_cut_frac": lambda w: _med(w, "water_cut_frac"),
        "cv_casing": lambda w: _cv(w, "casing_pressure_psi"),
        "cv_tubing": lambda w: _cv(w, "tubing_pressure_psi"),
        "casing_over_injection": lambda w: _ratio(w, "casing_pressure_psi", "injection_pressure_psi"),
    },
    "natural_flow": {
        "cv_tubing": lambda w: _cv(w, "tubing_pressure_psi"),
        "cv_choke_upstream": lambda w: _cv(w, "choke_upstream_pressure_psi"),
        "choke_dp_over_tubing": lambda w: (_med(w, "choke_upstream_pressure_psi") - _med(w, "choke_downstream_pressure_psi"))
        / np.maximum(_med(w, "tubing_pressure_psi"), 1e-9),
        "tubing_over_downhole": lambda w: _ratio(w, "tubing_pressure_psi", "downhole_pressure_psi"),
    },
}


def window_features(lift_type: str, window: dict[str, np.ndarray]) -> np.ndarray:
    """(n_wells, n_features) fallback features of a window of (n_wells, n_steps) arrays."""
    if lift_type not in FALLBACK_FEATURES:
        raise ValueError(f"unknown lift type {lift_type!r}")
    cols = [f(window) for f in FALLBACK_FEATURES[lift_type].values()]
    return np.nan_to_num(np.stack(cols, axis=1))


def feature_keys(lift_type: str) -> tuple[str, ...]:
    """The telemetry keys the fallback features of ``lift_type`` read (in first-use order)."""
    if lift_type not in FALLBACK_FEATURES:
        raise ValueError(f"unknown lift type {lift_type!r}")
    seen: dict[str, None] = {}

    class _Recorder(dict):
        def __getitem__(self, key):
            seen[key] = None
            return np.ones((1, 2))

    for feature in FALLBACK_FEATURES[lift_type].values():
        feature(_Recorder())
    return tuple(seen)


@dataclass(frozen=True)
class FieldForest:
    """A fitted forest for one lift type; ``score`` maps a window to s in (0, 1) per well."""

    lift_type: str
    forest: IsolationForest
    threshold: float = DEFAULT_THRESHOLD

    def score(self, window: dict[str, np.ndarray]) -> np.ndarray:
        return -self.forest.score_samples(window_features(self.lift_type, window))


def fit_field_forest(lift_type: str, windows: list[dict[str, np.ndarray]], seed: int = 0, n_estimators: int = 200,
                     threshold: float = DEFAULT_THRESHOLD) -> FieldForest:
    """Fit on several windows (each {key: (n_wells, n_steps)}) of the field's wells of ``lift_type``."""
    if not windows:
        raise ValueError("need at least one training window")
    x = np.concatenate([window_features(lift_type, w) for w in windows], axis=0)
    forest = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(x)
    return FieldForest(lift_type, forest, threshold)
