"""The stand-in's REST subset, driven by tb-rest-client 4.4 and raw HTTP, against ThingsBoard CE's
TelemetryController / AuthController / DeviceApiController behaviour (paths, status codes, error body
``{"status","message","errorCode","timestamp"}``, ThingsboardErrorCode 10/11/31/32)."""
from __future__ import annotations

import time

import httpx
import pytest
from tb_rest_client.models.entity_id import EntityId
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client import RestClient

from tb_bridge.standin import StandIn

TELEMETRY = "/api/plugins/telemetry/DEVICE"


@pytest.fixture(scope="module")
def tb():
    standin = StandIn()
    standin.start_http()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def client(tb):
    c = RestClient(tb.base_url, timeout=(5, 5))
    c.login("tenant@thingsboard.org", "tenant")
    return c


@pytest.fixture()
def device(tb):
    name = f"W-{time.perf_counter_ns()}"
    return tb.create_device(name, "ESP")


def _headers(client):
    return {"X-Authorization": f"Bearer {client.get_token()}"}


def test_attributes_roundtrip_through_tb_rest_client(tb, client, device):
    device_id, _ = device
    entity = EntityId(device_id, "DEVICE")
    client.save_entity_attributes_v2(entity, "SERVER_SCOPE", {"opt_q_bpd": 812.25, "opt_mode": "ok"})
    client.save_entity_attributes_v2(entity, "SERVER_SCOPE", {"opt_q_bpd": 900.5})  # overwrite
    assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_q_bpd": 900.5, "opt_mode": "ok"}
    read = {a.key: a.value for a in client.get_attributes_by_scope(entity, "SERVER_SCOPE", keys="opt_q_bpd")}
    assert read == {"opt_q_bpd": 900.5}
    client.delete_entity_attributes(entity, "SERVER_SCOPE", keys="opt_mode")
    assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_q_bpd": 900.5}


def test_future_timeseries_and_delete_semantics(tb, client, device):
    device_id, _ = device
    entity = EntityId(device_id, "DEVICE")
    now = int(time.time() * 1000)
    past, future = now - 3_600_000, now + 30 * 86_400_000
    client.save_entity_telemetry(entity, "ANY", [{"ts": past, "values": {"opt_q_proj_bpd": 700.0}},
                                                 {"ts": future, "values": {"opt_q_proj_bpd": 650.0}}])
    history = client.get_timeseries(entity, 0, future + 1, keys="opt_q_proj_bpd")
    assert [(p.ts, float(p.value)) for p in history["opt_q_proj_bpd"]] == [(future, 650.0), (past, 700.0)]
    # deleteAllDataForKeys=true deletes [0, now): the future point survives
    client.delete_entity_timeseries(entity, keys="opt_q_proj_bpd", delete_all_data_for_keys=True)
    assert tb.get_timeseries(device_id, ["opt_q_proj_bpd"], 0, 2**62) == {"opt_q_proj_bpd": [(future, 650.0)]}
    # an explicit endTs in the future removes it
    client.delete_entity_timeseries(entity, keys="opt_q_proj_bpd", delete_all_data_for_keys=False,
                                    start_ts=0, end_ts=future + 1)
    assert tb.get_timeseries(device_id, ["opt_q_proj_bpd"], 0, 2**62) == {}


def test_validation_status_codes(tb, client, device):
    device_id, _ = device
    h = _headers(client)
    with httpx.Client(base_url=tb.base_url, timeout=5) as http:
        r = http.delete(f"{TELEMETRY}/{device_id}/SERVER_SCOPE", params={"keys": ""}, headers=h)
        assert r.status_code == 400 and r.json()["errorCode"] == 31
        r = http.delete(f"{TELEMETRY}/{device_id}/timeseries/delete", params={"keys": ""}, headers=h)
        assert r.status_code == 400
        r = http.delete(f"{TELEMETRY}/{device_id}/timeseries/delete", params={"keys": "a"}, headers=h)
        assert r.status_code == 400  # deleteAllDataForKeys=false needs startTs and endTs
        r = http.post(f"{TELEMETRY}/{device_id}/attributes/SERVER_SCOPE", json={}, headers=h)
        assert r.status_code == 400 and "No attributes data" in r.json()["message"]
        r = http.post(f"{TELEMETRY}/{device_id}/attributes/BOGUS_SCOPE", json={"a": 1}, headers=h)
        assert r.status_code == 400 and r.json()["message"] == "Invalid scope: BOGUS_SCOPE"
        r = http.post(f"{TELEMETRY}/{device_id}/attributes/SERVER_SCOPE", json={" ": 1}, headers=h)
        assert r.status_code == 400 and r.json()["message"] == "Key cannot be empty or contains only spaces"
        r = http.post(f"{TELEMETRY}/{device_id}/timeseries/ANY", content=b"{not json", headers=h)
        assert r.status_code == 400
        r = http.post(f"{TELEMETRY}/not-a-uuid/attributes/SERVER_SCOPE", json={"a": 1}, headers=h)
        assert r.status_code == 400
        r = http.post(f"{TELEMETRY}/00000000-0000-0000-0000-000000000001/attributes/SERVER_SCOPE",
                      json={"a": 1}, headers=h)
        assert r.status_code == 404 and r.json()["errorCode"] == 32
        r = http.post(f"{TELEMETRY}/{device_id}/attributes/SERVER_SCOPE", json={"a": 1})
        assert r.status_code == 401 and r.json()["errorCode"] == 10
        r = http.post("/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "nope"})
        assert r.status_code == 401 and r.json()["message"] == "Invalid username or password"
    assert tb.get_attributes(device_id, "SERVER_SCOPE") == {}


def test_device_api_ingress(tb, device):
    device_id, token = device
    with httpx.Client(base_url=tb.base_url, timeout=5) as http:
        assert http.post(f"/api/v1/{token}/telemetry", json={"ts": 1000, "values": {"frequency_hz": 55.0}}).status_code == 200
        assert http.post("/api/v1/wrong-token/telemetry", json={"frequency_hz": 1}).status_code == 401
        assert http.post(f"/api/v1/{token}/telemetry", content=b"[1, 2").status_code == 400
        assert http.post(f"/api/v1/{token}/attributes", json={"fw": "1.2"}).status_code == 200
    assert tb.get_timeseries(device_id, ["frequency_hz"], 0, 2000) == {"frequency_hz": [(1000, 55.0)]}
    assert tb.get_attributes(device_id, "CLIENT_SCOPE") == {"fw": "1.2"}


def test_expired_jwt_is_401_code_11():
    tb = StandIn(access_ttl_s=1.0)
    tb.start_http()
    try:
        device_id, _ = tb.create_device("W-x", "PCP")
        client = RestClient(tb.base_url, timeout=(5, 5))
        client.login("tenant@thingsboard.org", "tenant")
        time.sleep(2.1)
        with pytest.raises(ApiException) as err:
            client.save_entity_attributes_v2(EntityId(device_id, "DEVICE"), "SERVER_SCOPE", {"a": 1})
        assert err.value.status == 401 and b'"errorCode":11' in err.value.body
    finally:
        tb.stop()
