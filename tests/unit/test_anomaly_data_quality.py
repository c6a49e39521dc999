"""Issue 20: 2: the baseline's spread floor, short or empty histories, optional keys, deviations without a flow meter,
frozen values and gaps. Each test rebuilds the behaviour the issue reports on synthetic data and checks the numbers
against a derivation by hand."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from engines.anomaly.baseline import fit_baseline, update_baseline
from engines.anomaly.diagnosis import CHARTED_KEYS, MONITORED_KEYS, TierState, diagnose_window
from engines.anomaly.sensors import SENSOR_RESOLUTION, resolution
from engines.fielddata import SyntheticField

DAY = 288
GL = MONITORED_KEYS["gas_lift"]


def _replay_cusum(lift, arrays, base, every=6):
    """Run the diagnosis window by window over ``arrays`` (1 well) from a zero state, as the fast tier does."""
    state, alarms = None, 0
    n = next(iter(arrays.values())).shape[1]
    for end in range(72, n + 1, every):
        res = diagnose_window(lift, None, {k: v[:, end - 72:end] for k, v in arrays.items()}, base, state=state,
                              new_steps=72 if end == 72 else every)
        state, alarms = res.state, alarms + int(res.cusum_alarm[0])
    return alarms


def _flat_drifting_pressure():
    """A 1,900 psi tree pressure as a historian stores it with a 3 psi deadband: flat, then the 3 psi drift of its
    last quarter-day recorded as one step to 1,903 psi. MAD 0."""
    return np.r_[np.full(216, 1900.0), np.full(72, 1903.0)]


def test_sensor_resolution_table_and_overrides():
    assert resolution("tubing_pressure_psi") == 5.0 and resolution("downhole_temperature_f") == 0.5
    assert resolution("torque_ftlbf") == 10.0 and resolution("polished_rod_load_max_lbf") == 50.0  # longest suffix
    assert resolution("tubing_pressure_psi", {"_psi": 2.0}) == 2.0
    assert resolution("tubing_pressure_psi", {"_psi": 2.0, "tubing_pressure_psi": 8.0}) == 8.0
    assert np.isnan(resolution("mystery")) and set(SENSOR_RESOLUTION) >= {"_psi", "_bpd", "_frac"}


def test_tiny_drift_inside_the_sensor_uncertainty_does_not_trip_cusum():
    p = _flat_drifting_pressure()[None, :]
    base = fit_baseline({"tubing_pressure_psi": p})
    # MAD 0 and trimmed sd sqrt(0.75 x 0.25 x 9 x 288/287) / 0.93457 = 1.39 psi, both under the transmitter's 5 psi
    assert base.sigma[0, 0] == 5.0 and base.scale[0, 0] == 5.0
    assert base.loc[0, 0] == pytest.approx(1900.75)
    # Its own windows replayed: z = (1903 - 1900.75) / 5 = 0.45 < k = 0.5, so C+ stays exactly 0.
    assert _replay_cusum("natural_flow", {"tubing_pressure_psi": p}, base) == 0
    # Under the old floor (0.1 % of the median, 1.9 psi) z = 1.18: C+ grows 0.68 per sample past h = 9.0 in 14.
    old = fit_baseline({"tubing_pressure_psi": p}, resolution={"_psi": 0.001 * 1900.0})
    assert old.scale[0, 0] == pytest.approx(1.9)
    assert _replay_cusum("natural_flow", {"tubing_pressure_psi": p}, old) > 0


def test_flat_history_sigma_survives_months_of_uptime_updates():
    flat = np.full((1, DAY), 1900.0)
    base = fit_baseline({"tubing_pressure_psi": flat})
    assert base.sigma[0, 0] == 5.0
    # 60 days of daily refreshes on a flat record: the MAD rule shrinks sigma by (1 - 0.01) per sample, 0.99^17280
    # ~ 1e-75 without the floor; with it, the spread stays at the sensor's 5 psi.
    month = base
    for _ in range(60):
        month = update_baseline(month, {"tubing_pressure_psi": flat})
    assert month.sigma[0, 0] == 5.0 and month.scale[0, 0] == 5.0
    assert month.counts()[0, 0] == 61 * DAY
    assert _replay_cusum("natural_flow", {"tubing_pressure_psi": flat + 2.0}, month) == 0  # 2 psi = 0.4 sigma < k
    # ... which a sigma shrunk by the updates would have called a shift
    unfloored = update_baseline(fit_baseline({"tubing_pressure_psi": flat}, resolution={"_psi": 0.0}), {"tubing_pressure_psi": flat})
    assert unfloored.sigma[0, 0] < 1e-3


@pytest.mark.parametrize("history", ["all_nan", "short"])
def test_empty_or_short_history_is_insufficient_data_not_healthy(history):
    n = DAY if history == "all_nan" else 200
    rng = np.random.default_rng(1)
    hist = {"tubing_pressure_psi": 1900 + 3 * rng.standard_normal((1, n))}
    if history == "all_nan":
        hist["tubing_pressure_psi"][:] = np.nan
    base = fit_baseline(hist)
    assert not base.ready[0] and not base.key_ready[0, 0]
    window = {"tubing_pressure_psi": 2400 + 3 * rng.standard_normal((1, 72))}  # 500 psi off, unseen
    res = diagnose_window("natural_flow", None, window, base)
    assert res.anomaly_type == ("insufficient_data",) and res.health_status == ("insufficient_data",)
    assert np.isnan(res.health_score[0]) and not res.anomaly_detected[0] and res.insufficient[0]


def test_one_empty_key_is_skipped_and_listed_the_others_diagnosed():
    field = SyntheticField({"gas_lift": 1}, seed=3)
    a = field.arrays("gas_lift", DAY + 72)
    a["separator_level_pct"][:] = np.nan  # the transmitter never reported
    base = fit_baseline({k: v[:, :DAY] for k, v in a.items()})
    assert base.n_samples[0] == DAY and base.ready[0]  # the empty key does not empty the baseline
    res = diagnose_window("gas_lift", None, {k: v[:, DAY:] for k, v in a.items()}, base)
    assert res.anomaly_type == ("none",) and not res.insufficient[0] and res.health_score[0] == pytest.approx(100.0)
    assert "chart separator_level_pct (history empty or shorter than one day)" in res.skipped[0]
    assert "rule separator_flooding (needs separator_level_pct)" in res.skipped[0]


def test_gas_lift_without_flow_meter_or_separator_level_is_diagnosed():
    field = SyntheticField({"gas_lift": 1}, seed=5, faults={"GL-01": ("pressure_drop", DAY)})
    a = field.arrays("gas_lift", DAY + 72)
    for k in ("flow_rate_bpd", "oil_rate_bpd", "water_cut_frac", "separator_level_pct"):
        del a[k]
    base = fit_baseline({k: v[:, :DAY] for k, v in a.items()})
    res = diagnose_window("gas_lift", None, {k: v[:, DAY:] for k, v in a.items()}, base)
    # pressure_drop reads injection pressure and rate only: still diagnosed; gas_leak needs the flow and is skipped
    assert res.anomaly_type == ("pressure_drop",)
    assert "rule gas_leak (needs flow_rate_bpd)" in res.skipped[0]
    assert "chart flow_rate_bpd (absent)" in res.skipped[0]
    with pytest.raises(ValueError, match=r"missing keys for gas_lift: \['tubing_pressure_psi'\]"):
        diagnose_window("gas_lift", None, {"casing_pressure_psi": a["casing_pressure_psi"][:, DAY:]}, base)


def test_pressure_excursion_without_flow_lowers_health():
    rng = np.random.default_rng(2)
    keys = ("tubing_pressure_psi", "casing_pressure_psi", "injection_pressure_psi")
    levels = {"tubing_pressure_psi": 1900.0, "casing_pressure_psi": 1100.0, "injection_pressure_psi": 1180.0}
    hist = {k: levels[k] + 10.0 * rng.standard_normal((1, DAY)) for k in keys}
    base = fit_baseline(hist)
    sigma = base.sd("tubing_pressure_psi")[0]
    window = {k: levels[k] + 10.0 * rng.standard_normal((1, 72)) for k in keys}
    window["tubing_pressure_psi"] = window["tubing_pressure_psi"] + 300.0 * sigma  # 300 robust sigma, no flow meter
    res = diagnose_window("gas_lift", None, window, base)
    # Key penalty clip((300 - 3) / 9, 0, 1) = 1 caps the score at 100 (1 - 0.6 x 1) = 40 ("Poor"), whatever the
    # components (production and efficiency read 100 without a flow meter).
    assert res.health_score[0] == pytest.approx(40.0) and res.health_status == ("Poor",)
    assert res.health_components["production"][0] == pytest.approx(100.0)
    assert res.anomaly_detected[0] and res.anomaly_type == ("statistical_deviation",)
    # 7.5 sigma: penalty 0.5, cap 70 ("Good"), no longer "Excellent"
    window["tubing_pressure_psi"] = levels["tubing_pressure_psi"] + 7.5 * sigma + 0 * window["tubing_pressure_psi"]
    res = diagnose_window("gas_lift", None, window, base)
    z = (7.5 * sigma + levels["tubing_pressure_psi"] - base.med("tubing_pressure_psi")[0]) / sigma
    assert res.health_score[0] == pytest.approx(100.0 * (1 - 0.6 * (z - 3) / 9), abs=1e-6)


def test_gaps_and_frozen_values_raise_no_runtime_warning():
    field = SyntheticField({"gas_lift": 2}, seed=8)
    a = field.arrays("gas_lift", DAY + 72)
    base = fit_baseline({k: v[:, :DAY] for k, v in a.items()})
    w = {k: v[:, DAY:].copy() for k, v in a.items()}
    w["flow_rate_bpd"][0, :] = np.nan  # a whole window missing for one well
    w["casing_pressure_psi"][:, 10:30] = np.nan  # a gap
    w["flow_rate_bpd"][1, 40:] = w["flow_rate_bpd"][1, 40]  # frozen transmitter (a live key: noise >> resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = diagnose_window("gas_lift", None, w, base, state=TierState.zeros(2, len(CHARTED_KEYS["gas_lift"])))
    assert res.anomaly_type == ("none", "none")
    assert any(s.startswith("frozen flow_rate_bpd") for s in res.skipped[1])
    assert not any(s.startswith("frozen") for s in res.skipped[0])
    assert "rule over_injection (needs flow_rate_bpd)" not in res.skipped[0]  # the key has a history: not skipped
