"""What-if simulation: the modified well, its operating point at a fixed setpoint, the projection, and the
sessions that run it off the router's thread (slider -> running -> done | error, newest move wins)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tb_bridge.adapters.lift import optimize_well
from tb_bridge.adapters.nodal import ATMOSPHERIC_PSIA
from tb_bridge.adapters.whatif import WhatIfError, modified_config, projection, what_if
from tb_bridge.history.store import HistoryStore
from tb_bridge.sessions import RecordingSimulationSessions, WhatIfSimulator
from tb_bridge.wells.model import parse_well_config
from tb_bridge.wells.registry import WellRegistry
from tb_bridge.writeback.keys import check_attributes

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


def test_projection_is_the_modified_point_on_the_tier_grid_for_twelve_hours():
    result = what_if(well("esp"), {"wellhead_pressure_psi": 300.0}, {"frequency_hz": 52.0})
    points = projection(result, T0)
    first = T0 // 300_000 * 300_000
    assert [ts for ts, _ in points] == [first + k * 300_000 for k in range(145)]
    assert points[-1][0] - points[0][0] == 12 * 3_600_000
    assert {tuple(v.items()) for _, v in points} == {(("sim_q_bpd", round(result.modified.liquid_bpd, 4)),
                                                       ("sim_pwf_psi", round(result.modified.pwf_psi, 4)))}
    assert check_attributes(points[0][1], "timeseries") == points[0][1]  # keys of the writeback table


# --- sessions ---------------------------------------------------------------------------------------------

@pytest.fixture
def sessions(tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    registry = WellRegistry()
    registry.update("w1", example("esp"), name="W-1")
    attributes: list[tuple[str, dict]] = []
    series: list[tuple[str, list]] = []
    telemetry = {"w1": {"frequency_hz": 54.0, "flow_rate_bpd": 1234.0}}
    simulator = WhatIfSimulator(lambda w: telemetry.get(w, {}), lambda w, p: series.append((w, list(p))))
    rig = RecordingSimulationSessions(registry, store, lambda w, a: attributes.append((w, check_attributes(a))),
                                      simulator)
    yield rig, registry, store, attributes, series
    rig.close()
    store.close()


def _latest(attributes, well_id="w1"):
    merged: dict = {}
    for w, values in attributes:
        if w == well_id:
            merged.update(values)
    return merged


def test_a_slider_move_is_simulated_recorded_and_projected(sessions):
    rig, registry, store, attributes, series = sessions
    rig.on_parameters("w1", {"water_cut_frac": 0.5}, T0)
    assert attributes[0][1]["sim_status"] == "running"
    rig.on_parameters("w1", {"wellhead_pressure_psi": 250.0}, T0 + 1000)  # the same session, both changes
    assert rig.wait_idle(60)
    expected = what_if(registry.config("w1"), {"water_cut_frac": 0.5, "wellhead_pressure_psi": 250.0},
                       {"frequency_hz": 54.0})
    last = _latest(attributes)
    assert last["sim_status"] == "done" and last["sim_error"] == ""
    assert last["sim_basis"] == "frequency_hz = 54 (latest telemetry)"
    assert last["sim_compare_q_bpd"] == round(expected.delta_liquid_bpd, 4)
    assert last["sim_compare_oil_bpd"] == round(expected.delta_oil_bpd, 4) < 0  # more water, less oil
    assert last["sim_compare_pwf_psi"] == round(expected.delta_pwf_psi, 4)
    assert last["sim_original_water_cut_frac"] == 0.29 and last["sim_original_wellhead_pressure_psi"] == 163.766
    well_id, points = series[-1]
    assert well_id == "w1" and points == projection(expected, T0 + 1000)
    (session,) = store.sessions(well_id="w1")
    assert session.status == "done" and session.id == last["sim_session_id"]
    assert session.results["delta_oil_bpd"] == pytest.approx(expected.delta_oil_bpd, rel=1e-12)
    assert session.results["setpoint"] == 54.0 and session.results["setpoint_source"] == "telemetry"


def test_a_refused_request_says_why_and_the_next_one_works(sessions):
    rig, registry, store, attributes, series = sessions
    rig.on_parameters("w1", {"choke_size_in": 0.5}, T0)  # not a parameter of the well: refused at once
    last = _latest(attributes)
    assert last == {"sim_status": "error", "sim_error": "unknown what-if parameter(s) for a esp well: choke_size_in"}
    (kept,) = store.dead_letters()  # the refused request is not lost
    assert (kept.source, kept.well_id, json.loads(kept.payload)) == (
        "what-if", "w1", {"well_id": "w1", "ts_ms": T0, "sim_params": {"choke_size_in": 0.5}})
    rig.on_parameters("w1", {"water_cut_frac": 1.5}, T0 + 1)  # out of range: refused by the well model
    assert rig.wait_idle(60)
    last = _latest(attributes)
    assert last["sim_status"] == "error" and last["sim_error"] == "water_cut_frac: Input should be less than or equal to 1"
    assert series == []
    (session,) = store.sessions(well_id="w1")
    assert session.status == "error" and "water_cut_frac" in session.results["error"]
    assert "choke_size_in" not in session.modified_params
    rig.on_parameters("w1", {"water_cut_frac": 0.4}, T0 + 2)  # the slider moved back into range
    assert rig.wait_idle(60)
    last = _latest(attributes)
    assert last["sim_status"] == "done" and last["sim_error"] == "" and len(series) == 1
    expected = what_if(registry.config("w1"), {"water_cut_frac": 0.4}, {"frequency_hz": 54.0})
    assert last["sim_compare_oil_bpd"] == round(expected.delta_oil_bpd, 4)
    # an unconfigured well is refused with its own reason
    rig.on_parameters("nowhere", {"water_cut_frac": 0.4}, T0)
    assert rig.wait_idle(60)
    assert _latest(attributes, "nowhere")["sim_error"] == "the well has no valid configuration to simulate (see opt_error)"


def test_moves_arriving_while_busy_are_merged_newest_wins(sessions):
    rig, registry, _store, attributes, series = sessions
    for k, wc in enumerate((0.31, 0.35, 0.4, 0.45, 0.5, 0.55)):
        rig.on_parameters("w1", {"water_cut_frac": wc}, T0 + k)
    assert rig.wait_idle(60)
    done = [a for _, a in attributes if a.get("sim_status") == "done"]
    assert 1 <= len(done) <= 6
    expected = what_if(registry.config("w1"), {"water_cut_frac": 0.55}, {"frequency_hz": 54.0})
    assert done[-1]["sim_compare_oil_bpd"] == round(expected.delta_oil_bpd, 4)
    assert series[-1][1][0][1]["sim_q_bpd"] == round(expected.modified.liquid_bpd, 4)
    assert math.isclose(_latest(attributes)["sim_compare_q_bpd"], round(expected.delta_liquid_bpd, 4))
