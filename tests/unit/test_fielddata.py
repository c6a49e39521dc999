"""Synthetic field: determinism, schema, physical consistency and fault signatures.

References: Vogel (1968) JPT 20(1) eq. 7; API RP 11L pump displacement 0.1166 S D^2 N and steel
rod weight 2.904 d^2 lb/ft; polished-rod power = card work x N / (12 x 33000) hp (Gibbs 2012,
Sucker-Rod Pumping Handbook ch. 4); PCP torque = V_rev dP / 2 pi; three-phase P = sqrt(3) V I pf.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines.fielddata import FAULTS_BY_LIFT_TYPE, LIFT_TYPES, SyntheticField, TELEMETRY_KEYS_BY_LIFT_TYPE
from engines.fielddata import card, gas_lift, inflow
from tb_bridge.wells.model import (EspWellConfig, GasLiftWellConfig, PcpWellConfig, SrpWellConfig,
                                   parse_well_config)

PREFIX = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
ONSET = 60


@pytest.fixture(scope="module")
def faulted_field():
    """One healthy well (-01) plus one well per fault of each lift type."""
    faults = {f"{PREFIX[lift]}-{i + 2:02d}": (name, ONSET) for lift, names in FAULTS_BY_LIFT_TYPE.items()
              for i, name in enumerate(names)}
    counts = {lift: len(names) + 1 for lift, names in FAULTS_BY_LIFT_TYPE.items()}
    return SyntheticField(counts, seed=11, faults=faults)


def test_determinism_and_window_consistency():
    a = SyntheticField(2, seed=7).arrays("pcp", 400)
    b = SyntheticField(2, seed=7).arrays("pcp", 400)
    c = SyntheticField(2, seed=8).arrays("pcp", 400)
    part = SyntheticField(2, seed=7).arrays("pcp", 150, start_step=250)  # crosses a noise block
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_allclose(part[key], a[key][:, 250:], rtol=1e-12)
        assert not np.allclose(a[key], c[key])


def test_attributes_parse_with_the_service_model(faulted_field):
    classes = {"esp": EspWellConfig, "srp": SrpWellConfig, "pcp": PcpWellConfig, "gas_lift": GasLiftWellConfig}
    assert len(FAULTS_BY_LIFT_TYPE["esp"]) + len(FAULTS_BY_LIFT_TYPE["srp"]) + len(FAULTS_BY_LIFT_TYPE["pcp"]) \
        + len(FAULTS_BY_LIFT_TYPE["gas_lift"]) == 24
    for well in faulted_field.wells:
        cfg = parse_well_config(f"id-{well.name}", well.name, well.attributes)
        assert isinstance(cfg, classes[well.lift_type])
        assert cfg.lift_type == well.lift_type


def test_samples_schema_order_and_timestamps():
    field = SyntheticField(1, seed=3, start_ms=1_000, step_s=300)
    rows = list(field.samples(3, start_step=2))
    assert len(rows) == 3 * 4
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert rows[0][1] == 1_000 + 2 * 300_000
    for name, _, values in rows:
        lift = field.well(name).lift_type
        assert set(values) == set(TELEMETRY_KEYS_BY_LIFT_TYPE[lift])
        if lift == "srp":
            cardv = json.loads(values["surface_card"])
            assert len(cardv["position_in"]) == len(cardv["load_lbf"]) == card.N_POINTS


def test_inflow_matches_vogel_and_inverts():
    # Saturated reservoir (Pb = Pr): q/qmax = 1 - 0.2 x - 0.8 x^2 (Vogel 1968, eq. 7).
    pr, j = 2500.0, 1.2
    x = np.linspace(0.0, 1.0, 11)
    q = inflow.rate_bpd(x * pr, pr, pr, j)
    qmax = j * pr / 1.8
    np.testing.assert_allclose(q / qmax, 1 - 0.2 * x - 0.8 * x**2, atol=1e-12)
    # Undersaturated: straight line above Pb, continuous at Pb, exact inverse everywhere.
    pwf = np.linspace(0.0, 3000.0, 61)
    q2 = inflow.rate_bpd(pwf, 3000.0, 1800.0, 0.9)
    np.testing.assert_allclose(inflow.pwf_psi(q2, 3000.0, 1800.0, 0.9), pwf, atol=1e-8)
    assert inflow.rate_bpd(2000.0, 3000.0, 1800.0, 0.9) == pytest.approx(900.0)


def test_common_balances(faulted_field):
    for lift in LIFT_TYPES:
        a = faulted_field.arrays(lift, 200)
        np.testing.assert_allclose(a["oil_rate_bpd"], a["flow_rate_bpd"] * (1 - a["water_cut_frac"]), rtol=1e-12)
        assert np.all(a["flow_rate_bpd"] >= 0) and np.all((a["water_cut_frac"] >= 0) & (a["water_cut_frac"] <= 1))


def test_esp_power_current_and_hydraulic_bound():
    field = SyntheticField(4, seed=5)
    a = field.arrays("esp", 288, include_internal=True)
    assert np.all(a["_hydraulic_power_kw"] < a["motor_power_kw"])
    # Three-phase power P = sqrt(3) V I pf: the model's pf is 0.84; noise (1% I, 0.4% V, 1% P) averages out.
    pf = a["motor_power_kw"] * 1000 / (np.sqrt(3) * a["motor_voltage_v"] * a["motor_current_a"])
    assert np.mean(pf) == pytest.approx(0.84, rel=2e-3)
    # Affinity law: flow per Hz is the same across wells' own setpoints -> check flow ~ frequency
    # by comparing the field at its setpoints with a well-by-well ratio q/f constant in time.
    ratio = a["flow_rate_bpd"] / a["frequency_hz"]
    assert np.all(np.std(ratio, axis=1) / np.mean(ratio, axis=1) < 0.03)


def test_srp_displacement_card_work_and_loads():
    field = SyntheticField(4, seed=5)
    a = field.arrays("srp", 100, include_internal=True)
    wells = field.wells_of("srp")
    for w in wells:
        at = w.attributes
        spm = field.setpoints("srp")[w.index]
        pd = 0.1166 * at["stroke_length_in"] * at["plunger_diameter_in"] ** 2 * spm  # API RP 11L
        assert np.mean(a["flow_rate_bpd"][w.index]) == pytest.approx(0.85 * pd, rel=0.01)
        rod_w = sum(2.904 * s["diameter_in"] ** 2 * s["length_ft"] for s in at["rod_string"])
        assert np.mean(a["polished_rod_load_min_lbf"][w.index]) < rod_w < np.mean(a["polished_rod_load_max_lbf"][w.index])
    # Motor power from the published cards: PRHP = W N / (12 * 33000), motor = PRHP / 0.55 + 0.8 kW.
    rows = [(n, v) for n, _, v in field.samples(30) if n.startswith("SRP")]
    ratios = []
    for name, v in rows:
        c = json.loads(v["surface_card"])
        work = card.area_inlbf(np.array(c["position_in"]), np.array(c["load_lbf"]))
        expected = work * v["spm"] / (12 * 33000) * 0.7457 / 0.55 + 0.8
        ratios.append(v["motor_power_kw"] / expected)
        assert max(c["load_lbf"]) == pytest.approx(v["polished_rod_load_max_lbf"], rel=0.03)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.005)


def test_card_area_of_a_rectangle():
    # Zero stretch, full fillage, no leak: the card is the rectangle S x (Fmax - Fmin) up to the
    # harmonic sampling of the corners (exact in the limit of many points).
    pos, load = card.build(100.0, 1000.0, 3000.0, 1e-9, 1.0, 0.0, 1e-9, n_points=4000)
    assert card.area_inlbf(pos, load) == pytest.approx(100.0 * 2000.0, rel=2e-3)


def test_pcp_torque_power_and_displacement():
    field = SyntheticField(4, seed=5)
    a = field.arrays("pcp", 200, include_internal=True)
    disp = np.array([w.attributes["displacement_bpd_per_rpm"] for w in field.wells_of("pcp")])[:, None]
    assert np.all(a["flow_rate_bpd"] < 1.05 * disp * a["rpm"])
    # Shaft power T N / 5252 hp over 0.85 drive efficiency.
    ratio = a["motor_power_kw"] / (a["torque_ftlbf"] * a["rpm"] / 5252 * 0.7457 / 0.85)
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.003)
    # Torque at least the hydraulic torque V_rev dP / 2 pi = 5.615 * 144 / (1440 * 2 pi) d dP.
    hyd = 5.615 * 144 / (1440 * 2 * np.pi) * disp * a["_differential_pressure_psi"]
    assert np.all(a["torque_ftlbf"] > 0.95 * hyd)


def test_gas_lift_performance_curve_is_concave_with_optimum_at_1p6_design():
    field = SyntheticField(3, seed=5)
    params = field.model_parameters("gas_lift")
    qd = params["setpoint"][:, None]
    grid = qd * np.linspace(0.05, 3.0, 300)[None, :]
    q = gas_lift.liquid_rate_bpd(params, grid)
    assert np.all(np.diff(q, 2, axis=1) < 0)
    best = grid[np.arange(3), np.argmax(q, axis=1)]
    np.testing.assert_allclose(best / qd[:, 0], 1.6, atol=0.01)


# (lift, fault, key, ratio after/before: ("<", x) means below x, (">", x) above x)
SIGNATURES = [
    ("esp", "gas_lock", "motor_current_a", "<", 0.6), ("esp", "gas_lock", "intake_pressure_psi", ">", 1.1),
    ("esp", "pump_wear", "flow_rate_bpd", "<", 0.8), ("esp", "pump_wear", "intake_pressure_psi", ">", 1.1),
    ("esp", "motor_overheating", "motor_temperature_f", ">", 1.2), ("esp", "motor_overheating", "motor_current_a", "~", 0.02),
    ("esp", "electrical_fault", "motor_voltage_v", "<", 0.9), ("esp", "electrical_fault", "motor_current_a", ">", 1.1),
    ("esp", "mechanical_imbalance", "vibration_g", ">", 3.0),
    ("srp", "fluid_pound", "pump_fillage_pct", "<", 0.85), ("srp", "fluid_pound", "pump_intake_pressure_psi", "<", 0.5),
    ("srp", "gas_lock", "pump_fillage_pct", "<", 0.2), ("srp", "gas_lock", "polished_rod_load_min_lbf", ">", 1.2),
    ("srp", "traveling_valve_leak", "flow_rate_bpd", "<", 0.8), ("srp", "traveling_valve_leak", "pump_fillage_pct", "~", 0.03),
    ("srp", "standing_valve_leak", "pump_fillage_pct", "<", 0.85), ("srp", "standing_valve_leak", "pump_intake_pressure_psi", ">", 1.1),
    ("srp", "rod_part", "polished_rod_load_max_lbf", "<", 0.6), ("srp", "rod_part", "flow_rate_bpd", "<", 0.05),
    ("srp", "unbalance", "motor_power_kw", ">", 1.25), ("srp", "unbalance", "polished_rod_load_max_lbf", "~", 0.02),
    ("pcp", "pump_wear", "flow_rate_bpd", "<", 0.9), ("pcp", "pump_wear", "torque_ftlbf", "<", 0.88),
    ("pcp", "sand_up", "torque_ftlbf", ">", 1.3), ("pcp", "sand_up", "flow_rate_bpd", "<", 0.85),
    ("pcp", "motor_overload", "motor_current_a", ">", 1.2), ("pcp", "motor_overload", "torque_ftlbf", "~", 0.02),
    ("pcp", "low_intake_pressure", "intake_pressure_psi", "<", 0.3),
    ("pcp", "high_tubing_pressure", "tubing_pressure_psi", ">", 2.0),
    ("pcp", "increasing_slip", "flow_rate_bpd", "<", 0.92),
    ("gas_lift", "over_injection", "injection_rate_mscfd", ">", 1.8), ("gas_lift", "over_injection", "flow_rate_bpd", "~", 0.06),
    ("gas_lift", "gas_leak", "injection_pressure_psi", "<", 0.88), ("gas_lift", "gas_leak", "injection_rate_mscfd", ">", 1.3),
    ("gas_lift", "separator_flooding", "separator_level_pct", ">", 1.6),
    ("gas_lift", "pressure_drop", "injection_pressure_psi", "<", 0.7), ("gas_lift", "pressure_drop", "injection_rate_mscfd", "<", 0.6),
    ("gas_lift", "water_breakthrough", "oil_rate_bpd", "<", 0.7),
]


@pytest.mark.parametrize("lift,fault,key,op,x", SIGNATURES)
def test_fault_changes_its_signature(faulted_field, lift, fault, key, op, x):
    well = next(w for w in faulted_field.wells_of(lift) if w.fault == fault)
    a = faulted_field.arrays(lift, ONSET + 288)[key][well.index]
    ratio = np.mean(a[ONSET + 200:]) / np.mean(a[:ONSET])
    if op == "<":
        assert ratio < x
    elif op == ">":
        assert ratio > x
    else:
        assert abs(ratio - 1) < x
    healthy = faulted_field.arrays(lift, ONSET + 288)[key][0]
    assert abs(np.mean(healthy[ONSET + 200:]) / np.mean(healthy[:ONSET]) - 1) < 0.02


def test_heading_and_torque_spikes_are_intermittent(faulted_field):
    gl = next(w for w in faulted_field.wells_of("gas_lift") if w.fault == "casing_heading")
    cp = faulted_field.arrays("gas_lift", ONSET + 120)["casing_pressure_psi"][gl.index]
    cv_before, cv_after = np.std(cp[:ONSET]) / np.mean(cp[:ONSET]), np.std(cp[-48:]) / np.mean(cp[-48:])
    assert cv_before < 0.01 and cv_after > 0.06  # +/-12% sine: std = 0.12 / sqrt(2) = 8.5%
    pc = next(w for w in faulted_field.wells_of("pcp") if w.fault == "torque_spike")
    tq = faulted_field.arrays("pcp", ONSET + 288)["torque_ftlbf"][pc.index]
    after = tq[ONSET:] / np.median(tq[ONSET:])
    frac = np.mean(after > 1.4)
    assert 0.08 < frac < 0.25 and np.max(tq[:ONSET]) / np.median(tq[:ONSET]) < 1.1


def test_production_history_follows_arps():
    field = SyntheticField(1, seed=2)
    t, q = field.production_history("ESP-01", 365)
    assert t.shape == q.shape == (365,)
    # log q is the Arps curve plus N(0, 0.05) noise: a hyperbolic fit in log space leaves ~0.05 residual.
    from scipy.optimize import curve_fit

    def arps_log(tt, lqi, di, b):
        return lqi - np.log1p(b * di * tt) / b

    popt, _ = curve_fit(arps_log, t, np.log(q), p0=(np.log(q[0]), 0.002, 0.5), bounds=([0, 1e-5, 0.05], [20, 0.1, 2.0]))
    resid = np.log(q) - arps_log(t, *popt)
    assert 0.04 < np.std(resid) < 0.06
    assert q[0] > q[-1]
    t2, q2 = field.production_history("ESP-01", 365)
    np.testing.assert_array_equal(q, q2)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="not defined for esp"):
        SyntheticField(1, faults={"ESP-01": "rod_part"})
    with pytest.raises(ValueError, match="unknown wells"):
        SyntheticField(1, faults={"ESP-09": "gas_lock"})
    with pytest.raises(ValueError, match="no 'srp' wells"):
        SyntheticField({"esp": 1}).arrays("srp", 5)
