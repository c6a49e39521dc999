"""The stand-in's store, JSON body rules and JWTs against ThingsBoard's documented semantics.

Sources: ThingsBoard CE ``JsonConverter`` (common/transport/transport-api/.../adaptor/JsonConverter.java)
for body shapes; ``TsKvRepository`` (dao/.../sqlts/ts/TsKvRepository.java) for ``startTs <= ts < endTs``;
``ts_kv`` primary key (entity_id, key, ts) in dao/src/main/resources/sql/schema-ts-psql.sql for upserts;
``JwtTokenFactory`` (application/.../security/model/token/JwtTokenFactory.java) for the JWT claims.
"""
from __future__ import annotations

import time

import jwt
import pytest

from tb_bridge.standin import StandIn
from tb_bridge.standin.auth import AuthError, Authenticator
from tb_bridge.standin.json_telemetry import JsonBodyError, attribute_values, telemetry_entries
from tb_bridge.standin.store import EntityStore


def test_telemetry_body_shapes_follow_json_converter():
    now = 1_700_000_000_000
    assert telemetry_entries({"a": 1, "b": 2.5}, now) == [(now, {"a": 1, "b": 2.5})]
    assert telemetry_entries({"ts": 5, "values": {"a": "x"}}, now) == [(5, {"a": "x"})]
    body = [{"ts": 7, "values": {"a": True}}, {"c": {"nested": [1, 2]}}]
    assert telemetry_entries(body, now) == [(7, {"a": True}), (now, {"c": {"nested": [1, 2]}})]
    for bad in ({"a": None}, {"ts": "x", "values": {"a": 1}}, {"ts": 1, "values": [1]}, [1, 2], "text"):
        with pytest.raises(JsonBodyError):
            telemetry_entries(bad, now)
    with pytest.raises(JsonBodyError):
        attribute_values([{"a": 1}])


def test_series_upsert_and_half_open_range():
    store = EntityStore()
    device = store.create_device("W-1", "ESP")
    store.save_timeseries(device.id, [(30, {"q": 3}), (10, {"q": 1}), (20, {"q": 2})])
    store.save_timeseries(device.id, [(20, {"q": 22})])  # same (key, ts): overwrite, not a second row
    assert store.get_timeseries(device.id, ["q"], 10, 30) == {"q": [(10, 1), (20, 22)]}
    assert store.get_timeseries(device.id, ["q"], 0, 31) == {"q": [(10, 1), (20, 22), (30, 3)]}
    assert store.latest_timeseries(device.id) == {"q": (30, 3)}
    assert store.delete_timeseries(device.id, ["q"], 20, 31, rewrite_latest=True) == 2
    assert store.latest_timeseries(device.id) == {"q": (10, 1)}
    assert store.delete_timeseries(device.id, ["q"], 0, 11, rewrite_latest=False) == 1
    assert store.latest_timeseries(device.id) == {}


def test_device_profiles_and_unique_names():
    store = EntityStore()
    store.create_device("W-1", "GasLift")
    with pytest.raises(ValueError, match="already exists"):
        store.create_device("W-1", "ESP")
    with pytest.raises(ValueError, match="unknown device profile"):
        store.create_device("W-2", "Jet")


def test_jwt_claims_and_expiry():
    auth = Authenticator("tenant-1", access_ttl_s=1.0)
    user = auth.add_user("svc@example.com", "pw", first_name="Svc")
    pair = auth.login("svc@example.com", "pw")
    claims = jwt.decode(pair["token"], options={"verify_signature": False})
    assert claims["sub"] == "svc@example.com" and claims["userId"] == user.id
    assert claims["scopes"] == ["TENANT_ADMIN"] and claims["iss"] == "thingsboard.io"
    assert claims["exp"] - claims["iat"] == 1
    assert jwt.get_unverified_header(pair["token"])["alg"] == "HS512"
    assert auth.verify(pair["token"]).id == user.id
    with pytest.raises(AuthError) as bad:
        auth.login("svc@example.com", "wrong")
    assert bad.value.error_code == 10
    with pytest.raises(AuthError):
        auth.verify(pair["refreshToken"])  # a refresh token is not an access token
    time.sleep(2.1)
    with pytest.raises(AuthError) as expired:
        auth.verify(pair["token"])
    assert expired.value.error_code == 11
    refreshed = auth.refresh(pair["refreshToken"])
    assert auth.verify(refreshed["token"]).id == user.id


def test_pipeline_messages_per_timestamp_with_metadata():
    tb = StandIn()
    device_id, token = tb.create_device("W-7", "SRP")
    seen = []
    tb.subscribe(seen.append)
    n = tb.post_device_telemetry(token, [{"ts": 1000, "values": {"spm": 6.5}}, {"ts": 2000, "values": {"spm": 7.0}}])
    tb.save_attributes(device_id, "SERVER_SCOPE", {"pump_depth_ft": 5000})
    assert tb.wait_idle()
    assert n == 2
    assert [(m.type, m.metadata["ts"], m.data_json()) for m in seen[:2]] == [
        ("POST_TELEMETRY_REQUEST", "1000", {"spm": 6.5}), ("POST_TELEMETRY_REQUEST", "2000", {"spm": 7.0})]
    assert seen[0].metadata["deviceName"] == "W-7" and seen[0].metadata["deviceType"] == "SRP"
    update = seen[2]
    assert update.type == "ATTRIBUTES_UPDATED" and update.metadata["scope"] == "SERVER_SCOPE"
    assert update.metadata["userId"] == tb.tenant_admin.id and update.data_json() == {"pump_depth_ft": 5000}
    assert tb.get_timeseries(device_id, ["spm"], 0, 10_000) == {"spm": [(1000, 6.5), (2000, 7.0)]}
    tb.stop()
