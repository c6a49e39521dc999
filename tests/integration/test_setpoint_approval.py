"""Human in the loop through the ThingsBoard stand-in (issue 21: 5): the hourly tier's recommendation passes
the safety layer and waits (approval mode); the dashboard's approve button (``setpoint_approval`` = "approve",
the action pending now, saved by an operator; a script names the action id) -> router -> SetpointControl -> ``target_frequency_hz`` as a SHARED attribute
on the device and a ``setpoint_change`` row naming the operator; a second change within 15 minutes is refused;
an approval of an unknown id changes nothing; autonomous mode applies the change itself."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.transport.inprocess import InProcessTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.writeback.keys import OWN_PREFIXES
from tb_bridge.writeback.rest import RestWriteback
from tests.polling import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
OPERATOR = "operator@field.local"
CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500,
          "frequency_min_hz": 35, "frequency_max_hz": 65}
FREQ = 50.0  # the running frequency: the optimizer recommends more than one 2 Hz step away (38.5 Hz)


@pytest.fixture()
def rig(tmp_path):
    tb = StandIn()
    svc = tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    operator = tb.create_user(OPERATOR, "op-secret")
    url = tb.start_http()
    service = Service(load_settings(database_url=f"sqlite:///{tmp_path / 'history.db'}"),
                      RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1), buffer=MemoryBuffer(),
                      own_user_id=svc.id)
    transport = InProcessTransport(tb, loop_guard=LoopGuard(own_user_ids={svc.id}, own_key_prefixes=OWN_PREFIXES))
    service.attach(transport)
    yield tb, service, operator
    service.close()
    tb.stop()


def _well(tb, service, name, extra=None):
    device, token = tb.create_device(name, "ESP")
    tb.save_attributes(device, "SERVER_SCOPE", {**CONFIG, **(extra or {})})
    assert wait_for(lambda: service.registry.config(device) is not None)
    now = int(time.time() * 1000)
    for k in range(3):
        tb.post_device_telemetry(token, {"ts": now - (2 - k) * 300_000, "values": {
            "flow_rate_bpd": 900.0, "frequency_hz": FREQ, "intake_pressure_psi": 1500.0, "motor_current_a": 30.0}})
    assert tb.wait_idle(10) and wait_for(lambda: service.buffer.window(device).latest().get("frequency_hz") == FREQ)
    return device


def _approve_button(stem):
    """(key, scope, constant) the well-detail dashboard's approve button writes; it is disabled without a pending id."""
    config = json.loads((ROOT / "dashboards" / f"well_detail_{stem}.json").read_text())["configuration"]
    (button,) = [w for w in config["widgets"].values() if w["typeFullFqn"] == "system.command_button"
                 and w["config"]["settings"]["onClickState"]["setAttribute"]["key"] == "setpoint_approval"]
    settings = button["config"]["settings"]
    assert settings["disabledState"]["getAttribute"]["key"] == "opt_setpoint_action_id"
    click = settings["onClickState"]
    return click["setAttribute"]["key"], click["setAttribute"]["scope"], click["valueToData"]["constantValue"]


@pytest.mark.parametrize("stem", ["esp", "srp", "pcp", "gaslift"])
def test_every_well_detail_dashboard_has_the_approve_button(stem):
    assert _approve_button(stem) == ("setpoint_approval", "SHARED_SCOPE", "approve")


def _server(tb, service, device):
    assert service.writeback.flush(10) and tb.wait_idle(10)
    return tb.get_attributes(device, "SERVER_SCOPE")


def test_recommendation_approval_target_and_history(rig):
    tb, service, operator = rig
    device = _well(tb, service, "ESP-APPROVE")
    service.run_tier("hourly", int(time.time() * 1000))
    attrs = _server(tb, service, device)
    verdict = attrs["opt_lift_safety_verdict"]
    pending = attrs["opt_setpoint_pending"]
    recommended = attrs["opt_esp_freq_recommended_hz"]
    assert abs(recommended - FREQ) > 2.0
    # the optimizer's setpoint, clipped to one maximum step (2 Hz) from the running 50 Hz
    assert verdict["allowed"] and verdict["setpoint"] == pytest.approx(FREQ + 2.0 * (1 if recommended > FREQ else -1))
    assert pending["setpoint"] == verdict["setpoint"] and pending["source"] == "optimizer"
    assert attrs["opt_setpoint_status"].startswith("awaiting approval")
    assert "target_frequency_hz" not in tb.get_attributes(device, "SHARED_SCOPE")  # only a recommendation so far

    # an approval naming another action changes nothing
    tb.save_attributes(device, "SHARED_SCOPE", {"setpoint_approval": "not-the-id"}, user=operator)
    assert wait_for(lambda: _server(tb, service, device)["opt_setpoint_status"].startswith("refused"))
    assert "target_frequency_hz" not in tb.get_attributes(device, "SHARED_SCOPE")

    # the dashboard's approve button (what well_detail_esp.json's command button writes), saved by the operator
    key, scope, value = _approve_button("esp")
    tb.save_attributes(device, scope, {key: value}, user=operator)
    assert wait_for(lambda: "target_frequency_hz" in tb.get_attributes(device, "SHARED_SCOPE"), 15)
    assert tb.get_attributes(device, "SHARED_SCOPE")["target_frequency_hz"] == pytest.approx(pending["setpoint"])
    rows = service.setpoints.changes(device)
    assert len(rows) == 1
    row = rows[0]
    assert (row.setpoint_name, row.previous, row.source, row.mode) == ("frequency_hz", FREQ, "optimizer", "approval")
    assert row.setpoint == pytest.approx(pending["setpoint"]) and row.action_id == attrs["opt_setpoint_action_id"]
    assert (row.approved_by, row.approved_by_id) == (OPERATOR, operator.id)
    after = _server(tb, service, device)
    assert after["opt_setpoint_status"] == f"applied: target_frequency_hz = {pending['setpoint']:g} (approved by {OPERATOR})"
    assert after["opt_setpoint_action_id"] == ""

    # within 15 minutes of that change every recommendation is refused by the rate limit
    service.run_tier("hourly", int(time.time() * 1000))
    attrs = _server(tb, service, device)
    assert not attrs["opt_lift_safety_verdict"]["allowed"]
    assert "rate limit" in attrs["opt_lift_safety_verdict"]["reasons"][0]
    assert attrs["opt_setpoint_status"].startswith("no change") and attrs["opt_setpoint_action_id"] == ""
    assert len(service.setpoints.changes(device)) == 1


def test_autonomous_mode_applies_through_the_safety_layer(rig):
    tb, service, _ = rig
    device = _well(tb, service, "ESP-AUTO", {"setpoint_mode": "autonomous", "setpoint_max_step": 1.5})
    service.run_tier("hourly", int(time.time() * 1000))
    assert wait_for(lambda: "target_frequency_hz" in tb.get_attributes(device, "SHARED_SCOPE"), 15)
    target = tb.get_attributes(device, "SHARED_SCOPE")["target_frequency_hz"]
    assert abs(target - FREQ) == pytest.approx(1.5)  # the well's own maximum step
    (row,) = service.setpoints.changes(device)
    assert (row.mode, row.approved_by, row.setpoint) == ("autonomous", None, pytest.approx(target))
    assert _server(tb, service, device)["opt_setpoint_status"].endswith("(autonomous)")
