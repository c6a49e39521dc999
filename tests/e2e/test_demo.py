"""The demo end to end: every provisioned well gets its attributes back through the real path
(stand-in -> transport -> router -> buffer -> tiers -> engines -> REST writeback -> stand-in); the
injected faults are diagnosed as themselves and the healthy wells stay clean; the misconfigured well
gets opt_error and a dead-letter row while the others proceed. Beside the lifted wells, one naturally flowing well
with a downhole gauge (NF-01) is monitored and diagnosed."""
from __future__ import annotations

import pytest

from tb_bridge.demo import MISCONFIGURED_WELL, NATURAL_FLOW_WELL, run_demo

HOURS = 8
FAULTS = {"ESP-01": "pump_wear", "SRP-01": "fluid_pound", "PCP-01": "sand_up", "GL-01": "casing_heading",
          "NF-01": "productivity_loss"}


@pytest.fixture(scope="module")
def demo_result():
    return run_demo(hours=HOURS, wells_per_lift_type=2, seed=11, progress=False)


def valid_wells(result):
    return [name for name in result.wells if name != MISCONFIGURED_WELL["name"]]


def lifted_wells(result):
    return [name for name in valid_wells(result) if name != NATURAL_FLOW_WELL]


def test_every_valid_well_got_its_attributes(demo_result):
    assert len(lifted_wells(demo_result)) == 8  # 2 per lift type
    assert valid_wells(demo_result) == lifted_wells(demo_result) + [NATURAL_FLOW_WELL]
    for name in valid_wells(demo_result):
        attributes = demo_result.attributes[name]
        assert attributes["opt_status"] == "ok", (name, attributes.get("opt_error"))
        assert attributes["opt_error"] == ""
        # The buffer keeps one day of 5-minute samples (warm-up day + 8 h, capped at 288).
        assert attributes["opt_monitor_points"] == 288
        assert attributes["opt_monitor_completeness_pct"] == pytest.approx(100.0)
    natural = demo_result.attributes[NATURAL_FLOW_WELL]  # no rate, no setpoint: no nodal, lift or decline keys
    assert "opt_well_health_score" in natural and not any(k.startswith(("opt_nodal", "opt_lift", "opt_dca"))
                                                          for k in natural)
    for name in lifted_wells(demo_result):
        attributes = demo_result.attributes[name]
        # Every engine family wrote its keys.
        for key in ("opt_nodal_aof_bpd", "opt_lift_expected_q_bpd", "opt_lift_curve", "opt_well_health_score",
                    "opt_dca_eur_p50", "opt_dca_forecast"):
            assert key in attributes, (name, key)
        assert attributes["opt_dca_history_source"] == "thingsboard"  # 180 days backfilled in the stand-in
        assert attributes["opt_dca_eur_p90"] <= attributes["opt_dca_eur_p50"] <= attributes["opt_dca_eur_p10"]
        # the learned forecast, trained on the 180 backfilled days (issue 22: 2); the ESP failure probability (3)
        assert attributes["opt_ml_forecast_model"]["version"] == 1 and len(attributes["opt_ml_forecast_model"]["sha256"]) == 64
        if name.startswith("ESP"):
            assert 0.0 <= attributes["opt_esp_failure_prob_30d"] <= 1.0


def test_injected_faults_are_diagnosed_and_healthy_wells_stay_clean(demo_result):
    for name in valid_wells(demo_result):
        attributes = demo_result.attributes[name]
        expected = FAULTS.get(name, "none")
        assert attributes["opt_anomaly_type"] == expected, name
        assert attributes["opt_anomaly_detected"] is (expected != "none")
        if expected == "none":
            assert attributes["opt_well_health_score"] >= 90
        else:
            assert attributes["opt_well_health_score"] < 90


def test_tiers_ran_on_the_simulated_clock(demo_result):
    assert demo_result.tier_runs == {"fast": HOURS * 12, "hourly": HOURS, "daily": 1, "weekly": 1, "monthly": 1}
    assert demo_result.telemetry_events == (288 + HOURS * 12) * 9  # 8 lifted wells and NF-01


def test_misconfigured_well_is_isolated(demo_result):
    bad = demo_result.attributes[MISCONFIGURED_WELL["name"]]
    assert bad["opt_status"] == "error"
    assert "unknown lift type 'jet_pump'" in bad["opt_error"]
    assert demo_result.dead_letters >= 1


def test_the_slider_move_is_simulated_through_the_service(demo_result):
    """The demo's what-if (first ESP well, water cut + 20 points) comes back done, at the well's latest frequency,
    with the same answer as the ESP engine called at that frequency on the modified well."""
    from tb_bridge.adapters.whatif import lift_point, original_parameters, simulate
    from tb_bridge.wells.model import parse_well_config

    w = demo_result.what_if
    assert w["well"] == "ESP-01"
    sim = w["attributes"]
    assert sim["sim_status"] == "done" and sim.get("sim_error", "") == ""
    attributes = demo_result.attributes["ESP-01"]
    well = parse_well_config("esp-01", "ESP-01", {k: v for k, v in attributes.items()
                                                   if not k.startswith(("opt_", "sim_"))})
    assert sim["sim_original_water_cut_pct"] == pytest.approx(100 * well.water_cut_frac, abs=1e-6)
    assert w["parameters"] == {"water_cut_pct": round(100 * well.water_cut_frac + 20.0, 4)}
    assert sim["sim_param_water_cut_pct"] == w["parameters"]["water_cut_pct"]
    frequency = sim["sim_original_freq_hz"]  # the well's latest telemetry when the session opened
    original = original_parameters(well, {"frequency_hz": frequency})
    expected = simulate(well, original, {**original, **w["parameters"]})
    modified = well.model_copy(update={"water_cut_frac": w["parameters"]["water_cut_pct"] / 100})
    assert expected.modified.liquid_bpd == lift_point(modified, frequency).liquid_bpd
    assert sim["sim_opt_production_bpd"] == pytest.approx(expected.modified.liquid_bpd, abs=1e-4)
    assert sim["sim_compare_production_delta_bpd"] == pytest.approx(expected.delta_bpd, abs=2e-4)


def test_a_simulation_session_on_each_lift_type_leaves_nothing_after_close(demo_result):
    """Issue 19: 3. On the first well of each lift type the demo moves the setpoint and the water cut (slider writes),
    resets the water cut (reset_params) and closes: the setpoint move changes the production; each run projects 144
    points per key of the lift type; the reset restores the water cut alone; after close no ``sim_*`` attribute, no
    projection point and no session is left."""
    from tb_bridge.demo import SIM_SETPOINT_MOVES
    from tb_bridge.writeback.keys import SIM_PROJECTION_KEYS

    sim = demo_result.simulation
    assert sorted(sim) == ["ESP-01", "GL-01", "PCP-01", "SRP-01"]
    for name, s in sim.items():
        lift_type = s["lift_type"]
        setpoint = SIM_SETPOINT_MOVES[lift_type][0]
        assert [list(w) for w in s["written"]] == [[f"sim_param_{setpoint}"], ["sim_param_water_cut_pct"]], name
        move, water_cut = s["moves"]
        assert move["parameter"] == setpoint and move["to"] != move["from"], name
        assert move["status"] == "done" and move["error"] == "", (name, move["error"])
        assert move["production_delta_bpd"] != 0, name
        assert move["production_bpd"] == pytest.approx(move["original_production_bpd"] + move["production_delta_bpd"],
                                                       abs=1e-3)
        assert water_cut["status"] == "done" and water_cut["to"] > water_cut["from"], name
        assert s["projection_points"] == {k: 144 for k in SIM_PROJECTION_KEYS[lift_type]}, name
        assert s["reset"]["restored"] == ["water_cut_pct"] and s["reset"]["not_found"] == []
        assert "water_cut_pct" not in s["reset"]["remaining_modified"]
        assert s["reset"]["remaining_modified"] == {setpoint: move["to"]}
        assert s["production_after_reset_bpd"] == pytest.approx(move["production_bpd"], abs=1e-4), name
        assert s["closed"] is True
        assert s["remaining_after_close"] == {"attributes": [], "projection_points": {}, "session_open": False}, name
        assert not any(k.startswith("sim_") for k in demo_result.attributes[name]) or name == "ESP-01"


def test_demo_json_has_the_simulation_sessions(demo_result, monkeypatch, capsys):
    """`atilax demo --json` prints ``simulation``: per well, the attributes written, the moves, the projection points
    per key, the reset answer and what remained after close."""
    import json

    import tb_bridge.demo as demo_module
    from tb_bridge.cli.main import main

    monkeypatch.setattr(demo_module, "run_demo", lambda **kwargs: demo_result)
    assert main(["demo", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["simulation"] == demo_result.simulation
