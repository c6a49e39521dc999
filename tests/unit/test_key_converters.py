"""Engine results -> ThingsBoard keys (tb_bridge.writeback.keys): dca_attributes, diagnosis_attributes,
lift_attributes, each on a real engine result, checked against the key table."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines.anomaly import fit_baseline
from engines.anomaly.diagnosis import diagnose_window
from engines.dca import DcaSettings, analyze_decline
from engines.fielddata import SyntheticField
from tb_bridge.adapters.lift import optimize_well
from tb_bridge.wells.model import parse_well_config
from tb_bridge.writeback.keys import (LIFT_SETPOINT_KEYS, KEYS, check_attributes, dca_attributes, diagnosis_attributes,
                                      lift_attributes)

DCA_KEYS = {"opt_dca_model", "opt_dca_qi_bpd", "opt_dca_di_pct_month", "opt_dca_b_factor", "opt_dca_eur_stb",
            "opt_dca_no_decline", "opt_dca_no_decline_reason",
            "opt_dca_eur_p10", "opt_dca_eur_p50", "opt_dca_eur_p90", "opt_dca_forecast"}
DIAGNOSIS_KEYS = {"opt_anomaly_detected", "opt_anomaly_score", "opt_anomaly_type", "opt_anomaly_severity",
                  "opt_anomaly_evidence", "opt_well_health_score", "opt_health_status", "opt_health_components",
                  "opt_health_trend", "opt_spc_t2", "opt_spc_spe", "opt_spc_ewma_alarm"}
LIFT_COMMON = {"opt_lift_expected_q_bpd", "opt_lift_delta_q_bpd", "opt_lift_efficiency_pct", "opt_lift_kwh_per_bbl",
               "opt_lift_binding_constraint", "opt_lift_curve"}
LIFT_OWN = {"esp": {"opt_esp_bep_distance_pct"}, "srp": {"opt_srp_fillage_pct", "opt_srp_card_class", "opt_srp_downhole_card"},
            "pcp": {"opt_pcp_elastomer_life_days"}, "gas_lift": set()}


def _accepted(out: dict) -> dict:
    """check_attributes accepts ``out`` as attributes and keeps every non-None value unchanged."""
    checked = check_attributes(out, "attribute")
    assert checked == {k: v for k, v in out.items() if v is not None}
    return checked


def test_dca_attributes():
    t = np.arange(240.0)
    rng = np.random.default_rng(1)
    q = 900.0 / (1.0 + 0.6 * 0.01 * t) ** (1.0 / 0.6) * np.exp(rng.normal(0.0, 0.03, t.size))
    result = analyze_decline(t, q, settings=DcaSettings(n_trials=200, forecast_months=24))
    out = dca_attributes(result)
    assert set(out) == DCA_KEYS
    _accepted(out)
    assert out["opt_dca_model"] == result.model
    assert out["opt_dca_qi_bpd"] == result.qi_bpd
    assert out["opt_dca_di_pct_month"] == result.di_pct_month
    assert out["opt_dca_b_factor"] == result.b_factor
    assert out["opt_dca_eur_stb"] == result.eur_stb
    assert out["opt_dca_eur_p10"] == result.eur_p10_stb
    assert out["opt_dca_eur_p50"] == result.eur_p50_stb
    assert out["opt_dca_eur_p90"] == result.eur_p90_stb
    assert isinstance(out["opt_dca_forecast"], dict) and out["opt_dca_forecast"] == result.forecast
    assert len(out["opt_dca_forecast"]["months"]) == 24


@pytest.fixture(scope="module")
def diagnosis():
    field = SyntheticField({"esp": 3}, seed=13, faults={"ESP-02": ("pump_wear", 864)})
    a = field.arrays("esp", 864 + 150)
    base = fit_baseline({k: v[:, :864] for k, v in a.items()})
    params = [w.attributes for w in field.wells_of("esp")]
    history = np.tile(np.linspace(80.0, 95.0, 7), (3, 1))  # daily scores rising 2.5 points/day
    res = diagnose_window("esp", params, {k: v[:, -72:] for k, v in a.items()}, base, health_history=history)
    return field, res


def test_diagnosis_attributes(diagnosis):
    field, res = diagnosis
    for w in field.wells_of("esp"):
        i = w.index
        out = diagnosis_attributes(res, i)
        assert set(out) == DIAGNOSIS_KEYS
        _accepted(out)
        assert out["opt_anomaly_detected"] is bool(res.anomaly_detected[i])
        assert out["opt_anomaly_score"] == round(float(res.anomaly_score[i]), 4)
        assert out["opt_anomaly_type"] == res.anomaly_type[i]
        assert out["opt_anomaly_severity"] == res.anomaly_severity[i]
        assert out["opt_anomaly_evidence"] == res.evidence[i] and isinstance(out["opt_anomaly_evidence"], list)
        assert out["opt_well_health_score"] == round(float(res.health_score[i]), 1)
        assert out["opt_health_status"] == res.health_status[i]
        assert out["opt_health_components"] == {c: round(float(v[i]), 1) for c, v in res.health_components.items()}
        assert out["opt_health_trend"] == round(float(res.health_change_7d[i]), 1)
        assert out["opt_spc_t2"] is None and out["opt_spc_spe"] is None  # no PCA model given
        assert out["opt_spc_ewma_alarm"] is bool(res.spc_ewma_alarm[i])
    faulty = diagnosis_attributes(res, field.well("ESP-02").index)
    assert faulty["opt_anomaly_type"] == "pump_wear" and faulty["opt_anomaly_evidence"]
    assert faulty["opt_health_trend"] == pytest.approx(17.5)  # 2.5 points/day -> points per 7 days
    assert KEYS["opt_health_trend"].value_type == "number"


@pytest.mark.parametrize("lift", ["esp", "srp", "pcp", "gas_lift"])
def test_lift_attributes(lift):
    field = SyntheticField(wells_per_lift_type=1, seed=3)
    (w,) = [w for w in field.wells if w.lift_type == lift]
    well = parse_well_config(w.name, w.name, w.attributes)
    result = optimize_well(well, {"flow_rate_bpd": 200.0})
    out = lift_attributes(result)
    assert set(out) == {LIFT_SETPOINT_KEYS[lift]} | LIFT_COMMON | LIFT_OWN[lift]
    _accepted(out)
    assert out[LIFT_SETPOINT_KEYS[lift]] == round(result.recommended_setpoint, 4)
    assert out["opt_lift_expected_q_bpd"] == round(result.expected_q_bpd, 4)
    assert out["opt_lift_delta_q_bpd"] == round(result.delta_q_bpd, 4)
    assert out["opt_lift_binding_constraint"] == result.binding_constraint
    assert out["opt_lift_curve"] == [[round(a, 3), round(b, 2)] for a, b in result.curve]
    assert isinstance(out["opt_lift_curve"], list)
    if lift == "esp":
        assert out["opt_esp_bep_distance_pct"] == round(result.extras["esp_bep_distance_pct"], 4)
    if lift == "srp":
        assert out["opt_srp_card_class"] == result.extras["srp_card_class"]
        assert out["opt_srp_downhole_card"] == result.extras["srp_downhole_card"]
        assert isinstance(out["opt_srp_downhole_card"], dict)
    if lift == "pcp":
        assert out["opt_pcp_elastomer_life_days"] == round(result.extras["pcp_elastomer_life_days"], 4)
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # plain JSON values, not strings of JSON


def test_nodal_attributes_match_the_result():
    from tb_bridge.adapters.nodal import solve_well
    from tb_bridge.writeback.keys import check_attributes, nodal_attributes
    from tb_bridge.wells.model import parse_well_config

    well = parse_well_config("n1", "NF-01", {"lift_type": "gas_lift", "reservoir_pressure_psi": 4000,
                                             "bubble_point_psi": 2500, "productivity_index_bpd_psi": 2.0,
                                             "perforation_depth_ft": 8000, "injection_depth_ft": 7000,
                                             "water_cut_frac": 0.1, "gor_scf_stb": 800, "tubing_id_in": 2.992})
    result = solve_well(well)
    out = nodal_attributes(result)
    assert set(out) == {"opt_nodal_q_bpd", "opt_nodal_pwf_psi", "opt_nodal_aof_bpd", "opt_nodal_pi_stb_d_psi",
                        "opt_nodal_drawdown_psi", "opt_nodal_flowing", "opt_nodal_ipr_curve", "opt_nodal_vlp_curve"}
    assert check_attributes(out)["opt_nodal_flowing"] is True and result.flowing
    assert out["opt_nodal_q_bpd"] == round(result.q_bpd, 4) and out["opt_nodal_aof_bpd"] == round(result.aof_bpd, 4)
    assert len(out["opt_nodal_ipr_curve"]) == 100 and len(out["opt_nodal_vlp_curve"]) == 100
    # The operating point lies on the IPR: Pwf from the curve at q matches within the curve's spacing.
    ipr = result.ipr_curve
    assert abs(np.interp(result.q_bpd, ipr[:, 0], ipr[:, 1]) - result.pwf_psi) < 0.01 * well.reservoir_pressure_psi
