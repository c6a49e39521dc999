"""Health score: a hand-computed example through every component, the bands and the 7-day trend."""
from __future__ import annotations

import numpy as np
import pytest

from engines.health import COMPONENTS, WEIGHTS, band, health_score
from engines.health.score import key_penalty, trend_adjustment


def test_weights_sum_to_one():
    for lift, w in WEIGHTS.items():
        assert set(w) == set(COMPONENTS)
        assert sum(w.values()) == pytest.approx(1.0)


def test_hand_computed_esp_example():
    z = {"vibration_g": np.array([7.5]), "motor_current_a": np.array([0.0]), "motor_voltage_v": np.array([0.0]),
         "motor_temperature_f": np.array([12.0]), "intake_pressure_psi": np.array([-3.0]),
         "discharge_pressure_psi": np.array([0.0])}
    rules = {"hydraulic": np.array([0.5])}
    hist = np.array([[80.0, 78.0, 76.0, 74.0, 72.0, 70.0, 68.0]])
    res = health_score("esp", z, np.array([0.8]), np.array([1.2]), rules, hist)
    # mechanical: penalty (7.5-3)/9 = 0.5 -> 50; electrical: mean(0, 0, 1) -> 66.67;
    # hydraulic: deviations 0 but rule 0.5 caps at 1 - 0.6*0.5 -> 70; production 80; efficiency capped 100.
    expected = {"mechanical": 50.0, "electrical": 200.0 / 3.0, "hydraulic": 70.0, "production": 80.0, "efficiency": 100.0}
    for c, v in expected.items():
        assert res.components[c][0] == pytest.approx(v)
    raw = 0.2 * 50 + 0.25 * 200 / 3 + 0.25 * 70 + 0.2 * 80 + 0.1 * 100  # 70.1667
    # motor temperature at 12 sigma: penalty 1 caps the score at 100 (1 - 0.6) = 40 < raw
    # 7-day slope -2 points/day -> change -14 -> adjustment clip(-7, -10, 5) = -7
    assert raw > 40.0
    assert res.score[0] == pytest.approx(40.0 - 7.0)
    assert res.status == ("Poor",) and res.trend == ("declining",)
    assert res.change_7d[0] == pytest.approx(-14.0)


def test_bands_and_penalty_edges():
    assert [band(s) for s in (100, 90, 89.9, 70, 69.9, 50, 49.9, 0)] == \
        ["Excellent", "Excellent", "Good", "Good", "Fair", "Fair", "Poor", "Poor"]
    np.testing.assert_allclose(key_penalty([0, 3, -7.5, 12, 40]), [0, 0, 0.5, 1, 1])
    adj, change, labels = trend_adjustment(np.array([[60.0, 62, 64, 66, 68, 70, 72]]), 1)
    assert change[0] == pytest.approx(14.0) and adj[0] == pytest.approx(5.0) and labels == ("improving",)


def test_healthy_well_is_excellent_and_gas_lift_ignores_electrical():
    res = health_score("gas_lift", {"casing_pressure_psi": np.zeros(2)}, np.ones(2), np.ones(2))
    np.testing.assert_allclose(res.score, 100.0)
    res2 = health_score("gas_lift", {}, np.ones(1), np.ones(1), {"electrical": np.array([1.0])})
    assert res2.score[0] == pytest.approx(100.0)  # electrical weight is 0 for gas lift
    with pytest.raises(ValueError):
        health_score("jet_pump", {}, np.ones(1), np.ones(1))
