"""The HTTP API against an in-process service on a small synthetic field: authentication, rate limit and
bad bodies, and every answer checked against a direct call of the engine or store behind it."""
from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engines.dca import DcaSettings, analyze_decline
from engines.fielddata import SyntheticField
from engines.lift.gas_allocation import allocate_gas_equal_slope
from tb_bridge.adapters.lift import gas_lift_glpc, optimize_well
from tb_bridge.adapters.whatif import what_if
from tb_bridge.api import create_app
from tb_bridge.api.analytics import FEATURES, well_features
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.handlers.alarm_steps import alarm_state
from tb_bridge.service import Service
from tb_bridge.writeback import keys
from tests.doubles import RecordingWriteback

KEY = "test-key-0123456789"
STEPS = 36  # three hours at 5 minutes


def _service(tmp_path, **api):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}",
                             api={"keys": [KEY, "second-key"], **api},
                             limits={"buffer_points": 400, "buffer_window_s": 400 * 86_400},
                             lift_gas_available_mscfd=900.0)
    return Service(settings, RecordingWriteback()), settings


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    service, settings = _service(tmp)
    field = SyntheticField({"esp": 2, "gas_lift": 2}, seed=7)
    for w in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, w.name, 0, w.attributes, well_name=w.name,
                                 source="test"))
    for name, ts, values in field.samples(STEPS):
        service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="test"))
    client = TestClient(create_app(service, settings), headers={"X-API-Key": KEY})
    yield service, settings, field, client
    service.close()


def test_health_and_version_are_open_everything_else_needs_a_key(rig):
    service, settings, field, client = rig
    bare = TestClient(client.app)
    assert bare.get("/health").json() == {"status": "ok", "wells": 4}
    assert bare.get("/version").json()["name"] == "atilax"
    for path in ("/wells", "/metrics", "/alarms", "/clusters", f"/wells/{field.wells[0].name}"):
        answer = bare.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert bare.get("/wells", headers={"X-API-Key": KEY + "x"}).status_code == 401
    assert bare.get("/wells", headers={"Authorization": "Bearer second-key"}).status_code == 200
    assert bare.get("/wells", headers={"Authorization": "Basic second-key"}).status_code == 401
    assert bare.get("/wells", headers={"X-API-Key": KEY}).status_code == 200
    for extra in ("/docs", "/redoc", "/openapi.json"):  # exactly the contract's routes
        assert bare.get(extra, headers={"X-API-Key": KEY}).status_code == 404


def test_no_keys_refuses_to_start_unless_allowed(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}")
    with pytest.raises(ValueError, match="api.keys is empty"):
        create_app(None, settings)
    open_settings = settings.model_copy(update={"api": settings.api.model_copy(update={"allow_no_auth": True})})
    service = Service(open_settings, RecordingWriteback())
    try:
        assert TestClient(create_app(service, open_settings)).get("/wells").json() == []
    finally:
        service.close()


def test_rate_limit_per_client(tmp_path):
    service, settings = _service(tmp_path, rate_limit_per_minute=3)
    try:
        app = create_app(service, settings)
        first, second = (TestClient(app, headers={"X-API-Key": k}) for k in (KEY, "second-key"))
        assert [first.get("/wells").status_code for _ in range(3)] == [200, 200, 200]
        refused = first.get("/wells")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 20
        assert second.get("/wells").status_code == 200  # another client has its own bucket
        assert first.get("/health").status_code == 200  # probes are not limited
        guessing = TestClient(app, headers={"X-API-Key": "guess"})
        assert [guessing.get("/wells").status_code for _ in range(4)] == [401, 401, 401, 429]  # guesses count too
    finally:
        service.close()


def test_bad_bodies_are_clear_4xx(rig):
    service, settings, field, client = rig
    esp = field.wells_of("esp")[0].name
    empty = client.post("/what-if", json={"well_id": esp, "params": {}})
    assert empty.status_code == 422 and "params" in json.dumps(empty.json())
    extra = client.post("/what-if", json={"well_id": esp, "params": {"water_cut_frac": 0.5}, "x": 1})
    assert extra.status_code == 422 and "x" in json.dumps(extra.json())
    malformed = client.post("/what-if", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    unknown = client.post("/what-if", json={"well_id": esp, "params": {"no_such_field": 1}})
    assert unknown.status_code == 422 and "no_such_field" in unknown.json()["detail"]
    assert client.post("/what-if", json={"well_id": "nope", "params": {"water_cut_frac": 0.5}}).status_code == 404
    assert client.post("/field/allocate-gas", json={"available_mscfd": -1}).status_code == 422
    assert client.post("/optimization/x/run", json={"tier": "yearly"}).status_code == 422
    assert client.get("/clusters", params={"k": 0}).status_code == 422
    big = client.post("/what-if", content=b"x" * (settings.api.max_body_bytes + 1),
                      headers={"content-type": "application/json"})
    assert big.status_code == 413
    assert client.get("/alarms/0").status_code == 422 and client.get("/alarms/999999").status_code == 404


def test_wells_and_telemetry_are_the_registry_and_the_buffer(rig):
    service, settings, field, client = rig
    listed = client.get("/wells").json()
    assert sorted(w["id"] for w in listed) == sorted(w.name for w in field.wells)
    assert all(w["valid"] for w in listed)
    assert [w["id"] for w in client.get("/wells", params={"lift_type": "gas_lift"}).json()] == ["GL-01", "GL-02"]
    well = field.wells_of("esp")[1].name
    detail = client.get(f"/wells/{well}").json()
    window = service.buffer.window(well)
    assert detail["latest_telemetry"] == pytest.approx(window.latest())
    assert detail["buffered_points"] == STEPS and detail["last_telemetry_ts_ms"] == int(window.ts_ms[-1])
    assert detail["config"] == service.registry.config(well).model_dump(mode="json")
    since = int(window.ts_ms[-5])
    series = client.get(f"/wells/{well}/telemetry", params={"since_ms": since, "keys": ["flow_rate_bpd"]}).json()
    assert series["ts_ms"] == window.ts_ms[-5:].tolist() and list(series["values"]) == ["flow_rate_bpd"]
    np.testing.assert_allclose(series["values"]["flow_rate_bpd"], window.values["flow_rate_bpd"][-5:])
    assert client.get("/wells/nope").status_code == 404


def test_optimization_run_is_the_tier_and_is_stored(rig):
    service, settings, field, client = rig
    well = field.wells_of("esp")[0].name
    ran = client.post(f"/optimization/{well}/run", json={"tier": "hourly"})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    telemetry = service.buffer.window(well).latest()
    expected = keys.lift_attributes(optimize_well(service.registry.config(well), dict(telemetry)))
    for key in ("opt_lift_expected_q_bpd", "opt_esp_freq_recommended_hz", "opt_lift_efficiency_pct"):
        assert body["results"][key] == pytest.approx(expected[key], rel=1e-9)
    assert body["tier"] == "hourly" and body["status"] == "ok" and "opt_nodal_q_bpd" in body["results"]
    written = service.writeback.latest[well]["opt_lift_expected_q_bpd"]
    assert written == pytest.approx(expected["opt_lift_expected_q_bpd"])
    stored = client.get(f"/optimization/{well}").json()["latest"]["hourly"]
    assert stored["id"] == body["id"] and stored["results"] == body["results"]
    assert client.post("/optimization/nope/run").status_code == 404


def test_what_if_is_the_adapter(rig):
    service, settings, field, client = rig
    well = field.wells_of("esp")[0].name
    params = {"reservoir_pressure_psi": 0.9 * service.registry.config(well).reservoir_pressure_psi}
    answer = client.post("/what-if", json={"well_id": well, "params": params})
    assert answer.status_code == 200, answer.text
    direct = what_if(service.registry.config(well), params, service.buffer.window(well).latest())
    got = answer.json()
    assert got["modified"]["liquid_bpd"] == pytest.approx(direct.modified.liquid_bpd, rel=1e-9)
    assert got["delta_oil_bpd"] == pytest.approx(direct.delta_oil_bpd, rel=1e-9, abs=1e-9)
    assert got["setpoint"] == pytest.approx(direct.setpoint) and got["setpoint_source"] == "telemetry"
    assert got["delta_liquid_bpd"] < 0  # less reservoir pressure, less inflow at the same frequency


def test_dca_is_a_direct_fit_on_the_same_history(tmp_path):
    service, settings = _service(tmp_path)
    field = SyntheticField({"esp": 1}, seed=2)
    well = field.wells[0]
    try:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well.name, 0, well.attributes, well_name=well.name,
                                 source="test"))
        t_days, q = field.production_history(well.name, 120)
        start = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
        for t, rate in zip(t_days, q):
            service.handle(WellEvent(EventKind.TELEMETRY, well.name, start + int(t) * 86_400_000,
                                     {"flow_rate_bpd": float(rate)}, source="test"))
        client = TestClient(create_app(service, settings), headers={"Authorization": f"Bearer {KEY}"})
        got = client.get(f"/forecasts/{well.name}/dca").json()
        config = service.registry.config(well.name)
        dates = (start + np.asarray(t_days, dtype=np.int64) * 86_400_000).astype("datetime64[ms]")
        direct = analyze_decline(dates, q, kind="rate", settings=DcaSettings(
            economic_limit_bpd=config.economic_limit_bpd, seed=zlib.crc32(well.name.encode())))
        assert got["history_source"] == "buffer" and got["points"] == 120 and got["model"] == direct.model
        for name in ("qi_bpd", "di_pct_month", "b_factor", "eur_stb", "eur_p10_stb", "eur_p50_stb", "eur_p90_stb"):
            assert got[name] == pytest.approx(getattr(direct, name), rel=1e-9), name
        assert got["forecast"]["months"][0]["rate_bpd"] == pytest.approx(direct.forecast["months"][0]["rate_bpd"])
        assert got["forecast"]["months"][0]["date"] == direct.forecast["months"][0]["date"]  # calendar months
        assert got["no_decline"] == direct.no_decline and got["no_decline_reason"] == direct.no_decline_reason
        # the daily tier stores its decline results: GET /forecasts/{id} shows the newest
        assert client.get(f"/forecasts/{well.name}").json()["dca"] is None
        service.run_tier("daily", now_ms=start + 120 * 86_400_000)
        stored = client.get(f"/forecasts/{well.name}").json()
        assert stored["dca"]["opt_dca_model"] == direct.model
        assert stored["dca"]["opt_dca_qi_bpd"] == pytest.approx(direct.qi_bpd, rel=1e-6)
    finally:
        service.close()


def test_field_allocation_is_the_equal_slope_engine(rig):
    service, settings, field, client = rig
    wells = service.registry.valid_wells("gas_lift")
    curves = [gas_lift_glpc(w)[0] for w in wells]
    expected = allocate_gas_equal_slope(curves, 900.0)
    got = client.get("/field/allocation").json()
    assert got["available_mscfd"] == 900.0 and [w["well_id"] for w in got["wells"]] == [w.entity_id for w in wells]
    np.testing.assert_allclose([w["injection_mscfd"] for w in got["wells"]], expected.injection_mscfd, rtol=1e-12)
    assert got["total_oil_bpd"] == pytest.approx(expected.total_oil_bpd, rel=1e-12)
    posted = client.post("/field/allocate-gas", json={"available_mscfd": 500.0, "well_ids": ["GL-02"], "apply": True})
    alone = allocate_gas_equal_slope([curves[1]], 500.0)
    assert posted.status_code == 200 and posted.json()["applied"] is True
    assert posted.json()["wells"][0]["injection_mscfd"] == pytest.approx(float(alone.injection_mscfd[0]))
    assert service.writeback.latest["GL-02"]["opt_gl_allocated_mscfd"] == pytest.approx(
        float(alone.injection_mscfd[0]), abs=1e-4)
    assert client.post("/field/allocate-gas", json={"available_mscfd": 5, "well_ids": ["ESP-01"]}).status_code == 422


def test_alarm_acknowledge_goes_through_the_operator_path(rig):
    service, settings, field, client = rig
    well = field.wells_of("esp")[0].name
    state = alarm_state(service._well_state.setdefault(well, {}), "esp")
    tag = state.bank.tags[0]
    values = np.zeros(len(state.bank.tags))
    values[0] = 1.0
    t0 = datetime.now(timezone.utc).timestamp() - 3600.0
    for k in range(3):  # the 600 s on-delay: three evaluations across the limit
        for event in state.bank.update(t0 + 300 * k, values):
            service.history.record_alarm_event(well, event.tag, "WARNING", event.state,
                                               ts=datetime.fromtimestamp(t0 + 300 * k, timezone.utc))
    standing = client.get("/alarms", params={"well_id": well}).json()["alarms"]
    assert [(a["alarm_type"], a["state"]) for a in standing] == [(tag, "UNACK")]
    assert client.get(f"/alarms/{standing[0]['id']}").json() == standing[0]
    ack = client.post("/alarms/acknowledge", json={"well_id": well, "alarm_type": tag, "by": "op1"})
    assert ack.status_code == 200, ack.text
    done = ack.json()["acknowledged"]
    assert [(a["alarm_type"], a["state"]) for a in done] == [(tag, "ACKED")]
    assert done[0]["details"]["by"] == "op1" and done[0]["details"]["via"] == "ALARM_ACK"
    assert state.bank.display_state()[0] == "ACKED"
    assert client.get("/alarms", params={"well_id": well}).json()["alarms"][0]["state"] == "ACKED"
    bad = client.post("/alarms/acknowledge", json={"well_id": well, "alarm_type": "gas_lock_xyz"})
    assert bad.status_code == 422 and tag in bad.json()["detail"]


def test_clusters_partition_the_wells_by_their_features(rig):
    service, settings, field, client = rig
    got = client.get("/clusters", params={"k": 2}).json()
    assert got["k"] == 2 and got["unclustered"] == []
    members = sorted(w for c in got["clusters"] for w in c["wells"])
    assert members == sorted(w.name for w in field.wells)
    for cluster in got["clusters"]:
        means = [float(np.nanmean(service.buffer.window(w).values["flow_rate_bpd"])) for w in cluster["wells"]]
        assert cluster["centroid"]["flow_rate_mean_bpd"] == pytest.approx(np.mean(means), rel=1e-12)
    assert set(got["features"]) <= {name for name, _ in FEATURES}
    # the partition is scikit-learn's k-means on the standardized features, called directly
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    ids, x, _ = well_features(client.app.state.ctx)
    x = x[:, [name in got["features"] for name, _ in FEATURES]]
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(x))
    direct = {frozenset(i for i, label in zip(ids, labels) if label == k) for k in (0, 1)}
    assert {frozenset(c["wells"]) for c in got["clusters"]} == direct


def test_anomaly_patterns_count_the_stored_diagnoses(rig):
    service, settings, field, client = rig
    now = datetime.now(timezone.utc)
    for hours, well, kind in ((1, "ESP-01", "gas_lock"), (2, "ESP-01", "gas_lock"), (3, "ESP-02", "pump_wear"),
                              (4, "ESP-02", "none"), (24 * 10, "ESP-01", "gas_lock")):
        at = now - timedelta(hours=hours)
        service.history.record_run(well, "esp", "fast", "diagnostics", {"opt_anomaly_type": kind},
                                   started_at=at, finished_at=at)
    got = client.get("/anomaly-patterns", params={"days": 7, "bucket": "hour"}).json()
    by_well = {(p["well_id"], p["anomaly_type"]): p["count"] for p in got["by_well"]}
    assert by_well == {("ESP-01", "gas_lock"): 2, ("ESP-02", "pump_wear"): 1}
    assert got["by_lift_type"] == {"esp": {"gas_lock": 2, "pump_wear": 1}} and got["runs"] == 4
    assert sum(sum(b["counts"].values()) for b in got["by_time"]) == 3 and len(got["by_time"]) == 3


def test_metrics_and_the_training_route(rig):
    service, settings, field, client = rig
    assert client.get("/wells").status_code == 200
    text = client.get("/metrics").text
    events = len(field.wells) + STEPS * len(field.wells)
    assert f'atilax_events_total{{transport="test"}} {float(events)}' in text or \
        f'atilax_events_total{{transport="test"}} {events}' in text
    assert "atilax_wells_valid 4.0" in text and "atilax_dead_letters" in text
    assert 'atilax_api_request_duration_seconds_count{method="GET",route="/wells",status="2xx"}' in text
    # POST /train-lstm-ae: a background run (three hours buffered: no clean 24 h window, the well fails alone);
    # an unknown well 404; without PyTorch 501 naming what to install
    answer = client.post("/train-lstm-ae", json={"epochs": 1, "well_ids": ["ESP-01"]})
    assert answer.status_code == 202 and answer.json()["wells"] == ["ESP-01"] and answer.json()["epochs"] == 1
    training = client.app.state.ctx.training
    training.join(60)
    assert training.state["status"] == "done" and "no clean 288-sample window" in training.state["failed"]["ESP-01"]
    assert client.post("/train-lstm-ae", json={"well_ids": ["nope"]}).status_code == 404
    import sys

    saved = sys.modules.get("torch")
    sys.modules["torch"] = None
    try:
        answer = client.post("/train-lstm-ae", json={"epochs": 1})
    finally:
        sys.modules["torch"] = saved
    assert answer.status_code == 501 and "pip install 'atilax[ml]'" in answer.json()["detail"]


def test_openapi_names_exactly_the_contract_routes(rig):
    from tb_bridge.api.app import openapi_document

    paths = {(m.upper(), p) for p, ops in openapi_document().items() if p == "paths" for p, v in ops.items()
             for m in v}
    assert paths == {
        ("GET", "/health"), ("GET", "/version"), ("GET", "/wells"), ("GET", "/wells/{id}"),
        ("GET", "/wells/{id}/telemetry"), ("GET", "/optimization/{id}"), ("POST", "/optimization/{id}/run"),
        ("POST", "/what-if"), ("GET", "/forecasts/{id}"), ("GET", "/forecasts/{id}/dca"), ("GET", "/clusters"),
        ("GET", "/anomaly-patterns"), ("POST", "/train-lstm-ae"), ("GET", "/field/allocation"),
        ("POST", "/field/allocate-gas"), ("GET", "/alarms"), ("GET", "/alarms/{id}"), ("POST", "/alarms/acknowledge"),
        ("POST", "/simulation/create"), ("POST", "/simulation/reactive"), ("PATCH", "/simulation/{id}/params"),
        ("PATCH", "/simulation/{id}/reset-params"), ("POST", "/simulation/{id}/run"),
        ("GET", "/simulation/{id}/compare"), ("DELETE", "/simulation/{id}"), ("GET", "/metrics")}


def test_simulation_routes_drive_the_session_manager(rig):
    service, settings, field, client = rig
    created = client.post("/simulation/create", json={"well_id": "ESP-02"})
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]
    assert created.json()["well_id"] == "ESP-02" and service.sessions.get(sid)["session_id"] == sid
    changed = client.patch(f"/simulation/{sid}/params", json={"params": {"water_cut_pct": 70.0}})
    assert changed.status_code == 200, changed.text
    assert service.sessions.get(sid)["modified"] == {"water_cut_pct": 70.0}
    compared = client.get(f"/simulation/{sid}/compare").json()
    assert compared == json.loads(json.dumps(service.sessions.compare(sid)))
    assert compared["sim_compare_production_delta_bpd"] == pytest.approx(
        changed.json()["sim_compare_production_delta_bpd"])
    rerun = client.post(f"/simulation/{sid}/run").json()
    assert rerun["sim_compare_production_delta_bpd"] == pytest.approx(compared["sim_compare_production_delta_bpd"])
    reset = client.patch(f"/simulation/{sid}/reset-params", json={}).json()
    assert reset == {"session_id": sid, "restored": ["water_cut_pct"], "not_found": [], "remaining_modified": {}}
    bad = client.patch(f"/simulation/{sid}/params", json={"params": {"no_such": 1}})
    assert bad.status_code == 422 and "no_such" in bad.json()["detail"]
    assert client.delete(f"/simulation/{sid}").json() == {"session_id": sid, "closed": True}
    assert client.delete(f"/simulation/{sid}").status_code == 404
    assert client.get(f"/simulation/{sid}/compare").status_code == 404
    assert client.post("/simulation/create", json={"well_id": "nope"}).status_code == 404


def test_reactive_does_what_a_slider_write_does(rig):
    service, settings, field, client = rig
    well = "ESP-01"
    service.handle(WellEvent(EventKind.ATTRIBUTES_UPDATED, well, 0, {"sim_param_water_cut_pct": 55.0},
                             scope="SERVER_SCOPE", source="test"))
    assert service.sessions.wait_idle(60.0)
    by_slider = dict(service.writeback.latest[well])
    service.sessions.close(service.sessions.by_well(well)["session_id"])
    answer = client.post("/simulation/reactive", json={"well_id": well, "params": {"sim_param_water_cut_pct": 55.0}})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert service.sessions.by_well(well)["session_id"] == answer.json()["session_id"]
    compared = [k for k in result if k.startswith(("sim_compare_production", "sim_opt_")) and k in by_slider
                and isinstance(result[k], (int, float))]
    assert compared
    for key in compared:
        assert result[key] == pytest.approx(by_slider[key]), key
    client.delete(f"/simulation/{answer.json()['session_id']}")


def test_reactive_takes_the_rest_branch_envelope_too(rig):
    from tb_bridge.transport.mqtt_envelope import build_envelope

    service, settings, field, client = rig
    envelope = build_envelope("ATTRIBUTES_UPDATED", "GL-02", {"deviceName": "GL-02", "deviceType": "GasLift",
                                                              "ts": "1700000000000", "scope": "SERVER_SCOPE"},
                              {"sim_param_water_cut_pct": 35.0, "comment": "not a parameter"})
    answer = client.post("/simulation/reactive", json=envelope)
    assert answer.status_code == 200, answer.text
    assert service.sessions.by_well("GL-02")["modified"] == {"water_cut_pct": 35.0}
    client.delete(f"/simulation/{answer.json()['session_id']}")
    none = client.post("/simulation/reactive", json={**envelope, "data": {"comment": "x"}})
    assert none.status_code == 422 and "sim_param_" in none.json()["detail"]
    telemetry = {**envelope, "msgType": "POST_TELEMETRY_REQUEST"}
    assert client.post("/simulation/reactive", json=telemetry).status_code == 422
