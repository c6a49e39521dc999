"""The REST transport end to end: `atilax tb setup --transport rest` installs the chains into the stand-in (REST,
real JWT), the stand-in's rule engine runs them, the chain's REST node posts the envelope over real HTTP to the
service's REST ingress (bearer token), and the router updates the registry, the simulation sessions, the placement
jobs and the alarm bank exactly as over gRPC and MQTT. Bad input gets a clear 4xx and is kept (dead letters).

Expected values are fixed by the inputs: the configuration saved, the slider value, run_placement on the same case
and seed, ISA-18.2 transitions (engines/alarms/states.py) from a scripted diagnosis.
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
from tb_bridge.history.dead_letter_text import DEAD_LETTER_MAX_CHARS
from tb_bridge.placement_jobs import PlacementJobs, RestAttributeReader
from tb_bridge.preview.data import RestData
from tb_bridge.preview.render import render_page
from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD
from tb_bridge.tbsetup.bundle import bundled_dashboards
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, run_setup
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.rest_ingress import EVENTS_PATH, HEALTH_PATH, RestIngressTransport
from tb_bridge.writeback.keys import OWN_PREFIXES
from tb_bridge.writeback.rest import RestWriteback
from tests.polling import wait_for

pytestmark = pytest.mark.integration

SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
TOKEN = "ingress-token-1"
CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}


@pytest.fixture()
def rig(tmp_path):
    tb = StandIn()
    svc_user = tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    url = tb.start_http()
    service = Service(load_settings(database_url=f"sqlite:///{tmp_path / 'history.db'}"),
                      RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1), buffer=MemoryBuffer(),
                      own_user_id=svc_user.id)
    jobs = PlacementJobs(RestAttributeReader(url, SERVICE_EMAIL, SERVICE_PASSWORD),
                         RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, entity_type="ASSET", concurrency=1),
                         progress_interval_s=0.0)
    service.router.asset_hook = jobs.on_asset_event
    ingress = RestIngressTransport("127.0.0.1", 0, token=TOKEN,
                                   loop_guard=LoopGuard(own_user_ids={svc_user.id}, own_key_prefixes=OWN_PREFIXES))
    service.attach(ingress)
    with TbClient(url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        run_setup(client, SetupOptions(transport="rest", make_root=True, service_url=ingress.base_url,
                                       service_token=TOKEN))
        chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(client).items()}
    outputs = StandInOutputs(tb)  # the REST node's calls go over real HTTP (httpx)
    bridge = StandInRuleEngine(tb, RuleEngine(chains, outputs))
    admin = httpx.Client(base_url=url, timeout=30)
    token = admin.post("/api/auth/login", json={"username": TENANT_ADMIN_EMAIL, "password": TENANT_ADMIN_PASSWORD}).json()["token"]
    admin.headers["X-Authorization"] = f"Bearer {token}"
    yield SimpleNamespace(tb=tb, service=service, jobs=jobs, ingress=ingress, bridge=bridge, outputs=outputs, admin=admin)
    admin.close()
    bridge.stop()
    jobs.close()
    service.close()
    tb.stop()


def _save(rig, entity_type: str, entity_id: str, values: dict, scope: str = "SERVER_SCOPE") -> None:
    r = rig.admin.post(f"/api/plugins/telemetry/{entity_type}/{entity_id}/attributes/{scope}", json=values)
    assert r.status_code == 200, r.text
    assert rig.tb.wait_idle(10)


def _chain_errors(rig):
    """Node errors and Failure relations (a non-2xx answer of the ingress) of every message the chain ran."""
    return [(m.type, s.node, s.error, s.msg.metadata.get("error_body")) for m, trace in rig.bridge.traces for s in trace
            if s.error or "Failure" in s.relations]


def _well(rig, name: str = "ESP-01") -> str:
    device_id, token = rig.tb.create_device(name, "ESP")
    _save(rig, "DEVICE", device_id, CONFIG)
    assert wait_for(lambda: rig.service.registry.config(device_id) is not None)
    return device_id


def test_configuration_sliders_and_telemetry_reach_the_service_over_rest(rig):
    device_id = _well(rig)
    _save(rig, "DEVICE", device_id, {"reservoir_pressure_psi": 2800, "pump_depth_ft": 7300})
    assert wait_for(lambda: rig.service.registry.config(device_id).reservoir_pressure_psi == 2800)
    assert rig.service.registry.config(device_id).pump_depth_ft == 7300
    delivered = rig.ingress.events_delivered
    _save(rig, "DEVICE", device_id, {"lift_type": "plunger"})  # invalid: kept on its last valid configuration
    assert rig.ingress.events_delivered == delivered + 1 and rig.service.writeback.flush(10)
    assert "unknown lift type 'plunger'" in rig.tb.get_attributes(device_id, "SERVER_SCOPE")["opt_error"]
    assert rig.service.registry.config(device_id).lift_type == "esp"
    # the service's own writes come back through the chain with nothing left to send
    rig.service.write_attributes(device_id, {"opt_status": "ok", "opt_well_health_score": 91.0})
    assert rig.service.writeback.flush(10) and rig.tb.wait_idle(10)
    assert rig.ingress.events_delivered == delivered + 1
    # a slider write opens a simulation session on the configuration as it was
    sims = rig.service.router.stats.simulation_updates
    _save(rig, "DEVICE", device_id, {"sim_param_water_cut_pct": 55})
    assert rig.service.router.stats.simulation_updates == sims + 1
    # device telemetry (posted with the device token) reaches the buffer
    token = rig.tb.device(device_id).token
    rig.tb.post_device_telemetry(token, {"ts": 1_700_000_000_000, "values": {"flow_rate_bpd": 812.5, "frequency_hz": 55.0}})
    assert rig.tb.wait_idle(10)
    assert rig.service.router.stats.telemetry == 1
    assert _chain_errors(rig) == []
    (letter,) = rig.service.history.dead_letters(limit=10)  # the invalid configuration change, kept
    assert (letter.well_id, "unknown lift type 'plunger'" in letter.error) == (device_id, True)


def test_placement_request_on_a_field_asset_runs_over_rest(rig):
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["optimizer"] = {**doc["optimizer"], "pop_size": 10, "n_generations": 3}
    asset_id = rig.admin.post("/api/asset", json={"name": "North field", "type": "Field"}).json()["id"]["id"]
    _save(rig, "ASSET", asset_id, {"placement_case": json.dumps(doc), "placement_seed": 3})
    assert rig.jobs.job(asset_id) is None
    _save(rig, "ASSET", asset_id, {"placement_run_requested": True})
    assert wait_for(lambda: rig.jobs.job(asset_id) is not None)
    job = rig.jobs.job(asset_id)
    assert job.wait(60) and job.status == "done", job.error
    expected = run_placement(case_from_dict(doc), 3)
    attrs = rig.tb.get_attributes(asset_id, "SERVER_SCOPE")
    assert attrs["opt_placement_npv_musd"] == pytest.approx(expected.npv_usd / 1e6, rel=1e-12)
    assert attrs["opt_placement_cells"] == [list(c) for c in expected.well_cells]
    profile = [[float(t), float(q)] for t, q in zip(expected.time_days, expected.oil_rate_stb_d)]
    assert len(profile) == 24 and attrs["opt_placement_profile"] == profile
    assert rig.tb.wait_idle(10) and rig.jobs.job(asset_id) is job  # our own opt_placement_* writes start nothing
    # the field-development dashboard, previewed from ThingsBoard's data, draws all 24 months of the profile
    with TbClient(rig.tb.base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        page = render_page({"field_development": bundled_dashboards()["field_development"]}, RestData(client),
                           int(time.time() * 1000))
    points = {title: int(n) for n, title in re.findall(r'data-points="(\d+)"><h3>([^<]+)</h3>', page)}
    assert points["Production profile of the best plan (bbl/d vs days from the run start)"] == 24
    assert _chain_errors(rig) == []


def test_operator_alarm_actions_reach_the_alarm_bank_over_rest(rig):
    device_id = _well(rig)
    state = rig.service._well_state.setdefault(device_id, {})
    config = rig.service.registry.config(device_id)
    for run in (1, 2, 3):  # a scripted gas-lock diagnosis: active at the third 5-minute run (on-delay 600 s)
        result = SimpleNamespace(lift_type="esp", rule_scores=np.array([[1.0, 0, 0, 0, 0]]), cusum_alarm=np.array([False]),
                                 anomaly_type=("gas_lock",), evidence=([],), health_score=np.array([60.0]))
        state["diagnostics"] = SimpleNamespace(last_result=result, last_ts_ms=run * 300_000)
        output = alarm_step(SimpleNamespace(config=config, state=state, now_ms=run * 300_000))
        rig.service._handle_alarms(device_id, output.alarms)
    assert rig.service.writeback.flush(10) and rig.tb.wait_idle(10)
    (alarm,) = rig.tb.store.alarms(device_id)
    bank = state["alarms"].bank
    assert rig.admin.post(f"/api/alarm/{alarm.id}/ack").status_code == 200
    assert rig.tb.wait_idle(10) and wait_for(lambda: bank.display_state()[0] == "ACKED")
    _save(rig, "DEVICE", device_id, {"alarm_operator_request": {"alarm_type": "gas_lock", "action": "shelve",
                                                                 "duration_min": 30, "reason": "workover"}},
          scope="SHARED_SCOPE")
    assert wait_for(lambda: bank.display_state()[0] == "SHLVD")
    rows = sorted(rig.service.history.alarm_events(device_id, limit=100), key=lambda r: r.id)
    assert [(r.details["kind"], r.state) for r in rows] == [("ACTIVE", "UNACK"), ("ACK", "ACKED"), ("SHELVE", "SHLVD")]
    assert rows[1].details["via"] == "ALARM_ACK" and rows[2].details["reason"] == "workover"
    assert _chain_errors(rig) == []


def _post(rig, body, token: str | None = TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(rig.ingress.base_url + EVENTS_PATH, content=content, headers=headers, timeout=10, **kwargs)


def test_bad_input_gets_a_clear_4xx_and_is_kept(rig):
    device_id = _well(rig)
    envelope = {"msgType": "POST_TELEMETRY_REQUEST", "entityId": device_id, "entityType": "DEVICE",
                "deviceName": "ESP-01", "deviceType": "ESP", "ts": "1700000000000", "data": {"flow_rate_bpd": 800.0}}
    dead = lambda: rig.service.history.dead_letters(limit=100)  # noqa: E731
    assert httpx.get(rig.ingress.base_url + HEALTH_PATH).json() == {"status": "ok"}
    # authentication: nothing from an unknown sender is routed or stored
    for token in (None, "wrong"):
        r = _post(rig, envelope, token=token)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert rig.ingress.unauthorized == 2 and rig.service.router.stats.telemetry == 0 and dead() == []
    # malformed envelopes: 400 naming the problem, the raw body dead-lettered with the reason
    cases = [(b"{not json", "payload is not JSON"), ({**envelope, "msgType": None}, "msgType missing"),
             ({**envelope, "entityId": "well-7"}, "entityId is not a UUID"),
             ({k: v for k, v in envelope.items() if k != "data"}, "data missing"),
             ({**envelope, "data": [1, 2]}, "must be a JSON object")]
    for body, reason in cases:
        r = _post(rig, body)
        assert r.status_code == 400 and reason in r.json()["error"], (body, r.text)
    letters = dead()
    assert [(d.source, reason in d.error) for d, (_b, reason) in zip(letters, cases)] == [("rest", True)] * len(cases)
    assert letters[0].payload == "{not json"  # Router.handle_raw_dead_letter keeps the raw text verbatim
    # too large: 413, its head kept
    r = _post(rig, json.dumps({**envelope, "data": {"x": "y" * 2_000_000}}))
    assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]
    head = dead()[-1].payload  # capped like every transport's dead letters, its full size noted
    assert "exceeds the limit" in dead()[-1].error and head.startswith('{"msgType"')
    assert len(head) <= DEAD_LETTER_MAX_CHARS and head.endswith("bytes in all]")
    # an envelope the router refuses (negative rate) is accepted, then dead-lettered with opt_error on the well
    r = _post(rig, {**envelope, "data": {"flow_rate_bpd": -5.0}})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert "outside its physical range" in dead()[-1].error and dead()[-1].well_id == device_id
    assert rig.service.writeback.flush(10)
    assert "flow_rate_bpd=-5" in rig.tb.get_attributes(device_id, "SERVER_SCOPE")["opt_error"]
    # a type the service does not handle is acknowledged and ignored; an echo of our own write is dropped
    assert _post(rig, {**envelope, "msgType": "ENTITY_CREATED"}).json()["status"] == "ignored"
    own = {**envelope, "msgType": "ATTRIBUTES_UPDATED", "data": {"opt_status": "ok"}}
    assert _post(rig, own).json()["status"] == "dropped"
    assert len(dead()) == len(cases) + 2
    # a good one is routed
    assert _post(rig, envelope).json() == {"status": "accepted", "entityId": device_id, "kind": "telemetry"}
    assert rig.service.router.stats.telemetry == 1


def test_a_refused_post_takes_the_chain_failure_branch(rig):
    """A chain installed with another token: the ingress answers 401 and ThingsBoard's REST node routes the message
    to Failure, where the chain logs it (nothing is dropped silently on either side)."""
    device_id, token = rig.tb.create_device("ESP-02", "ESP")
    with TbClient(rig.tb.base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        actions = run_setup(client, SetupOptions(transport="rest", make_root=True, service_url=rig.ingress.base_url,
                                                 service_token="stale-token"))
        assert [(a.kind, a.change) for a in actions if a.change != "unchanged"] == [("rule_chain", "update")]
        chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(client).items()}
    rig.bridge.engine = RuleEngine(chains, rig.outputs)
    rig.tb.post_device_telemetry(token, {"ts": 1_700_000_000_000, "values": {"flow_rate_bpd": 700.0}})
    assert rig.tb.wait_idle(10)
    (trace,) = [t for m, t in rig.bridge.traces if m.originator_id == device_id]
    post = next(s for s in trace if s.node == "POST to Atilax (REST)")
    assert post.relations == ("Failure",) and post.msg.metadata["statusCode"] == "401"
    assert "Log failure" in [s.node for s in trace] and rig.outputs.logs
    assert rig.service.router.stats.telemetry == 0 and rig.ingress.unauthorized == 1


def test_the_runner_builds_the_rest_ingress_from_the_configuration(monkeypatch):
    import uuid

    monkeypatch.delenv("ATILAX_REST_INGRESS__TOKEN", raising=False)

    from tb_bridge.runner import build_transport

    with pytest.raises(ValueError, match="rest_ingress.token"):
        build_transport(load_settings(transport="rest", rest_ingress={"port": 0}))
    settings = load_settings(transport="rest", rest_ingress={"port": 0, "token": "t-2", "max_body_bytes": 2048})
    assert settings.masked()["rest_ingress"]["token"] == "********"
    transport = build_transport(settings)
    assert isinstance(transport, RestIngressTransport) and transport.loop_guard.own_key_prefixes == OWN_PREFIXES
    events = []
    transport.start(events.append)
    try:
        well = str(uuid.uuid4())
        body = {"msgType": "ATTRIBUTES_UPDATED", "entityId": well, "deviceName": "W-1", "deviceType": "ESP",
                "ts": 5, "metadata": {"scope": "SERVER_SCOPE", "userId": "u-1"}, "data": {"pump_depth_ft": 7000}}
        r = httpx.post(transport.base_url + EVENTS_PATH, json=body, headers={"Authorization": "Bearer t-2"})
        assert r.json() == {"status": "accepted", "entityId": well, "kind": "attributes_updated"}
        (event,) = events
        assert (event.well_id, event.ts_ms, dict(event.values), event.scope, event.source) == (
            well, 5, {"pump_depth_ft": 7000}, "SERVER_SCOPE", "rest")
        r = httpx.post(transport.base_url + EVENTS_PATH, content=b"x" * 4096, headers={"Authorization": "Bearer t-2"})
        assert r.status_code == 413
    finally:
        transport.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(transport.base_url + EVENTS_PATH, json=body, headers={"Authorization": "Bearer t-2"}, timeout=2)


def test_setup_for_the_rest_transport_needs_the_token(monkeypatch):
    import argparse

    from tb_bridge.cli.io import CliInputError
    from tb_bridge.cli.tb_cmd import register

    monkeypatch.delenv("ATILAX_REST_INGRESS__TOKEN", raising=False)

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tb", "setup", "--url", "http://127.0.0.1:9", "--username", "u", "--password", "p",
                              "--transport", "rest"])
    with pytest.raises(CliInputError, match="--service-token"):
        args.func(args)
    with pytest.raises(ValueError, match="bearer token"):
        run_setup(None, SetupOptions(transport="rest"))  # checked before any request
