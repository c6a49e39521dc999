"""What-if simulation: the modified well, its operating point at a fixed setpoint, the projection, and the
sessions that run it off the router's thread (slider -> running -> done | error, newest move wins)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tb_bridge.adapters.lift import optimize_well
from tb_bridge.adapters.nodal import ATMOSPHERIC_PSIA
from tb_bridge.adapters.whatif import (SETPOINT_PARAMETER, SIM_PARAMETERS, WhatIfError, apply_parameters,
                                      comparison_table, fit_decline, lift_point, modified_config, original_parameters,
                                      parameters_for, projection_values, simulate, validate_parameters, what_if)
from tb_bridge.history.store import HistoryStore
from tb_bridge.sessions import SessionError, SimulationSessionManager
from tb_bridge.wells.model import parse_well_config
from tb_bridge.wells.registry import WellRegistry
from tb_bridge.writeback.keys import (ALL_SIM_PROJECTION_KEYS, SIM_PROJECTION_KEYS, check_attributes,
                                      simulation_projection_points)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIFT_EXAMPLES = {"esp": "well_esp.json", "srp": "well_srp.json", "pcp": "well_pcp.json", "gas_lift": "well_gas_lift.json"}
T0 = 1_700_000_123_456


def example(lift_type: str, **changes) -> dict:
    attributes = json.loads((EXAMPLES / LIFT_EXAMPLES[lift_type]).read_text())
    attributes.update(changes)
    return attributes


def well(lift_type: str, **changes):
    return parse_well_config("w1", "W-1", example(lift_type, **changes))


@pytest.mark.parametrize("lift_type", sorted(LIFT_EXAMPLES))
def test_no_change_gives_zero_and_the_optimizers_rate(lift_type):
    w = well(lift_type)
    result = what_if(w, {"water_cut_frac": w.water_cut_frac})  # a slider left at the configured value
    assert result.setpoint_source == "recommended"
    assert result.original == result.modified
    assert (result.delta_liquid_bpd, result.delta_oil_bpd, result.delta_pwf_psi) == (0.0, 0.0, 0.0)
    # at the recommended setpoint the configured well produces what the lift optimizer expects there
    assert result.original.liquid_bpd == pytest.approx(optimize_well(w).expected_q_bpd, rel=1e-6)


@pytest.mark.parametrize("lift_type,parameter,new_value", [
    ("esp", "wellhead_pressure_psi", 320.0), ("srp", "water_cut_frac", 0.6), ("pcp", "gor_scf_stb", 900.0),
    ("gas_lift", "reservoir_pressure_psi", 3000.0)])
def test_the_modified_well_is_the_well_configured_that_way(lift_type, parameter, new_value):
    """A slider move gives exactly the operating point of a well configured with the new value, at the same setpoint."""
    w = well(lift_type)
    result = what_if(w, {parameter: new_value})
    reconfigured = what_if(well(lift_type, **{parameter: new_value}), {}, {result.setpoint_key: result.setpoint})
    assert reconfigured.setpoint_source == "telemetry"
    assert result.modified == reconfigured.original
    assert result.delta_liquid_bpd != 0.0


@pytest.mark.parametrize("lift_type", sorted(LIFT_EXAMPLES))
def test_operating_point_lies_on_the_darcy_ipr_and_oil_is_the_dry_fraction(lift_type):
    w = well(lift_type, ipr_model="darcy")
    result = what_if(w, {"productivity_index_bpd_psi": 0.5 * w.productivity_index_bpd_psi, "water_cut_frac": 0.5})
    for point, config in ((result.original, w), (result.modified, result.modified_config)):
        # Darcy: q = J (Pr - Pwf), so Pwf = Pr - q / J (gauge pressures)
        pwf = config.reservoir_pressure_psi - point.liquid_bpd / config.productivity_index_bpd_psi
        assert point.pwf_psi == pytest.approx(pwf, abs=1e-6)
        assert point.oil_bpd == pytest.approx(point.liquid_bpd * (1.0 - config.water_cut_frac), rel=1e-12)
    # half the productivity: less liquid, lower bottomhole pressure
    assert result.delta_liquid_bpd < 0 and result.delta_pwf_psi < 0


def test_a_test_described_well_keeps_its_productivity_index_when_pressure_changes():
    """Single test q = 600 bbl/d at Pwf = 2400 psi, Pr = 3000 psi, above Pb: J = 600 / 600 = 1 bbl/d/psi (by hand).
    A reservoir-pressure what-if holds J (the IPR shifts); it does not re-read the old test at the new Pr."""
    w = well("esp", productivity_index_bpd_psi=None, test_rate_bpd=600.0, test_pwf_psi=2400.0,
             reservoir_pressure_psi=3000.0, bubble_point_psi=500.0)
    modified = modified_config(w, {"reservoir_pressure_psi": 2700.0})
    assert modified.productivity_index_bpd_psi == pytest.approx(1.0, rel=1e-12)
    assert (modified.test_rate_bpd, modified.test_pwf_psi, modified.test_points) == (None, None, None)
    result = what_if(w, {"reservoir_pressure_psi": 2700.0}, {"frequency_hz": 55.0})
    point = result.modified
    assert point.pwf_psi > modified.bubble_point_psi  # the straight line of the composite IPR applies
    assert point.pwf_psi == pytest.approx(2700.0 - point.liquid_bpd / 1.0, abs=1e-6)
    assert result.basis == "frequency_hz = 55 (latest telemetry)"
    # a PI slider on the same well replaces the test by the slider's J
    assert modified_config(w, {"productivity_index_bpd_psi": 2.0}).productivity_index_bpd_psi == 2.0


def test_vogel_productivity_index_is_held_through_qmax():
    """Vogel (1968): J = 1.8 qmax / Pr; at constant J a lower Pr gives qmax = J Pr / 1.8."""
    from tb_bridge.adapters.nodal import ipr_from_well

    w = well("pcp", ipr_model="vogel", productivity_index_bpd_psi=None, test_rate_bpd=300.0, test_pwf_psi=1200.0,
             reservoir_pressure_psi=2500.0)
    pr = 2500.0 + ATMOSPHERIC_PSIA
    x = (1200.0 + ATMOSPHERIC_PSIA) / pr
    qmax = 300.0 / (1.0 - 0.2 * x - 0.8 * x * x)
    j = 1.8 * qmax / pr
    modified = modified_config(w, {"reservoir_pressure_psi": 2000.0})
    assert modified.productivity_index_bpd_psi == pytest.approx(j, rel=1e-12)
    assert ipr_from_well(modified).aof_bpd == pytest.approx(j * (2000.0 + ATMOSPHERIC_PSIA) / 1.8, rel=1e-12)


@pytest.mark.parametrize("parameters,message", [
    ({"choke_size_in": 0.5}, "unknown what-if parameter(s) for a esp well: choke_size_in"),
    ({"lift_type": "srp"}, "unknown what-if parameter(s) for a esp well: lift_type"),
    ({"water_cut_frac": 1.5}, "water_cut_frac: Input should be less than or equal to 1"),
    ({"reservoir_pressure_psi": "high"}, "reservoir_pressure_psi: Input should be a valid number"),
])
def test_bad_requests_are_refused_with_the_reason(parameters, message):
    with pytest.raises(WhatIfError) as info:
        what_if(well("esp"), parameters)
    assert message in str(info.value)


def test_multi_rate_test_wells_refuse_a_pressure_what_if():
    points = [{"q_bpd": 400.0, "pwf_psi": 2400.0}, {"q_bpd": 700.0, "pwf_psi": 1800.0}]
    w = well("esp", ipr_model="fetkovich", test_points=points, productivity_index_bpd_psi=None)
    with pytest.raises(WhatIfError, match="productivity-index IPR"):
        modified_config(w, {"reservoir_pressure_psi": 2500.0})
    assert modified_config(w, {"water_cut_frac": 0.5}).water_cut_frac == 0.5  # other parameters still work


def test_setpoint_out_of_the_model_range_is_an_error():
    with pytest.raises(WhatIfError, match="frequency_hz = 5 is outside"):
        what_if(well("esp"), {"water_cut_frac": 0.4}, {"frequency_hz": 5.0})


# --- the what-if parameters of the simulation sessions (issue 19) ----------------------------------------------

def test_the_parameter_table_names_the_setpoint_and_six_well_parameters_of_each_lift_type():
    well_parameters = ("water_cut_pct", "reservoir_pressure_psi", "skin_factor", "productivity_index_bpd_psi",
                       "gor_scf_stb", "wellhead_pressure_psi")
    for lift_type, setpoint in (("esp", "freq_hz"), ("srp", "spm"), ("pcp", "rpm"), ("gas_lift", "gas_injection_rate")):
        assert SETPOINT_PARAMETER[lift_type] == setpoint
        assert parameters_for(lift_type) == (setpoint, *well_parameters)
    assert SIM_PARAMETERS["water_cut_pct"].target == "water_cut_frac" and SIM_PARAMETERS["water_cut_pct"].scale == 0.01
    assert SIM_PARAMETERS["gas_injection_rate"].unit == "Mscf/d"


@pytest.mark.parametrize("parameters,message", [
    ({"freq_hz": 95}, "freq_hz = 95 Hz is out of range [30, 90]"),
    ({"spm": 8}, "unknown what-if parameter(s) for a esp well: spm"),
    ({"water_cut_frac": 0.4}, "unknown what-if parameter(s) for a esp well: water_cut_frac"),
    ({"water_cut_pct": float("nan")}, "water_cut_pct must be a finite number"),
    ({"skin_factor": True}, "skin_factor must be a finite number"),
])
def test_session_parameters_are_validated_by_name(parameters, message):
    with pytest.raises(WhatIfError) as info:
        validate_parameters("esp", parameters)
    assert message in str(info.value)


@pytest.mark.parametrize("lift_type", sorted(LIFT_EXAMPLES))
def test_the_simulated_rate_at_a_new_setpoint_is_the_lift_engine_at_that_setpoint(lift_type):
    w = well(lift_type)
    original = original_parameters(w, {})
    name = SETPOINT_PARAMETER[lift_type]
    new = round(original[name] * 0.9, 3)
    run = simulate(w, original, {**original, name: new})
    key = SIM_PARAMETERS[name].target
    assert run.modified.liquid_bpd == pytest.approx(optimize_well(w, {key: new}).current_q_bpd, rel=1e-12)
    assert run.original.liquid_bpd == pytest.approx(optimize_well(w, {key: original[name]}).current_q_bpd, rel=1e-12)
    assert run.original.setpoint == original[name] and run.modified.setpoint == new
    assert run.delta_bpd == pytest.approx(run.modified.liquid_bpd - run.original.liquid_bpd, rel=1e-12)
    assert run.modified.oil_bpd == pytest.approx(run.modified.liquid_bpd * (1 - w.water_cut_frac), rel=1e-12)
    assert len(run.modified.ipr_curve) == 100 and run.modified.vlp_curve


def test_esp_at_65_hz_is_scan_frequencies_at_65_hz():
    from engines.lift.esp import scan_frequencies
    from tb_bridge.adapters import lift as lift_adapter

    w = well("esp")
    point = lift_point(w, 65.0)
    _, _, pc = lift_adapter._pump_curves(w, None)
    scan = scan_frequencies(lift_adapter._esp_system(w, pc), [65.0])
    assert point.liquid_bpd == float(scan.q_bpd[0]) and point.intake_pressure_psi == float(scan.intake_pressure_psi[0])
    assert point.kwh_per_bbl == float(scan.kwh_per_bbl[0]) and point.efficiency_pct == float(scan.efficiency_pct[0])


def test_skin_scales_the_productivity_index_radially_and_water_cut_is_a_percentage():
    w = well("esp")
    original = original_parameters(w, {})
    j0 = original["productivity_index_bpd_psi"]
    damaged = apply_parameters(w, original, {"skin_factor": 7.0})
    assert damaged.productivity_index_bpd_psi == pytest.approx(j0 * 7.0 / 14.0, rel=1e-12)  # J(s) = J0 7 / (7 + s)
    both = apply_parameters(w, original, {"skin_factor": 3.5, "productivity_index_bpd_psi": 2.0})
    assert both.productivity_index_bpd_psi == pytest.approx(2.0 * 7.0 / 10.5, rel=1e-12)
    assert apply_parameters(w, original, {"water_cut_pct": 45.0}).water_cut_frac == pytest.approx(0.45, rel=1e-12)
    assert apply_parameters(w, original, dict(original)) is w  # nothing changed: the configured well itself


def test_a_setpoint_outside_the_window_warns_and_the_action_says_so():
    w = well("esp")
    original = original_parameters(w, {})
    run = simulate(w, original, {**original, "freq_hz": w.frequency_max_hz + 5})
    assert any("outside the drive window" in text for text in run.warnings)
    assert run.recommended_action().startswith("do not apply")
    table = {row["quantity"]: row for row in comparison_table(run)}
    assert table["liquid rate"]["delta"] == pytest.approx(round(run.delta_bpd, 4), abs=1e-4)


def test_the_projection_follows_the_fitted_exponential_decline():
    day = 86_400_000
    t = T0 - np.arange(90, 0, -1) * day
    q = 800.0 * np.exp(-0.01 * np.arange(90))  # 1 %/day exponential decline
    basis = fit_decline(t, q, T0, "test")
    offsets = np.arange(144) * 300_000
    factors = basis.factors(offsets)
    assert factors[0] == 1.0
    assert factors == pytest.approx(np.exp(-0.01 * offsets / day), rel=2e-4)
    flat = fit_decline(t[:2], q[:2], T0, "test")
    assert flat.params is None and "2 positive rate samples" in flat.description
    assert np.all(flat.factors(offsets) == 1.0)


def test_the_projection_follows_the_decline_after_a_restart_and_not_a_flat_history():
    """After a 60-day shut-in the decline is fitted on the restart only (the curve's t = 0 at the restart); a
    flat history has no decline to project (factor 1, reason given)."""
    day = 86_400_000
    n1, n_down, n2 = 200, 60, 90
    k = np.arange(n1 + n_down + n2)
    after = np.clip(k - n1 - n_down, 0, None).astype(float)
    q = np.where(k < n1, 800.0 * np.exp(-0.01 * k), 500.0 * (1.0 + 0.8 * 0.02 * after) ** (-1.0 / 0.8))
    q[n1:n1 + n_down] = 0.0
    t = T0 - (k.size - k) * day  # the restart is n2 days before now
    basis = fit_decline(t, q, T0, "test")
    offsets = np.arange(144) * 300_000
    hyperbolic = (1.0 + 0.8 * 0.02 * (n2 + offsets / day)) ** (-1.0 / 0.8) / (1.0 + 0.8 * 0.02 * n2) ** (-1.0 / 0.8)
    assert basis.factors(offsets) == pytest.approx(hyperbolic, rel=1e-6)  # the restart's curve, at its own time
    rng = np.random.default_rng(3)
    flat = fit_decline(t[:120], 300.0 * np.exp(rng.normal(0.0, 0.03, 120)), T0, "test")
    assert flat.params is None and flat.description.startswith("no decline: flat")
    assert np.all(flat.factors(offsets) == 1.0)


def test_projection_points_use_the_lift_type_keys_of_the_table():
    w = well("srp")
    original = original_parameters(w, {})
    run = simulate(w, original, {**original, "spm": original["spm"] - 1})
    factors = np.linspace(1.0, 0.99, 144)
    points = simulation_projection_points("srp", projection_values(run, factors), T0, 300_000)
    assert [ts for ts, _ in points] == [T0 + k * 300_000 for k in range(144)]
    assert set(points[0][1]) == set(SIM_PROJECTION_KEYS["srp"]) == {"sim_spm", "sim_flow_rate_bpd", "sim_pump_fillage_pct"}
    assert points[-1][1]["sim_flow_rate_bpd"] == round(run.modified.liquid_bpd * 0.99, 4)
    assert check_attributes(points[0][1], "timeseries") == points[0][1]  # keys of the writeback table
    assert len(ALL_SIM_PROJECTION_KEYS) == 9


# --- the session manager without ThingsBoard (end to end: tests/e2e/test_simulation_sessions.py) ---------------

@pytest.fixture
def sessions(tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    registry = WellRegistry()
    registry.update("w1", example("esp"), name="W-1")
    attributes: list[tuple[str, dict]] = []
    series: list[tuple[str, list]] = []
    telemetry = {"w1": {"frequency_hz": 54.0, "flow_rate_bpd": 1234.0}}
    rig = SimulationSessionManager(registry, store, lambda w, a: attributes.append((w, check_attributes(a))),
                                   write_timeseries=lambda w, p: series.append((w, list(p))),
                                   latest_telemetry=lambda w: telemetry.get(w, {}), clock_ms=lambda: T0)
    yield rig, registry, store, attributes, series
    rig.stop()
    store.close()


def _latest(attributes, well_id="w1"):
    merged: dict = {}
    for w, values in attributes:
        if w == well_id:
            merged.update(values)
    return merged


def test_a_slider_move_is_simulated_recorded_and_projected(sessions):
    rig, registry, store, attributes, series = sessions
    rig.on_parameters("w1", {"water_cut_pct": 50}, T0)
    rig.on_parameters("w1", {"wellhead_pressure_psi": 250.0}, T0 + 1000)  # the same session, both changes
    assert rig.wait_idle(60)
    w = registry.config("w1")
    original = original_parameters(w, {"frequency_hz": 54.0})
    expected = simulate(w, original, {**original, "water_cut_pct": 50.0, "wellhead_pressure_psi": 250.0})
    last = _latest(attributes)
    assert last["sim_status"] == "done" and last["sim_error"] == ""
    assert last["sim_compare_production_delta_bpd"] == round(expected.delta_bpd, 4)
    assert last["sim_opt_production_bpd"] == round(expected.modified.liquid_bpd, 4)
    assert last["sim_original_water_cut_pct"] == 29.0 and last["sim_original_wellhead_pressure_psi"] == 163.766
    assert last["sim_original_freq_hz"] == 54.0  # the latest telemetry
    well_id, points = series[-1]
    assert well_id == "w1" and len(points) == 144 and points[0][0] == (T0 // 300_000 + 1) * 300_000
    (session,) = store.sessions(well_id="w1")
    assert session.status == "done" and session.id == last["sim_session_id"]
    assert session.results["sim_opt_production_bpd"] == last["sim_opt_production_bpd"]


def test_a_refused_request_says_why_and_the_next_one_works(sessions):
    rig, registry, store, attributes, series = sessions
    rig.on_parameters("w1", {"choke_size_in": 0.5}, T0)  # not a parameter: refused, not merged
    assert rig.wait_idle(60)
    assert "unknown what-if parameter(s) for a esp well: choke_size_in" in _latest(attributes)["sim_error"]
    (kept,) = store.dead_letters()  # the refused request is not lost
    assert (kept.source, kept.well_id, json.loads(kept.payload)) == (
        "what-if", "w1", {"well_id": "w1", "ts_ms": T0, "sim_params": {"sim_param_choke_size_in": 0.5}})
    rig.on_parameters("w1", {"water_cut_pct": 150}, T0 + 1)  # out of range
    assert rig.wait_idle(60)
    assert _latest(attributes)["sim_error"] == "water_cut_pct = 150 % is out of range [0, 99]" and series == []
    assert rig.by_well("w1")["modified"] == {}
    rig.on_parameters("w1", {"water_cut_pct": 40}, T0 + 2)  # the slider moved back into range
    assert rig.wait_idle(60)
    last = _latest(attributes)
    assert last["sim_status"] == "done" and last["sim_error"] == "" and len(series) == 1
    rig.on_parameters("nowhere", {"water_cut_pct": 40}, T0)  # an unconfigured well is refused with its reason
    assert rig.wait_idle(60)
    assert _latest(attributes, "nowhere")["sim_error"] == ("well 'nowhere' has no valid configuration to simulate "
                                                           "(see opt_error)")


def test_moves_arriving_while_busy_are_merged_newest_wins(sessions):
    rig, registry, _store, attributes, series = sessions
    for k, wc in enumerate((31, 35, 40, 45, 50, 55)):
        rig.on_parameters("w1", {"water_cut_pct": wc}, T0 + k)
    assert rig.wait_idle(60)
    done = [a for _, a in attributes if a.get("sim_status") == "done"]
    assert 1 <= len(done) <= 6
    w = registry.config("w1")
    original = original_parameters(w, {"frequency_hz": 54.0})
    expected = simulate(w, original, {**original, "water_cut_pct": 55.0})
    assert done[-1]["sim_compare_production_delta_bpd"] == round(expected.delta_bpd, 4)
    assert series[-1][1][0][1]["sim_flow_rate_bpd"] == round(expected.modified.liquid_bpd, 4)  # no history: flat
    assert rig.by_well("w1")["modified"] == {"water_cut_pct": 55.0}


def test_the_manager_interface_queues_runs_and_refuses_clearly(sessions):
    rig, registry, store, attributes, series = sessions
    opened = rig.create("w1")
    assert set(opened) == {"session_id", "well_id", "lift_type", "created_ms", "expires_ms", "original", "modified"}
    assert opened["lift_type"] == "esp" and opened["expires_ms"] == T0 + 7_200_000 and opened["modified"] == {}
    assert rig.create("w1") == opened and rig.list() == [opened] and rig.by_well("w1") == opened
    assert rig.set_params(opened["session_id"], {"freq_hz": 60}, wait=False) == {"status": "queued"}
    assert rig.wait_idle(60) and len(series) == 1  # the queued run ran
    assert rig.set_params(opened["session_id"], {"freq_hz": 60}, wait=False) == {"status": "queued"}
    assert rig.wait_idle(60) and len(series) == 2  # asked for again: runs again, though nothing changed
    del series[0]
    assert _latest(attributes)["sim_opt_production_bpd"] == round(lift_point(registry.config("w1"), 60.0).liquid_bpd, 4)
    result = rig.run(opened["session_id"])
    assert result["sim_opt_production_bpd"] == _latest(attributes)["sim_opt_production_bpd"] and len(series) == 2
    assert result["projection"]["points"] == 144 and result["projection"]["keys"] == list(SIM_PROJECTION_KEYS["esp"])
    with pytest.raises(SessionError, match="freq_hz = 10 Hz is out of range"):
        rig.set_params(opened["session_id"], {"freq_hz": 10})
    assert rig.reset_params(opened["session_id"], ["freq_hz", "nope"]) == {
        "session_id": opened["session_id"], "restored": ["freq_hz"], "not_found": ["nope"], "remaining_modified": {}}
    assert rig.expire(T0 + 7_200_000 - 1) == [] and rig.expire(T0 + 7_200_000) == [opened["session_id"]]
    assert rig.get(opened["session_id"]) is None and rig.close(opened["session_id"]) is False


def test_thingsboard_rate_history_is_the_rate_while_producing():
    """The what-if decline reads ThingsBoard's 5-minute history as daily means divided by each day's producing
    fraction: a well at 300 bbl/d down 0-12 hours a day reads 300 bbl/d every day (not 150-300 bbl/d)."""
    from tb_bridge.sessions import rate_history_source

    day = 86_400_000
    ts = (T0 // day - 30) * day + np.arange(30 * 288, dtype=np.int64) * 300_000  # 30 UTC days, 5-minute samples
    hours = (ts % day) / 3_600_000
    down_hours = np.repeat(np.linspace(0.0, 12.0, 30), 288)
    q = np.where(hours < down_hours, 0.0, 300.0)

    class Reader:
        def series(self, well_id, key, days, end_ms):
            return ts, q

    t_ms, values, source = rate_history_source(buffer=None, reader=Reader())("w", T0)
    assert source.startswith("ThingsBoard") and len(t_ms) == 30
    assert np.allclose(values, 300.0, rtol=1e-12)
