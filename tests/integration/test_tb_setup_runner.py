"""The chains as installed by `atilax tb setup` run inside the stand-in: device telemetry, slider writes and
configuration changes reach the configured transport, the service's own writes do not loop, anomaly attributes raise alarms."""
from __future__ import annotations

import json

import pytest

from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
from tb_bridge.rulechain_runner.kafka_producer import KafkaDelivery
from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD, StandIn
from tb_bridge.standin.http_server import HttpServerThread
from tb_bridge.standin.rest_api import build_app
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, profile_rule_chains, run_setup


@pytest.fixture(params=["grpc", "mqtt", "rest", "kafka"])
def running(request):
    tb = StandIn()
    app = build_app(tb)
    server = HttpServerThread(app)
    server.start()
    device_id, token = tb.create_device("W-1", "ESP")
    service = tb.create_user("atilax@service.local", "secret")
    with TbClient(server.base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        run_setup(client, SetupOptions(transport=request.param, make_root=True, service_url="http://svc:8090",
                                       kafka_bootstrap="kafka-1:9092",
                                       service_token="tok-1" if request.param == "rest" else None))
        chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(client).items()}
    sent = {"edge": [], "mqtt": [], "rest": [], "kafka": []}
    outputs = StandInOutputs(tb, edge_sink=sent["edge"].append,
                             mqtt_sink=lambda *a: sent["mqtt"].append(a),
                             kafka_sender=lambda config, topic, key, value, headers: (
                                 sent["kafka"].append((config["bootstrapServers"], topic, key, value)),
                                 KafkaDelivery(topic, 0, len(sent["kafka"]) - 1))[1],
                             http=lambda method, url, headers, body, timeout: (
                                 sent["rest"].append((method, url, dict(headers), body)), (200, "{}"))[1])
    bridge = StandInRuleEngine(tb, RuleEngine(chains, outputs))
    try:
        yield request.param, tb, device_id, token, service, sent, bridge
    finally:
        bridge.stop()
        server.stop()
        tb.stop()


def test_telemetry_slider_and_own_writes(running):
    transport, tb, device_id, token, service, sent, bridge = running
    tb.post_device_telemetry(token, {"ts": 1700000000000, "values": {"flow_rate_bpd": 812.5, "frequency_hz": 55.0}})
    tb.save_attributes(device_id, "SERVER_SCOPE", {"sim_param_water_cut_frac": 0.55})  # the slider (tenant admin)
    tb.save_attributes(device_id, "SERVER_SCOPE", {"opt_status": "ok", "sim_original_water_cut_frac": 0.4}, user=service)
    assert tb.wait_idle(10)
    assert all(not any(s.error for s in trace) for _msg, trace in bridge.traces)
    # ThingsBoard's save node stored the telemetry (the stand-in's ingress had stored the same point).
    assert tb.get_timeseries(device_id, ["flow_rate_bpd"], 0, 2**62) == {"flow_rate_bpd": [(1700000000000, 812.5)]}
    if transport == "grpc":
        assert [(m.type, json.loads(m.data)) for m in sent["edge"]] == [
            ("POST_TELEMETRY_REQUEST", {"flow_rate_bpd": 812.5, "frequency_hz": 55.0}),
            ("ATTRIBUTES_UPDATED", {"sim_param_water_cut_frac": 0.55})]
        assert sent["edge"][1].metadata["scope"] == "SERVER_SCOPE"
    elif transport == "mqtt":
        bodies = [json.loads(payload) for _h, _p, topic, payload, _r in sent["mqtt"]]
        assert [(b["msgType"], b["entityId"], b["data"]) for b in bodies] == [
            ("POST_TELEMETRY_REQUEST", device_id, {"flow_rate_bpd": 812.5, "frequency_hz": 55.0}),
            ("ATTRIBUTES_UPDATED", device_id, {"sim_param_water_cut_frac": 0.55})]
        assert {t for _h, _p, t, _pl, _r in sent["mqtt"]} == {"atilax/v1/ESP/W-1"}
    elif transport == "kafka":  # the envelope, keyed by the device id: telemetry to the ESP topic, the slider to events
        bodies = [json.loads(value) for _b, _t, _k, value in sent["kafka"]]
        assert [(b["msgType"], b["entityId"], b["data"]) for b in bodies] == [
            ("POST_TELEMETRY_REQUEST", device_id, {"flow_rate_bpd": 812.5, "frequency_hz": 55.0}),
            ("ATTRIBUTES_UPDATED", device_id, {"sim_param_water_cut_frac": 0.55})]
        assert [(b, t, k) for b, t, k, _v in sent["kafka"]] == [
            ("kafka-1:9092", "atilax.telemetry.esp", device_id), ("kafka-1:9092", "atilax.events", device_id)]
    else:  # the envelope, to the service's REST ingress with its bearer token
        assert {(m, u, h["Authorization"]) for m, u, h, _b in sent["rest"]} == {
            ("POST", "http://svc:8090/api/v1/events", "Bearer tok-1")}
        bodies = [json.loads(b) for _m, _u, _h, b in sent["rest"]]
        assert [(b["msgType"], b["entityId"], b["data"]) for b in bodies] == [
            ("POST_TELEMETRY_REQUEST", device_id, {"flow_rate_bpd": 812.5, "frequency_hz": 55.0}),
            ("ATTRIBUTES_UPDATED", device_id, {"sim_param_water_cut_frac": 0.55})]
    assert sum(len(v) for v in sent.values()) == 2


def test_configuration_changes_are_forwarded_and_the_service_results_raise_no_alarm(running):
    transport, tb, device_id, _token, service, sent, _bridge = running
    tb.save_attributes(device_id, "SERVER_SCOPE", {"opt_anomaly_detected": True, "opt_anomaly_severity": "CRITICAL",
                                                   "opt_anomaly_type": "pump_off"}, user=service)
    tb.save_attributes(device_id, "SERVER_SCOPE", {"pump_depth_ft": 7200.0})  # a configuration change (tenant admin)
    assert tb.wait_idle(10)
    assert tb.store.alarms(device_id) == []  # the service raises its alarms itself, through its writeback
    if transport == "grpc":
        assert [(m.type, json.loads(m.data)) for m in sent["edge"]] == [("ATTRIBUTES_UPDATED", {"pump_depth_ft": 7200.0})]
    elif transport == "mqtt":
        assert [json.loads(payload)["data"] for _h, _p, _t, payload, _r in sent["mqtt"]] == [{"pump_depth_ft": 7200.0}]
    elif transport == "kafka":
        assert [(t, json.loads(value)["data"]) for _b, t, _k, value in sent["kafka"]] == [
            ("atilax.events", {"pump_depth_ft": 7200.0})]
    else:
        assert [json.loads(body)["data"] for _m, _u, _h, body in sent["rest"]] == [{"pump_depth_ft": 7200.0}]


def test_profile_default_chains_route_messages_without_a_root_chain():
    """Setup's default leaves the tenant's root chain alone: ThingsBoard then routes our profiles' messages
    by the profiles' ``defaultRuleChainId``. A profile without one falls to the root chain (none here)."""
    tb = StandIn()
    server = HttpServerThread(build_app(tb))
    server.start()
    device_id, token = tb.create_device("W-1", "ESP")
    field_id = tb.create_asset("North field", "Field")
    tank_id = tb.create_asset("Tank 4", "Tank")
    try:
        with TbClient(server.base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
            run_setup(client, SetupOptions(transport="grpc"))  # make_root=False
            chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(client).items()}
            profile_chains = profile_rule_chains(client)
        assert not any(chain.root for chain in chains.values())
        (bundle_root,) = [cid for cid, chain in chains.items() if chain.name == "Atilax Root Rule Chain"]
        assert profile_chains == {("DEVICE", p): bundle_root for p in ("ESP", "SRP", "PCP", "GasLift", "NaturalFlow")} | {
            ("ASSET", "Field"): bundle_root}
        pushed = []
        bridge = StandInRuleEngine(tb, RuleEngine(chains, StandInOutputs(tb, edge_sink=pushed.append)),
                                   profile_chains=profile_chains)
        try:
            tb.post_device_telemetry(token, {"ts": 1700000000000, "values": {"flow_rate_bpd": 812.5}})
            tb.save_attributes(field_id, "SERVER_SCOPE", {"placement_request": 1})
            tb.save_attributes(tank_id, "SERVER_SCOPE", {"level_ft": 12.0})
            assert tb.wait_idle(10)
            routed = {msg.originator_id: {step.chain for step in trace} for msg, trace in bridge.traces}
            assert routed == {device_id: {"Atilax Root Rule Chain", "Atilax Well Optimization"},
                              field_id: {"Atilax Root Rule Chain", "Atilax Well Optimization"}}
            assert [(m.originator_id, m.type) for m in pushed] == [(device_id, "POST_TELEMETRY_REQUEST"),
                                                                  (field_id, "ATTRIBUTES_UPDATED")]
            assert tb.get_timeseries(device_id, ["flow_rate_bpd"], 0, 2**62) == {"flow_rate_bpd": [(1700000000000, 812.5)]}
        finally:
            bridge.stop()
    finally:
        server.stop()
        tb.stop()
