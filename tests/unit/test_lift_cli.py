"""Lift adapter (WellConfig -> optimizer -> LiftResult -> opt_* attributes via keys.lift_attributes) and the
lift / srp / pcp CLI families."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tb_bridge.cli.main as cli_main
from engines.lift.elastomer import life_days
from engines.lift.rod_string import RodString, RodTaper
from engines.lift.srp_predictive import PumpCondition, predict_cards
from tb_bridge.adapters.lift import optimize_well
from tb_bridge.wells.model import parse_well_config
from tb_bridge.writeback.keys import LIFT_SETPOINT_KEYS, lift_attributes

BASE = dict(reservoir_pressure_psi=2500.0, bubble_point_psi=1800.0, productivity_index_bpd_psi=1.5, perforation_depth_ft=8000.0,
            water_cut_frac=0.5, gor_scf_stb=300.0)
WELLS = {
    "esp": dict(lift_type="esp", pump_model="DN1750", pump_stages=180, pump_depth_ft=7500.0, motor_hp=200.0),
    "srp": dict(lift_type="srp", pump_depth_ft=6000.0, productivity_index_bpd_psi=0.15,
                rod_string=[dict(diameter_in=0.875, length_ft=2500.0), dict(diameter_in=0.75, length_ft=3500.0)]),
    "pcp": dict(lift_type="pcp", pump_depth_ft=4000.0, perforation_depth_ft=4200.0, reservoir_pressure_psi=1500.0,
                bubble_point_psi=800.0, productivity_index_bpd_psi=0.5, elastomer="HNBR"),
    "gas_lift": dict(lift_type="gas_lift", injection_depth_ft=7000.0, injection_max_mscfd=1500.0),
}
RANGES = {"esp": (35.0, 70.0), "srp": (4.0, 14.0), "pcp": (50.0, 400.0), "gas_lift": (0.0, 1500.0)}


@pytest.fixture()
def families(monkeypatch):
    missing = tuple(f for f in ("lift", "srp", "pcp") if f not in cli_main.COMMAND_FAMILIES)  # until registered
    monkeypatch.setattr(cli_main, "COMMAND_FAMILIES", cli_main.COMMAND_FAMILIES + missing)


@pytest.mark.parametrize("lift", list(WELLS))
def test_optimize_well_every_lift_type(lift):
    well = parse_well_config("w1", "Well 1", {**BASE, **WELLS[lift]})
    result = optimize_well(well, {"flow_rate_bpd": 300.0})
    attrs = lift_attributes(result)
    lo, hi = RANGES[lift]
    assert lo <= attrs[LIFT_SETPOINT_KEYS[lift]] <= hi
    assert attrs["opt_lift_delta_q_bpd"] == pytest.approx(result.expected_q_bpd - 300.0, abs=1e-3)
    curve = attrs["opt_lift_curve"]
    assert len(curve) >= 5 and all(lo - 1e-9 <= p[0] <= hi + 1e-9 for p in curve)
    # the expected rate is the curve's value at the recommended setpoint
    xs, ys = np.array(curve).T
    q_curve = float(np.interp(result.recommended_setpoint, xs, ys))
    expected_curve_q = result.expected_q_bpd * (0.5 if lift == "gas_lift" else 1.0)  # GLPC is oil; wc = 0.5
    assert q_curve == pytest.approx(expected_curve_q, rel=0.02, abs=0.5)
    assert result.binding_constraint
    if lift == "srp":
        assert attrs["opt_srp_card_class"] == "normal" and 0 < attrs["opt_srp_fillage_pct"] <= 100
        assert len(attrs["opt_srp_downhole_card"]["load_lbf"]) == 120
    if lift == "pcp":
        assert 30.0 < attrs["opt_pcp_elastomer_life_days"] <= 1826.0
    if lift == "esp":
        assert -100.0 < attrs["opt_esp_bep_distance_pct"] < 200.0


def test_srp_measured_surface_card_is_diagnosed():
    well = parse_well_config("w2", "Well 2", {**BASE, **WELLS["srp"]})
    rods = RodString((RodTaper(0.875, 2500.0), RodTaper(0.75, 3500.0)))
    pred = predict_cards(rods, 8.0, 100.0, PumpCondition("fluid_pound", 6000.0, fillage=0.55), damping_factor=0.05,
                         fluid_sg=1.0)
    card = json.dumps({"position_in": pred.surface.position_in.tolist(), "load_lbf": pred.surface.load_lbf.tolist()})
    result = optimize_well(well, {"spm": 8.0, "surface_card": card})
    assert result.extras["srp_card_source"] == "measured"
    assert result.extras["srp_card_class"] == "fluid_pound"


def test_cli_lift_optimize(tmp_path, capsys, families):
    path = tmp_path / "well.json"
    path.write_text(json.dumps({**BASE, **WELLS["esp"], "telemetry": {"frequency_hz": 50.0}}))
    assert cli_main.main(["lift", "optimize", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 35.0 <= out["attributes"]["opt_esp_freq_recommended_hz"] <= 70.0
    assert out["result"]["current_setpoint"] == 50.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**BASE, **WELLS["esp"], "pump_model": "NOPE"}))
    assert cli_main.main(["lift", "optimize", str(bad)]) == 2
    assert "NOPE" in capsys.readouterr().err


def test_cli_allocate_gas(tmp_path, capsys, families):
    x = np.linspace(0.0, 2000.0, 21)
    wells = [{"name": f"W{i}", "glpc": {"injection_mscfd": x.tolist(), "oil_bpd": (a * np.log1p(0.005 * x)).tolist()}}
             for i, a in enumerate((100.0, 150.0, 200.0))]
    path = tmp_path / "field.json"
    path.write_text(json.dumps({"available_gas_mscfd": 2500.0, "wells": wells}))
    assert cli_main.main(["lift", "allocate-gas", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_injection_mscfd"] <= 2500.0 + 1e-9
    assert out["total_oil_bpd"] == pytest.approx(out["lp_check_total_oil_bpd"], rel=1e-9)
    # larger curves (same shape) get more gas
    gas = [w["injection_mscfd"] for w in out["wells"]]
    assert gas[0] < gas[1] < gas[2]
    path.write_text(json.dumps({"available_gas_mscfd": -1, "wells": wells}))
    assert cli_main.main(["lift", "allocate-gas", str(path)]) == 2


def test_cli_srp_downhole_card(tmp_path, capsys, families):
    rods = RodString((RodTaper(0.875, 2000.0), RodTaper(0.75, 3000.0)))
    pred = predict_cards(rods, 8.0, 100.0, PumpCondition("gas_interference", 5000.0, gas_fraction=0.5), damping_factor=0.1)
    doc = {"position_in": pred.surface.position_in.tolist(), "load_lbf": pred.surface.load_lbf.tolist(), "spm": 8.0,
           "rod_string": [{"diameter_in": 0.875, "length_ft": 2000.0}, {"diameter_in": 0.75, "length_ft": 3000.0}],
           "plunger_diameter_in": 1.75, "damping_factor": 0.1, "expected_fluid_load_lbf": 5000.0}
    path = tmp_path / "card.json"
    path.write_text(json.dumps(doc))
    assert cli_main.main(["srp", "downhole-card", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["card_class"] == "gas_interference"
    assert out["pump_work_ftlbf"] < out["surface_work_ftlbf"]
    assert len(out["rod_loading_pct"]) == 2
    assert cli_main.main(["srp", "downhole-card", str(path)]) == 0
    assert "gas_interference" in capsys.readouterr().out


def test_cli_pcp_elastomer_life(tmp_path, capsys, families):
    path = tmp_path / "hist.json"
    path.write_text(json.dumps({"elastomer": "NBR", "time_days": [0, 200], "temperature_c": [80.0, 80.0]}))
    assert cli_main.main(["pcp", "elastomer-life", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    life80 = float(life_days("NBR", 80.0))
    assert out["damage_frac"] == pytest.approx(200.0 / life80)
    assert out["remaining_days"] == pytest.approx(life80 - 200.0)
    path.write_text(json.dumps({"elastomer": "XYZ", "time_days": [0], "temperature_c": [80.0]}))
    assert cli_main.main(["pcp", "elastomer-life", str(path)]) == 2


def test_cache_reuses_configuration_curves():
    from tb_bridge.adapters.lift import LiftCache

    cache = LiftCache(max_entries=4)
    well = parse_well_config("w1", "Well 1", {**BASE, **WELLS["esp"]})
    first = optimize_well(well, {"frequency_hz": 50.0}, cache)
    second = optimize_well(well, {"frequency_hz": 55.0}, cache)
    assert (cache.misses, cache.hits) == (1, 1)
    assert second.recommended_setpoint == first.recommended_setpoint
    assert second.current_setpoint == 55.0 and second.current_q_bpd > first.current_q_bpd  # faster pump, more rate
    uncached = optimize_well(well, {"frequency_hz": 55.0})
    assert uncached.expected_q_bpd == second.expected_q_bpd
    changed = parse_well_config("w1", "Well 1", {**BASE, **WELLS["esp"], "pump_stages": 200})
    optimize_well(changed, {}, cache)
    assert cache.misses == 2  # a changed attribute is a new entry


def test_cli_lift_what_if(tmp_path, capsys, families):
    """The CLI prints what the adapter computes: same setpoint, configured vs modified, and the difference."""
    from tb_bridge.adapters.whatif import what_if

    attrs = {**BASE, **WELLS["esp"]}
    path = tmp_path / "w.json"
    path.write_text(json.dumps({**attrs, "telemetry": {"frequency_hz": 52.0}, "parameters": {"water_cut_frac": 0.7}}))
    assert cli_main.main(["lift", "what-if", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = what_if(parse_well_config("cli-well", "well", attrs), {"water_cut_frac": 0.7}, {"frequency_hz": 52.0})
    assert (out["setpoint_key"], out["setpoint"], out["setpoint_source"]) == ("frequency_hz", 52.0, "telemetry")
    assert out["delta_oil_bpd"] == pytest.approx(expected.delta_oil_bpd, rel=1e-12) and out["delta_oil_bpd"] < 0
    assert out["modified"]["oil_bpd"] == pytest.approx(out["modified"]["liquid_bpd"] * 0.3, rel=1e-12)
    path.write_text(json.dumps({**attrs, "parameters": {"water_cut_frac": 1.7}}))
    assert cli_main.main(["lift", "what-if", str(path)]) == 2
    assert "water_cut_frac: Input should be less than or equal to 1" in capsys.readouterr().err
