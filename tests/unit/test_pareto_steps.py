"""Hourly Pareto step (issue 21: 1, 2): opt_pareto_* keys from a well's configuration and latest setpoint, the
weighted choice reviewed by the safety layer, and today's operating point on the front's objectives."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines.optimize.safety import SafetyLimits
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.handlers.base import WellContext
from tb_bridge.handlers.pareto_steps import pareto_problem, pareto_step
from tb_bridge.handlers.registry import handler_for
from tb_bridge.wells.model import parse_well_config
from tb_bridge.writeback.keys import check_attributes

NOW_MS = 1_780_000_000_000
SETPOINT_KEY = {"esp": "frequency_hz", "srp": "spm", "pcp": "rpm", "gas_lift": "injection_rate_mscfd"}


def _well(lift_type: str, entity_id: str | None = None, **extra):
    with open(f"examples/well_{lift_type}.json", encoding="utf-8") as fh:
        attrs = json.load(fh)
    attrs.update(extra)
    return parse_well_config(entity_id or f"w-{lift_type}", attrs.pop("name"), attrs)


def _context(well, setpoint: float | None):
    ts = NOW_MS - np.arange(3, 0, -1, dtype=np.int64) * 300_000
    values = {} if setpoint is None else {SETPOINT_KEY[well.lift_type]: np.full(3, setpoint)}
    return WellContext(config=well, window=BufferWindow(ts, values), now_ms=NOW_MS, tier="hourly")


@pytest.mark.parametrize("lift_type", ["esp", "srp", "pcp", "gas_lift"])
def test_every_lift_type_runs_the_pareto_step_hourly(lift_type):
    assert any(getattr(s, "__name__", "") == "pareto_step" for s in handler_for(lift_type).steps_by_tier["hourly"])


@pytest.mark.parametrize("lift_type, setpoint", [("esp", 50.0), ("pcp", 120.0), ("gas_lift", 400.0)])
def test_keys_front_knee_choice_and_the_safety_verdict(lift_type, setpoint):
    well = _well(lift_type)
    out = pareto_step(_context(well, setpoint)).attributes
    check_attributes(out)  # every key is in the writeback table
    front = out["opt_pareto_front"]
    points = front["points"]
    assert len(points) >= 10 and front["algorithm"] == "grid"
    assert out["opt_pareto_knee"] == points[front["knee_index"]]
    choice = out["opt_pareto_choice"]
    assert {k: choice[k] for k in points[0]} == points[front["choice_index"]]
    assert 0 < out["opt_pareto_hypervolume"] <= 1.331
    # today's point: the engine at the running setpoint
    name = pareto_problem(well, {}).variables[0].name
    assert front["current"][name] == setpoint
    # the safety layer: a proposal more than one maximum step away is clipped to it (or refused), never passed whole
    limits = SafetyLimits.from_well(well)
    verdict = choice["safety"]
    if verdict["allowed"]:
        assert abs(verdict["setpoint"] - setpoint) <= limits.max_step + 1e-9
        assert limits.setpoint_min <= verdict["setpoint"] <= limits.setpoint_max
    else:
        assert verdict["setpoint"] == setpoint and verdict["reasons"]


def test_weights_move_the_choice_and_no_telemetry_is_not_a_change():
    oil = pareto_step(_context(_well("pcp", pareto_weights=[1, 0, 0]), None)).attributes
    life = pareto_step(_context(_well("pcp", pareto_weights="[0, 0, 1]"), None)).attributes
    pts = oil["opt_pareto_front"]["points"]
    assert oil["opt_pareto_choice"]["oil_bpd"] == max(p["oil_bpd"] for p in pts)
    assert life["opt_pareto_choice"]["equipment_life"] == max(p["equipment_life"] for p in pts)
    assert oil["opt_pareto_front"]["current"] is None
    assert oil["opt_pareto_choice"]["safety"]["allowed"] is False


def test_srp_crank_holes_are_the_second_variable():
    well = _well("srp", stroke_lengths_in=[64, 86, 100], pareto_method="nsga2")
    out = pareto_step(_context(well, 8.0)).attributes
    pts = out["opt_pareto_front"]["points"]
    assert all(p["stroke_in"] in (64.0, 86.0, 100.0) for p in pts)
    assert out["opt_pareto_front"]["algorithm"] == "nsga2"
    assert out["opt_pareto_front"]["current"]["stroke_in"] == 100.0


def test_the_safety_layer_sees_the_last_change_applied_to_the_device():
    well = _well("pcp")
    context = _context(well, 120.0)
    context.state["setpoint_control"] = {"pending": None, "last_change_ms": NOW_MS - 5 * 60_000}
    verdict = pareto_step(context).attributes["opt_pareto_choice"]["safety"]
    assert verdict["allowed"] is False and verdict["setpoint"] == 120.0 and "rate limit" in verdict["reasons"][0]


def test_field_weights_repick_the_choice_of_wells_without_their_own():
    from types import SimpleNamespace

    from tb_bridge.config import Settings
    from tb_bridge.handlers.pareto_steps import pareto_field_choice_step

    assert Settings.model_fields["pareto_weights"].default is None
    own, plain = _context(_well("pcp", "own", pareto_weights=[0, 0, 1]), 120.0), _context(_well("pcp", "plain"), 120.0)
    per_well = {c.config.entity_id: pareto_step(c).attributes for c in (own, plain)}
    assert pareto_field_choice_step([own, plain], SimpleNamespace(pareto_weights=None)) == {}
    out = pareto_field_choice_step([own, plain], SimpleNamespace(pareto_weights=(1.0, 0.0, 0.0)))
    assert list(out) == ["plain"]  # the well with its own weights keeps its choice
    choice = out[plain.config.entity_id].attributes["opt_pareto_choice"]
    pts = per_well["plain"]["opt_pareto_front"]["points"]
    assert choice["oil_bpd"] == max(p["oil_bpd"] for p in pts) and choice["weights"] == [1.0, 0.0, 0.0]
    assert "allowed" in choice["safety"]
    handler = handler_for("pcp")
    assert pareto_field_choice_step in handler.field_steps("hourly")


def test_stepped_setpoint_and_the_gas_cost_basis():
    out = pareto_step(_context(_well("esp", pareto_setpoint_step=0.5), 50.0)).attributes
    freqs = [p["frequency_hz"] for p in out["opt_pareto_front"]["points"]]
    assert all(abs((f - 35.0) / 0.5 - round((f - 35.0) / 0.5)) < 1e-9 for f in freqs)
    well = _well("gas_lift", pareto_energy_basis="gas_cost")
    front = pareto_step(_context(well, 400.0)).attributes["opt_pareto_front"]
    assert front["units"]["specific_energy"] == "USD/bbl"
    for p in front["points"]:  # gas cost per barrel of oil
        assert p["specific_energy"] == pytest.approx(well.gas_cost_usd_per_mscf * p["injection_mscfd"] / p["oil_bpd"], rel=1e-9)
