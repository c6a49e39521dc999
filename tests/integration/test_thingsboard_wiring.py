"""ThingsBoard wiring, end to end through the stand-in: the bundled rule chains (run by the stand-in's rule
engine as `atilax tb setup --transport grpc` installs them) -> push-to-edge -> Edge gRPC -> EdgeTransport ->
router -> registry / placement jobs / ISA-18.2 alarm bank -> REST writeback -> stand-in; and the alarm path of
the Edge uplink writeback.

Every expected value is fixed by the inputs: the configuration is the one saved, the placement result is
``run_placement`` on the same case and seed, the permeability map is the case's kx field, and the alarm
states follow ISA-18.2's transitions (engines/alarms/states.py) from the scripted diagnoses.
"""
from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from engines.reservoir.case import CASES_DIR, case_from_dict
from engines.reservoir.planner import run_placement
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.handlers.alarm_steps import alarm_step
from tb_bridge.placement_jobs import PlacementJobs, RestAttributeReader
from tb_bridge.preview.data import RestData
from tb_bridge.preview.render import render_page
from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD
from tb_bridge.tbsetup.bundle import bundled_dashboards, bundled_rule_chains, link_rule_chains, select_transport
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.transport.edge import EdgeTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.writeback.edge import EdgeWriteback
from tb_bridge.writeback.keys import OWN_PREFIXES
from tb_bridge.writeback.rest import RestWriteback
from tests.polling import wait_for

pytestmark = pytest.mark.integration

SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}
STEP_MS = 300_000


@pytest.fixture()
def wired(tmp_path):
    tb = StandIn()
    svc_user = tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    url = tb.start_http()
    edge = tb.create_edge("atilax")
    port = tb.start_edge_server(ack_timeout_s=2.0)
    wo, root = bundled_rule_chains()
    chains = {"wo": load_rule_chain(select_transport(wo, "grpc")),
              "root": load_rule_chain(link_rule_chains(root, {wo["ruleChain"]["name"]: "wo"}))}
    tb.edges.auto_push = False  # the chain's push-to-edge node decides what reaches the edge
    bridge = StandInRuleEngine(tb, RuleEngine(chains, StandInOutputs(tb, edge_sink=tb.edges.push_to_edge)))
    service = Service(load_settings(database_url=f"sqlite:///{tmp_path / 'history.db'}"),
                      RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1), buffer=MemoryBuffer(),
                      own_user_id=svc_user.id)
    jobs = PlacementJobs(RestAttributeReader(url, SERVICE_EMAIL, SERVICE_PASSWORD),
                         RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, entity_type="ASSET", concurrency=1),
                         progress_interval_s=0.0)
    service.router.asset_hook = jobs.on_asset_event
    transport = EdgeTransport("127.0.0.1", port, edge.routing_key, edge.secret, backoff_initial_s=0.05, seed=1,
                              loop_guard=LoopGuard(own_user_ids={svc_user.id}, own_key_prefixes=OWN_PREFIXES))
    service.attach(transport)
    transport.wait_connected(10)
    assert transport.sync_completed.wait(10)
    admin = httpx.Client(base_url=url, timeout=30)
    token = admin.post("/api/auth/login", json={"username": TENANT_ADMIN_EMAIL, "password": TENANT_ADMIN_PASSWORD}).json()["token"]
    admin.headers["X-Authorization"] = f"Bearer {token}"
    rig = SimpleNamespace(tb=tb, edge=edge, service=service, jobs=jobs, transport=transport, admin=admin, bridge=bridge,
                          url=url)
    yield rig
    jobs.close()
    admin.close()
    bridge.stop()
    service.close()
    tb.stop()


def _well(rig, name: str = "ESP-01") -> str:
    device_id, _ = rig.tb.create_device(name, "ESP")
    rig.tb.assign_device_to_edge(device_id, rig.edge.id)
    _save(rig, "DEVICE", device_id, CONFIG)
    assert wait_for(lambda: rig.service.registry.config(device_id) is not None)
    return device_id


def _save(rig, entity_type: str, entity_id: str, values: dict, scope: str = "SERVER_SCOPE") -> None:
    r = rig.admin.post(f"/api/plugins/telemetry/{entity_type}/{entity_id}/attributes/{scope}", json=values)
    assert r.status_code == 200, r.text
    assert rig.tb.wait_idle(10)


def _traces_ok(rig) -> None:
    errors = [(m.type, s.node, s.error) for m, trace in rig.bridge.traces for s in trace if s.error]
    assert errors == []


def test_configuration_changes_in_thingsboard_update_the_registered_well_live(wired):
    rig = wired
    device_id = _well(rig)
    assert rig.service.registry.config(device_id).reservoir_pressure_psi == 3000
    _save(rig, "DEVICE", device_id, {"reservoir_pressure_psi": 2800, "pump_depth_ft": 7300})
    assert wait_for(lambda: rig.service.registry.config(device_id).reservoir_pressure_psi == 2800)
    assert rig.service.registry.config(device_id).pump_depth_ft == 7300
    delivered = rig.transport.events_delivered
    _save(rig, "DEVICE", device_id, {"lift_type": "plunger"})  # invalid: the well keeps its last good config
    assert wait_for(lambda: rig.transport.events_delivered == delivered + 1)
    assert rig.service.writeback.flush(10)
    assert "unknown lift type 'plunger'" in rig.tb.get_attributes(device_id, "SERVER_SCOPE")["opt_error"]
    config = rig.service.registry.config(device_id)
    assert (config.lift_type, config.reservoir_pressure_psi) == ("esp", 2800)
    # the service's own writes (opt_error above, opt_* results) come back through the chain with nothing left
    rig.service.write_attributes(device_id, {"opt_status": "ok", "opt_well_health_score": 91.0})
    assert rig.service.writeback.flush(10) and rig.tb.wait_idle(10)
    assert rig.transport.events_delivered == delivered + 1
    _traces_ok(rig)


def test_placement_run_requested_on_a_field_asset_runs_through_the_chain(wired):
    rig = wired
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["optimizer"] = {**doc["optimizer"], "pop_size": 10, "n_generations": 4}
    kx = np.linspace(50.0, 290.0, 25).reshape(5, 5)  # a heterogeneous layer, row-major [j][i]
    doc["rock"] = {**doc["rock"], "permeability_md": kx.ravel().tolist()}
    r = rig.admin.post("/api/asset", json={"name": "North field", "type": "Field"})
    asset_id = r.json()["id"]["id"]
    rig.tb.assign_asset_to_edge(asset_id, rig.edge.id)
    other = rig.admin.post("/api/asset", json={"name": "Tank 4", "type": "Tank"}).json()["id"]["id"]
    rig.tb.assign_asset_to_edge(other, rig.edge.id)
    _save(rig, "ASSET", asset_id, {"placement_case": json.dumps(doc), "placement_seed": 2})
    _save(rig, "ASSET", other, {"placement_case": "thesis_5x5", "placement_run_requested": True})  # not a field
    assert rig.jobs.job(asset_id) is None and rig.jobs.job(other) is None  # no trigger yet
    _save(rig, "ASSET", asset_id, {"placement_run_requested": True})
    assert wait_for(lambda: rig.jobs.job(asset_id) is not None)
    job = rig.jobs.job(asset_id)
    assert job.wait(60) and job.status == "done", job.error
    attrs = rig.tb.get_attributes(asset_id, "SERVER_SCOPE")
    expected = run_placement(case_from_dict(doc), 2)
    assert attrs["opt_placement_status"] == "done"
    assert attrs["opt_placement_npv_musd"] == pytest.approx(expected.npv_usd / 1e6, rel=1e-12)
    assert attrs["opt_placement_cells"] == [list(c) for c in expected.well_cells]
    # the permeability map the dashboard draws the wells over: the case's kx, [row][col]
    assert attrs["opt_placement_permeability_md"] == kx.tolist()
    assert attrs["opt_placement_grid"] == {"nx": 5, "ny": 5, "nz": 1, "layer": 0, "dx_ft": doc["grid"]["dx_ft"],
                                           "dy_ft": doc["grid"]["dy_ft"]}
    assert rig.jobs.job(other) is None
    assert rig.tb.wait_idle(10)
    assert rig.jobs.job(asset_id) is job  # our own opt_placement_* writes did not start another run
    _traces_ok(rig)
    # the field-development dashboard, previewed from ThingsBoard's data: 25 kx cells and one marker per producer
    with TbClient(rig.url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        page = render_page({"field_development": bundled_dashboards()["field_development"]}, RestData(client),
                           int(time.time() * 1000))
    points = {title: int(n) for n, title in re.findall(r'data-points="(\d+)"><h3>([^<]+)</h3>', page)}
    assert points["Well placement over the permeability field (kx, md)"] == 25 + expected.well_count
    assert points["Optimizer convergence (M$)"] == 4 + 1  # the initial population and 4 generations


def _raise_gas_lock(rig, device_id: str) -> None:
    """Three 5-minute runs of a scripted gas-lock diagnosis (score 1.0) through the fast tier's alarm step; the
    on-delay of 600 s makes the alarm active at the third, which the service raises in ThingsBoard."""
    state = rig.service._well_state.setdefault(device_id, {})
    config = rig.service.registry.config(device_id)
    names = ["gas_lock", "pump_wear", "motor_overheating", "electrical_fault", "mechanical_imbalance"]
    for run in (1, 2, 3):
        result = SimpleNamespace(lift_type="esp", rule_scores=np.array([[1.0, 0, 0, 0, 0]]), cusum_alarm=np.array([False]),
                                 anomaly_type=("gas_lock",), evidence=([],), health_score=np.array([60.0]))
        state["diagnostics"] = SimpleNamespace(last_result=result, last_ts_ms=run * STEP_MS)
        output = alarm_step(SimpleNamespace(config=config, state=state, now_ms=run * STEP_MS))
        rig.service._handle_alarms(device_id, output.alarms)
    assert state["alarms"].bank.tags[:5] == tuple(names)
    assert rig.service.writeback.flush(10)


def _history(rig, device_id):
    rows = sorted(rig.service.history.alarm_events(device_id, limit=100), key=lambda r: r.id)
    return [(r.alarm_type, r.details["kind"], r.state) for r in rows]


def test_operator_alarm_actions_reach_the_alarm_bank(wired):
    rig = wired
    device_id = _well(rig)
    _raise_gas_lock(rig, device_id)
    (alarm,) = rig.tb.store.alarms(device_id)
    assert (alarm.type, alarm.status) == ("Atilax: gas_lock", "ACTIVE_UNACK")
    bank = rig.service._well_state[device_id]["alarms"].bank

    # acknowledge in ThingsBoard -> ALARM_ACK -> chain -> Edge downlink alarmUpdateMsg -> AlarmBank
    assert rig.admin.post(f"/api/alarm/{alarm.id}/ack").status_code == 200
    assert rig.tb.wait_idle(10) and wait_for(lambda: bank.display_state()[0] == "ACKED")

    # clear in ThingsBoard while the condition stands: acknowledged, and raised again at once
    assert rig.admin.post(f"/api/alarm/{alarm.id}/clear").status_code == 200
    assert rig.tb.wait_idle(10) and wait_for(lambda: len(_history(rig, device_id)) == 3)
    assert rig.service.writeback.flush(10)
    statuses = sorted((a.id == alarm.id, a.status) for a in rig.tb.store.alarms(device_id))
    assert statuses == [(False, "ACTIVE_UNACK"), (True, "CLEARED_ACK")]
    assert bank.active[0] and bank.display_state()[0] == "ACKED"

    # shelve for 30 minutes from ThingsBoard (shared attribute): the standing alarm stops being annunciated and
    # the service clears it in ThingsBoard; the echo of that clear (an Edge alarm downlink carries no user) reaches
    # the bank and changes nothing, the alarm being shelved
    actions = rig.service.router.stats.alarm_actions
    _save(rig, "DEVICE", device_id, {"alarm_operator_request": {"alarm_type": "gas_lock", "action": "shelve",
                                                                 "duration_min": 30, "reason": "workover"}},
          scope="SHARED_SCOPE")
    assert wait_for(lambda: bank.display_state()[0] == "SHLVD")
    assert rig.service.writeback.flush(10) and rig.tb.wait_idle(10)
    assert wait_for(lambda: rig.service.router.stats.alarm_actions == actions + 2)  # the request and the echo
    assert all(a.status.startswith("CLEARED") for a in rig.tb.store.alarms(device_id))
    assert bank.shelved_until[0] == pytest.approx(time.time() + 1800.0, abs=60.0)  # expires in 30 minutes
    active = rig.tb.get_attributes(device_id, "SERVER_SCOPE")["opt_alarm_active"]
    assert [(a["type"], a["state"]) for a in active] == [("gas_lock", "SHLVD")]

    # a malformed request is refused with opt_error, the bank unchanged
    _save(rig, "DEVICE", device_id, {"alarm_operator_request": {"alarm_type": "gas_lock", "action": "snooze"}},
          scope="SHARED_SCOPE")
    assert wait_for(lambda: rig.service.history.dead_letters(limit=5)
                 and "action must be one of" in rig.service.history.dead_letters(limit=5)[0].error)
    assert rig.service.writeback.flush(10)
    assert "action must be one of" in rig.tb.get_attributes(device_id, "SERVER_SCOPE")["opt_error"]

    # every state change is in the history store, in order
    assert _history(rig, device_id) == [("gas_lock", "ACTIVE", "UNACK"), ("gas_lock", "ACK", "ACKED"),
                                        ("gas_lock", "REANNUNCIATE", "ACKED"), ("gas_lock", "SHELVE", "SHLVD")]
    rows = sorted(rig.service.history.alarm_events(device_id, limit=100), key=lambda r: r.id)
    # Edge downlinks carry no user (the MQTT envelope keeps the metadata userName); the alarm id and the request do
    assert (rows[1].details["via"], rows[1].details["tb_alarm_id"]) == ("ALARM_ACK", alarm.id)
    assert (rows[3].details["via"], rows[3].details["action"]) == ("alarm_operator_request", "shelve")
    assert rows[3].details["reason"] == "workover" and rows[3].details["duration_min"] == 30
    _traces_ok(rig)


def test_alarms_over_the_edge_uplink():
    tb = StandIn()
    edge = tb.create_edge("atilax")
    port = tb.start_edge_server(ack_timeout_s=2.0)
    device_id, _ = tb.create_device("ESP-09", "ESP")
    tb.assign_device_to_edge(device_id, edge.id)
    transport = EdgeTransport("127.0.0.1", port, edge.routing_key, edge.secret, backoff_initial_s=0.05, seed=2)
    writeback = EdgeWriteback(transport, backoff_initial_s=0.05, backoff_max_s=0.3)
    try:
        transport.start(lambda event: None)
        transport.wait_connected(10)
        writeback.create_alarm(device_id, "Atilax: gas_lock", "MAJOR", {"score": 0.7}, 1_000)
        assert writeback.pending_items() == 1 and writeback.flush(10) and writeback.pending_items() == 0
        (alarm,) = tb.store.alarms(device_id)
        assert (alarm.type, alarm.severity, alarm.status, alarm.start_ts_ms, dict(alarm.details)) == (
            "Atilax: gas_lock", "MAJOR", "ACTIVE_UNACK", 1_000, {"score": 0.7})
        writeback.create_alarm(device_id, "Atilax: gas_lock", "CRITICAL", {"score": 0.9}, 2_000)  # same type: updated
        assert writeback.flush(10)
        (updated,) = tb.store.alarms(device_id)
        assert (updated.id, updated.severity, updated.start_ts_ms, dict(updated.details)) == (
            alarm.id, "CRITICAL", 1_000, {"score": 0.9})
        tb.ack_alarm(alarm.id)  # an operator acknowledges, then the condition returns
        writeback.clear_alarm(device_id, "Atilax: gas_lock", 3_000)
        writeback.clear_alarm(device_id, "Atilax: gas_lock")  # nothing raised any more: a no-op
        assert writeback.flush(10) and not writeback.alarm_dead_letters
        (cleared,) = tb.store.alarms(device_id)
        assert (cleared.id, cleared.status, cleared.clear_ts_ms) == (alarm.id, "CLEARED_ACK", 3_000)
        # a severity ThingsBoard does not know: the uplink is refused and the operation dead-lettered
        writeback.create_alarm(device_id, "Atilax: pump_wear", "LOUD", {}, 4_000)
        assert writeback.flush(10) and len(writeback.alarm_dead_letters) == 1
        assert [a.type for a in tb.store.alarms(device_id)] == ["Atilax: gas_lock"]
        # no session: the operation is kept and delivered after the reconnect
        tb.stop_edge_server()
        assert wait_for(lambda: not transport.connected)
        writeback.create_alarm(device_id, "Atilax: pump_wear", "MINOR", {"score": 0.6}, 5_000)
        assert writeback.flush(1) is False and writeback.pending_items() == 1
        tb.start_edge_server(port=port, ack_timeout_s=2.0)
        transport.wait_connected(10)
        assert writeback.flush(10) and writeback.pending_items() == 0
        assert sorted((a.type, a.status) for a in tb.store.alarms(device_id)) == [
            ("Atilax: gas_lock", "CLEARED_ACK"), ("Atilax: pump_wear", "ACTIVE_UNACK")]
    finally:
        writeback.close()
        transport.stop()
        tb.stop()
