"""The stand-in's rule engine: ThingsBoard node semantics, and the bundled chains routed per transport.

Semantics cited from thingsboard/thingsboard rule-engine-components (filter/TbMsgTypeSwitchNode.java,
filter/TbJsFilterNode.java, filter/TbJsSwitchNode.java, filter/TbCheckMessageNode.java,
transform/TbTransformMsgNode.java, telemetry/TbMsgTimeseriesNode.java, action/TbCreateAlarmNode.java,
action/TbClearAlarmNode.java) and TbNodeUtils.processPattern (rule-engine-api).
"""
from __future__ import annotations

import json

import pytest

from tb_bridge.rulechain_runner import RecordingOutputs, RuleChainError, RuleEngine, ScriptError, TbScript, load_rule_chain
from tb_bridge.rulechain_runner.kafka_producer import KafkaDelivery
from tb_bridge.rulechain_runner.patterns import process_pattern
from tb_bridge.standin.messages import TbMsg
from tb_bridge.tbsetup.bundle import bundled_rule_chains, link_rule_chains, select_transport

P = "org.thingsboard.rule.engine."
WELL = {"id": "dev-1", "name": "W-1", "type": "ESP"}


def chain(nodes, connections, name="t", root=True):
    return {"ruleChain": {"name": name, "type": "CORE", "firstRuleNodeId": None, "root": root, "debugMode": False,
                          "configuration": None, "additionalInfo": None},
            "metadata": {"firstNodeIndex": 0, "ruleChainConnections": None,
                         "nodes": [{"type": P + t, "name": n, "configurationVersion": v, "configuration": c,
                                    "additionalInfo": {"layoutX": 0, "layoutY": 0}} for t, n, v, c in nodes],
                         "connections": [{"fromIndex": a, "toIndex": b, "type": r} for a, b, r in connections]}}


def script_node(cls, name, code):
    return (cls, name, 0, {"scriptLang": "TBEL", "tbelScript": code, "jsScript": code})


def log(name):
    return script_node("action.TbLogNode", name, "return metadata.tag + ':' + msgType;")


def msg(msg_type="POST_TELEMETRY_REQUEST", data=None, **meta):
    metadata = {"deviceName": "W-1", "deviceType": "ESP", "ts": "1700000000000", **meta}
    return TbMsg(msg_type, "dev-1", metadata, json.dumps(data if data is not None else {"flow_rate_bpd": 812.5}))


def engine(export, outputs=None):
    outputs = outputs or RecordingOutputs(fields={"dev-1": WELL})
    return RuleEngine({"c": load_rule_chain(export)}, outputs), outputs


# --- node semantics ---------------------------------------------------------------------------------
@pytest.mark.parametrize("msg_type, relation", [("POST_TELEMETRY_REQUEST", "Post telemetry"),
                                                ("ATTRIBUTES_UPDATED", "Attributes Updated"),
                                                ("POST_ATTRIBUTES_REQUEST", "Post attributes"),
                                                ("ENTITY_CREATED", "Entity Created"),
                                                ("SOMETHING_ELSE", "Other")])
def test_message_type_switch_uses_tbmsgtype_labels(msg_type, relation):
    eng, _ = engine(chain([("filter.TbMsgTypeSwitchNode", "switch", 0, {"version": 0})], []))
    steps = eng.process(msg(msg_type))
    assert [s.relations for s in steps] == [(relation,)]


def test_filter_switch_and_transform_scripts_route_and_rewrite():
    export = chain([
        script_node("filter.TbJsFilterNode", "hot", "return msg.t > 20;"),
        script_node("filter.TbJsSwitchNode", "split", "return ['a', 'b'];"),
        script_node("transform.TbTransformMsgNode", "double",
                    "return {msg: {t: msg.t * 2}, metadata: {tag: 'x'}, msgType: 'CUSTOM'};"),
        log("log-a"), log("log-b"), log("cold"),
    ], [(0, 1, "True"), (0, 5, "False"), (1, 2, "a"), (1, 4, "b"), (2, 3, "Success")])
    eng, out = engine(export)
    steps = eng.process(msg(data={"t": 21.5}))
    assert [(s.node, s.relations) for s in steps] == [("hot", ("True",)), ("split", ("a", "b")), ("double", ("Success",)),
                                                      ("log-a", ("Success",)), ("log-b", ("Success",))]
    assert json.loads(steps[2].msg.data) == {"t": 43.0} and steps[2].msg.type == "CUSTOM"
    assert out.logs == ["x:CUSTOM", "undefined:POST_TELEMETRY_REQUEST"]  # metadata.tag absent on the branch b
    steps = eng.process(msg(data={"t": 19.0}))
    assert [(s.node, s.relations) for s in steps] == [("hot", ("False",)), ("cold", ("Success",))]


def test_script_error_routes_to_failure_with_error_metadata():
    export = chain([script_node("filter.TbJsFilterNode", "bad", "return msg.a.b.c > 1;"), log("failed")],
                   [(0, 1, "Failure")])
    eng, out = engine(export)
    steps = eng.process(msg(data={"a": 1}))
    assert steps[0].relations == ("Failure",) and "TypeError" in steps[0].msg.metadata["error"]
    assert steps[1].node == "failed"


def test_filter_returning_a_non_boolean_is_a_failure():
    eng, _ = engine(chain([script_node("filter.TbJsFilterNode", "f", "return 'yes';")], []))
    assert eng.process(msg())[0].relations == ("Failure",)


@pytest.mark.parametrize("check_all, data, meta, expected", [
    (True, {"a": 1}, {"m": "1"}, "True"), (True, {"a": 1}, {}, "False"),
    (False, {"b": 1}, {"m": "1"}, "True"), (False, {"b": 1}, {}, "False")])
def test_check_fields_presence(check_all, data, meta, expected):
    export = chain([("filter.TbCheckMessageNode", "chk", 0,
                     {"messageNames": ["a"], "metadataNames": ["m"], "checkAllKeys": check_all})], [])
    eng, _ = engine(export)
    assert eng.process(msg(data=data, **meta))[0].relations == (expected,)


def test_timeseries_node_saves_at_metadata_ts_and_rejects_other_types():
    export = chain([("telemetry.TbMsgTimeseriesNode", "save", 1,
                     {"defaultTTL": 0, "useServerTs": False, "processingSettings": {"type": "ON_EVERY_MESSAGE"}})], [])
    eng, out = engine(export)
    assert eng.process(msg())[0].relations == ("Success",)
    assert out.timeseries == [("dev-1", [(1700000000000, {"flow_rate_bpd": 812.5})], 0)]
    step = eng.process(msg("ATTRIBUTES_UPDATED"))[0]
    assert step.relations == ("Failure",) and "Unsupported msg type" in step.error


def test_alarm_created_updated_and_cleared_once():
    export = chain([
        ("action.TbCreateAlarmNode", "create", 0, {"alarmType": "A ${deviceName}", "scriptLang": "TBEL",
                                                   "alarmDetailsBuildTbel": "return {n: msg.n};", "alarmDetailsBuildJs": "return {n: msg.n};",
                                                   "severity": "$[sev]", "dynamicSeverity": True, "propagate": False,
                                                   "useMessageAlarmData": False, "relationTypes": []}),
    ], [])
    clear = chain([("action.TbClearAlarmNode", "clear", 0, {"alarmType": "A ${deviceName}", "scriptLang": "TBEL",
                                                            "alarmDetailsBuildTbel": "return {};", "alarmDetailsBuildJs": "return {};"})],
                  [], name="clear", root=False)
    out = RecordingOutputs(fields={"dev-1": WELL})
    eng = RuleEngine({"c": load_rule_chain(export), "k": load_rule_chain(clear)}, out)
    assert eng.process(msg(data={"sev": "MAJOR", "n": 1}))[0].relations == ("Created",)
    assert eng.process(msg(data={"sev": "CRITICAL", "n": 2}))[0].relations == ("Updated",)
    alarm = out.alarms[("dev-1", "A W-1")]
    assert (alarm["severity"], alarm["details"], alarm["cleared"]) == ("CRITICAL", {"n": 2}, False)
    assert eng.process(msg(data={"sev": "BOGUS"}))[0].relations == ("Failure",)
    assert eng.process(msg(), "k")[0].relations == ("Cleared",)
    assert eng.process(msg(), "k")[0].relations == ("False",)  # nothing active any more
    assert out.alarms[("dev-1", "A W-1")]["status"] == "CLEARED_UNACK"


def test_process_pattern_like_tbnodeutils():
    meta = {"deviceName": "W-1"}
    data = {"a": {"b": 3}, "flag": True}
    assert process_pattern("x/${deviceName}/$[a.b]/$[flag]/${missing}", meta, data) == "x/W-1/3/true/${missing}"


# --- strictness ---------------------------------------------------------------------------------------
def test_unknown_node_type_is_an_error():
    with pytest.raises(RuleChainError, match="not supported"):
        load_rule_chain(chain([("filter.TbNoSuchNode", "x", 0, {})], []))


def test_unknown_configuration_key_is_an_error():
    with pytest.raises(RuleChainError, match="unknown configuration keys"):
        load_rule_chain(chain([("edge.TbMsgPushToEdgeNode", "x", 0, {"scope": "SERVER_SCOPE", "typo": 1})], []))


def test_wrong_relation_and_version_are_errors():
    with pytest.raises(RuleChainError, match="cannot emit relation"):
        load_rule_chain(chain([script_node("filter.TbJsFilterNode", "f", "return true;"), log("l")], [(0, 1, "Success")]))
    with pytest.raises(RuleChainError, match="configurationVersion"):
        load_rule_chain(chain([("mqtt.TbMqttNode", "m", 1, {"topicPattern": "t"})], []))


def test_script_that_does_not_compile_is_rejected_when_the_engine_is_built():
    with pytest.raises(RuleChainError, match="does not compile"):
        engine(chain([script_node("filter.TbJsFilterNode", "f", "return (;")], []))


def test_script_time_limit():
    with pytest.raises(ScriptError):
        TbScript("while (true) {}", time_limit_s=0.05).call({}, {}, "X")


# --- the bundled chains -------------------------------------------------------------------------------
def bundled(transport):
    wo, root = bundled_rule_chains()
    chains = {"wo": load_rule_chain(select_transport(wo, transport)),
              "root": load_rule_chain(link_rule_chains(root, {wo["ruleChain"]["name"]: "wo"}))}
    out = RecordingOutputs(fields={"dev-1": WELL, "dev-2": {"id": "dev-2", "name": "T-1", "type": "thermostat"}},
                           http=lambda method, url, headers, body, timeout: (200, '{"accepted": true}'))
    return RuleEngine(chains, out), out


def test_grpc_transport_pushes_raw_telemetry_to_edge_after_saving():
    eng, out = bundled("grpc")
    eng.process(msg())
    assert out.timeseries == [("dev-1", [(1700000000000, {"flow_rate_bpd": 812.5})], 0)]
    assert len(out.edge) == 1 and out.mqtt == [] and out.rest == []
    pushed = out.edge[0]
    assert pushed.type == "POST_TELEMETRY_REQUEST" and json.loads(pushed.data) == {"flow_rate_bpd": 812.5}
    assert pushed.metadata["atilaxEntityId"] == "dev-1"


def test_mqtt_transport_publishes_the_envelope():
    eng, out = bundled("mqtt")
    eng.process(msg())
    (host, port, topic, payload, retain), = out.mqtt
    assert (host, port, topic, retain) == ("localhost", 1883, "atilax/v1/ESP/W-1", False)
    body = json.loads(payload)
    assert body == {"msgType": "POST_TELEMETRY_REQUEST", "entityId": "dev-1", "entityType": "DEVICE", "deviceName": "W-1",
                    "deviceType": "ESP", "ts": "1700000000000", "metadata": body["metadata"],
                    "data": {"flow_rate_bpd": 812.5}}
    assert body["metadata"]["deviceName"] == "W-1"


def test_devices_of_other_profiles_are_saved_but_not_forwarded():
    eng, out = bundled("grpc")
    eng.process(TbMsg("POST_TELEMETRY_REQUEST", "dev-2", {"deviceName": "T-1", "deviceType": "thermostat", "ts": "5"},
                      json.dumps({"temperature": 20})))
    assert out.timeseries and out.edge == []


def sent_count(out):
    return len(out.edge) + len(out.mqtt) + len(out.rest) + len(out.kafka)


@pytest.mark.parametrize("transport", ["grpc", "mqtt", "rest", "kafka"])
def test_slider_write_reaches_the_service_and_own_writes_do_not(transport):
    eng, out = bundled(transport)
    slider = msg("ATTRIBUTES_UPDATED", {"sim_param_water_cut_frac": 0.55}, scope="SERVER_SCOPE", userId="u-1")
    eng.process(slider)
    sent = sent_count(out)
    assert sent == 1
    if transport == "rest":  # the same envelope as the MQTT branch, to the service's REST ingress
        method, url, headers, body = out.rest[0]
        assert (method, url, headers["Content-Type"]) == ("POST", "http://localhost:8090/api/v1/events", "application/json")
        body = json.loads(body)
        assert (body["msgType"], body["entityId"], body["entityType"], body["data"]) == (
            "ATTRIBUTES_UPDATED", "dev-1", "DEVICE", {"sim_param_water_cut_frac": 0.55})
    own = [{"opt_status": "ok", "opt_well_health_score": 81.0}, {"sim_original_water_cut_frac": 0.4, "sim_status": "done"},
           {"sim_compare_production_delta_bpd": 12.5}, {"opt_error": "sim_param_x out of range"}]
    for values in own:
        eng.process(msg("ATTRIBUTES_UPDATED", values, scope="SERVER_SCOPE"))
    assert sent_count(out) == sent  # nothing more went to the service
    eng.process(msg("ATTRIBUTES_UPDATED", {"opt_status": "ok", "sim_param_gor_scf_stb": 900}, scope="SERVER_SCOPE"))
    assert sent_count(out) == sent + 1  # a sim_param_ key after another key


def test_rest_failure_goes_to_the_failure_log():
    eng, out = bundled("rest")
    out.http = lambda *a: (503, "busy")
    steps = eng.process(msg("ATTRIBUTES_UPDATED", {"sim_param_wellhead_pressure_psi": 150}, scope="SERVER_SCOPE"))
    call = next(s for s in steps if s.node == "POST to Atilax (REST)")
    assert call.relations == ("Failure",) and call.msg.metadata["statusCode"] == "503"
    assert "Log failure" in [s.node for s in steps] and len(out.logs) == 1


FIELD = {"id": "asset-1", "name": "North field", "type": "Field"}


def sent_events(out, transport):
    """The WellEvents the service's transport would build from what the chain sent."""
    from tb_bridge.transport.tb_messages import event_from_tb_message

    if transport == "grpc":
        return [event_from_tb_message(m.type, m.originator_id, {**m.metadata, **(
            {"entityType": "ASSET"} if m.originator_type == "ASSET" else {})}, m.data, source="edge") for m in out.edge]
    events = []  # the envelope as tb_bridge.transport.mqtt_envelope.parse_envelope reads it (ids here are not UUIDs)
    payloads = {"mqtt": [p for _h, _p, _topic, p, _r in out.mqtt], "rest": [b for _m, _u, _h, b in out.rest],
                "kafka": [value for _topic, _key, value, _headers in out.kafka]}[transport]
    for payload in payloads:
        body = json.loads(payload)
        meta = {**body["metadata"], **({"entityType": "ASSET"} if body["entityType"] == "ASSET" else {})}
        events.append(event_from_tb_message(body["msgType"], body["entityId"], meta, body["data"], source="mqtt"))
    return events


@pytest.mark.parametrize("transport", ["grpc", "mqtt", "rest", "kafka"])
def test_configuration_changes_are_forwarded_without_the_service_keys(transport):
    eng, out = bundled(transport)
    eng.process(msg("ATTRIBUTES_UPDATED", {"reservoir_pressure_psi": 2900.0}, scope="SERVER_SCOPE", userId="u-1"))
    eng.process(msg("ATTRIBUTES_UPDATED", {"opt_status": "ok", "pump_depth_ft": 7400, "sim_status": "done"},
                    scope="SERVER_SCOPE"))
    eng.process(msg("ATTRIBUTES_UPDATED", {"opt_status": "ok", "sim_flow_rate_bpd": 1.0}, scope="SERVER_SCOPE"))  # ours only
    eng.process(msg("ATTRIBUTES_UPDATED", {"alarm_operator_request": {"alarm_type": "gas_lock", "action": "shelve",
                                                                      "duration_min": 30}}, scope="SHARED_SCOPE"))
    events = sent_events(out, transport)
    assert [dict(e.values) for e in events] == [{"reservoir_pressure_psi": 2900.0}, {"pump_depth_ft": 7400},
                                                {"alarm_operator_request": {"alarm_type": "gas_lock", "action": "shelve",
                                                                            "duration_min": 30}}]
    assert {(e.well_id, e.kind.value) for e in events} == {("dev-1", "attributes_updated")}
    assert events[0].metadata["userId"] == "u-1" and events[2].scope == "SHARED_SCOPE"


@pytest.mark.parametrize("transport", ["grpc", "mqtt", "rest", "kafka"])
def test_placement_keys_of_field_assets_are_forwarded(transport):
    from tb_bridge.router import is_asset_event

    eng, out = bundled(transport)
    out.fields.update({"asset-1": FIELD, "asset-2": {"id": "asset-2", "name": "Tank 4", "type": "Tank"}})

    def asset_msg(asset_id, values):
        return TbMsg("ATTRIBUTES_UPDATED", asset_id, {"scope": "SERVER_SCOPE", "ts": "1700000000000", "userId": "u-1"},
                     json.dumps(values), originator_type="ASSET")

    eng.process(asset_msg("asset-1", {"placement_run_requested": True}))
    eng.process(asset_msg("asset-1", {"opt_placement_status": "running"}))  # the service's own write
    eng.process(asset_msg("asset-1", {"field_note": "no placement key"}))
    eng.process(asset_msg("asset-2", {"placement_run_requested": True}))  # not a field
    (event,) = sent_events(out, transport)
    assert (event.well_id, dict(event.values), is_asset_event(event)) == ("asset-1", {"placement_run_requested": True},
                                                                          True)
    if transport == "mqtt":
        assert out.mqtt[0][2] == "atilax/v1/Field/North field"
    if transport == "kafka":  # a field asset's event: the events topic, keyed by the asset id
        assert [(topic, key) for topic, key, _v, _h in out.kafka] == [("atilax.events", "asset-1")]


@pytest.mark.parametrize("transport", ["grpc", "mqtt", "rest", "kafka"])
def test_operator_alarm_actions_on_atilax_alarms_are_forwarded(transport):
    eng, out = bundled(transport)
    alarm = {"id": {"entityType": "ALARM", "id": "a-1"}, "originator": {"entityType": "DEVICE", "id": "dev-1"},
             "type": "Atilax: gas_lock", "severity": "MAJOR", "status": "ACTIVE_ACK", "ackTs": 1700000000500}
    for msg_type in ("ALARM_ACK", "ALARM_CLEAR"):
        eng.process(msg(msg_type, alarm, userId="op-7", entityType="DEVICE"))
    eng.process(msg("ALARM_ACK", {**alarm, "type": "High temperature"}, userId="op-7"))  # not ours
    eng.process(msg("ALARM_CREATED", alarm))  # only operator actions are forwarded
    events = sent_events(out, transport)
    assert [(e.kind.value, e.well_id, e.values["type"], e.metadata["userId"]) for e in events] == [
        ("alarm_ack", "dev-1", "Atilax: gas_lock", "op-7"), ("alarm_clear", "dev-1", "Atilax: gas_lock", "op-7")]


def test_rest_transport_posts_telemetry_in_the_envelope():
    eng, out = bundled("rest")
    eng.process(msg())
    (method, url, _headers, body), = out.rest
    assert (method, url) == ("POST", "http://localhost:8090/api/v1/events") and out.edge == [] and out.mqtt == []
    body = json.loads(body)
    assert body == {"msgType": "POST_TELEMETRY_REQUEST", "entityId": "dev-1", "entityType": "DEVICE", "deviceName": "W-1",
                    "deviceType": "ESP", "ts": "1700000000000", "metadata": body["metadata"],
                    "data": {"flow_rate_bpd": 812.5}}


def test_delete_keys_node_matches_whole_keys_like_java_matcher():
    export = chain([("transform.TbDeleteKeysNode", "drop", 1, {"deleteFrom": "DATA", "keys": ["opt_.*", "x"]})], [])
    eng, _ = engine(export)
    (step,) = eng.process(msg(data={"opt_a": 1, "xy": 2, "x": 3, "b_opt_c": 4}))
    assert step.relations == ("Success",) and json.loads(step.msg.data) == {"xy": 2, "b_opt_c": 4}
    export = chain([("transform.TbDeleteKeysNode", "drop", 1, {"deleteFrom": "METADATA", "keys": ["device.*"]})], [])
    eng, _ = engine(export)
    (step,) = eng.process(msg())
    assert set(step.msg.metadata) == {"ts"}
    with pytest.raises(RuleChainError, match="deleteFrom"):
        engine(chain([("transform.TbDeleteKeysNode", "drop", 1, {"deleteFrom": "BODY", "keys": []})], []))


def test_originator_and_asset_type_switches():
    export = chain([("filter.TbOriginatorTypeSwitchNode", "who", 0, {"version": 0}),
                    ("filter.TbAssetTypeSwitchNode", "asset type", 0, {"version": 0})], [(0, 1, "Asset")])
    out = RecordingOutputs(fields={"dev-1": WELL, "asset-1": FIELD})
    eng, _ = engine(export, out)
    asset = TbMsg("ATTRIBUTES_UPDATED", "asset-1", {}, "{}", originator_type="ASSET")
    assert [s.relations for s in eng.process(asset)] == [("Asset",), ("Field",)]
    assert [s.relations for s in eng.process(msg())] == [("Device",)]
    (step,) = eng.process(TbMsg("ATTRIBUTES_UPDATED", "x", {}, "{}", originator_type="API_USAGE_STATE"))
    assert step.relations == ("Failure",)


def test_root_chain_needs_the_linked_chain():
    wo, root = bundled_rule_chains()
    with pytest.raises(RuleChainError, match="ruleChainId"):
        RuleEngine({"root": load_rule_chain(root), "wo": load_rule_chain(wo)}, RecordingOutputs())


@pytest.mark.parametrize("node", [
    ("mqtt.TbMqttNode", "m", 2, {"topicPattern": "t", "host": "h", "port": 1883, "ssl": True}),
    ("rest.TbRestApiCallNode", "r", 4, {"restEndpointUrlPattern": "http://x", "requestMethod": "POST",
                                        "credentials": {"type": "basic", "username": "u", "password": "p"}}),
    ("action.TbCreateAlarmNode", "a", 0, {"alarmType": "A", "scriptLang": "TBEL", "alarmDetailsBuildTbel": "return {};",
                                          "severity": "MAJOR", "propagate": True}),
])
def test_known_keys_with_unsupported_values_are_errors_not_silent_passes(node):
    with pytest.raises(RuleChainError, match="not supported"):
        engine(chain([node], []))


def test_mqtt_envelopes_of_assets_and_alarm_actions_parse_into_router_events():
    import uuid

    from tb_bridge.events import EventKind
    from tb_bridge.router import is_asset_event
    from tb_bridge.transport.mqtt_envelope import parse_envelope

    well_id, field_id = str(uuid.uuid4()), str(uuid.uuid4())
    eng, out = bundled("mqtt")
    out.fields.update({well_id: {**WELL, "id": well_id}, field_id: {**FIELD, "id": field_id}})
    eng.process(TbMsg("ATTRIBUTES_UPDATED", field_id, {"scope": "SERVER_SCOPE", "ts": "5"},
                      json.dumps({"placement_stop_requested": True}), originator_type="ASSET"))
    eng.process(TbMsg("ALARM_CLEAR", well_id, {"deviceName": "W-1", "deviceType": "ESP", "ts": "6", "userName": "op"},
                      json.dumps({"id": {"entityType": "ALARM", "id": str(uuid.uuid4())}, "type": "Atilax: gas_lock",
                                  "clearTs": 6})))
    asset, clear = [parse_envelope(payload, source="mqtt", topic=topic) for _h, _p, topic, payload, _r in out.mqtt]
    assert (asset.well_id, is_asset_event(asset), dict(asset.values)) == (field_id, True, {"placement_stop_requested": True})
    assert (clear.kind, clear.well_id, clear.ts_ms, clear.metadata["userName"], is_asset_event(clear)) == (
        EventKind.ALARM_CLEAR, well_id, 6, "op", False)


# --- the Kafka branch ---------------------------------------------------------------------------------
KAFKA_WELLS = {f"dev-{p}": {"id": f"dev-{p}", "name": f"{p}-1", "type": p} for p in ("ESP", "SRP", "PCP", "GasLift",
                                                                                  "NaturalFlow")}


def test_kafka_transport_sends_telemetry_to_the_lift_types_topic_and_events_to_the_events_topic_keyed_by_device():
    eng, out = bundled("kafka")
    out.fields.update(KAFKA_WELLS)
    deliveries = iter(range(100))
    out.kafka_sender = lambda config, topic, key, value, headers: KafkaDelivery(topic, 3, next(deliveries))
    for device_id, fields in KAFKA_WELLS.items():
        eng.process(TbMsg("POST_TELEMETRY_REQUEST", device_id, {"deviceName": fields["name"], "deviceType": fields["type"],
                                                                "ts": "1700000000000"}, json.dumps({"flow_rate_bpd": 5.0})))
    steps = eng.process(TbMsg("ATTRIBUTES_UPDATED", "dev-SRP", {"deviceName": "SRP-1", "deviceType": "SRP", "ts": "7",
                                                                "scope": "SERVER_SCOPE"}, json.dumps({"pump_depth_ft": 5000})))
    assert [(topic, key) for topic, key, _v, _h in out.kafka] == [
        ("atilax.telemetry.esp", "dev-ESP"), ("atilax.telemetry.srp", "dev-SRP"), ("atilax.telemetry.pcp", "dev-PCP"),
        ("atilax.telemetry.gas_lift", "dev-GasLift"), ("atilax.telemetry.natural_flow", "dev-NaturalFlow"),
        ("atilax.events", "dev-SRP")]
    assert all(headers == [] for _t, _k, _v, headers in out.kafka)  # addMetadataKeyValuesAsKafkaHeaders false
    body = json.loads(out.kafka[0][2])
    assert body == {"msgType": "POST_TELEMETRY_REQUEST", "entityId": "dev-ESP", "entityType": "DEVICE",
                    "deviceName": "ESP-1", "deviceType": "ESP", "ts": "1700000000000", "metadata": body["metadata"],
                    "data": {"flow_rate_bpd": 5.0}}
    assert (body["metadata"]["atilaxKafkaTopic"], body["metadata"]["atilaxKafkaKey"]) == ("atilax.telemetry.esp", "dev-ESP")
    (sent,) = [s for s in steps if s.node == "Publish to Atilax (Kafka)"]
    # TbKafkaNode.processResponse: offset, partition and topic of the record in the outbound metadata
    assert sent.relations == ("Success",)
    assert (sent.msg.metadata["offset"], sent.msg.metadata["partition"], sent.msg.metadata["topic"]) == (
        "5", "3", "atilax.events")


def test_kafka_send_failure_goes_to_the_failure_log_and_headers_carry_the_metadata():
    eng, out = bundled("kafka")

    def refuse(config, topic, key, value, headers):
        raise RuntimeError("Broker: Not enough in-sync replicas")

    out.kafka_sender = refuse
    steps = eng.process(msg())
    call = next(s for s in steps if s.node == "Publish to Atilax (Kafka)")
    assert call.relations == ("Failure",)
    assert call.msg.metadata["error"] == "RuntimeError: Broker: Not enough in-sync replicas"
    assert "Log failure" in [s.node for s in steps] and len(out.logs) == 1

    node = ("kafka.TbKafkaNode", "k", 1, {"topicPattern": "t-${deviceType}", "keyPattern": "", "bootstrapServers": "b:9092",
                                          "acks": "1", "addMetadataKeyValuesAsKafkaHeaders": True,
                                          "kafkaHeadersCharset": "ISO-8859-1"})
    eng, out = engine(chain([node], []))
    (step,) = eng.process(msg(deviceName="Brunnen-\u00e4"))
    assert step.relations == ("Success",) and (step.msg.metadata["partition"], step.msg.metadata["offset"]) == ("-1", "-1")
    ((topic, key, value, headers),) = out.kafka
    assert (topic, key, json.loads(value)) == ("t-ESP", None, {"flow_rate_bpd": 812.5})  # empty keyPattern: no key
    assert headers == [("tb_msg_md_deviceName", b"Brunnen-\xe4"), ("tb_msg_md_deviceType", b"ESP"),
                       ("tb_msg_md_ts", b"1700000000000")]


@pytest.mark.parametrize("config, error", [
    ({"acks": "2"}, "acks must be one of"),
    ({"otherProperties": {"ssl.truststore.location": "/x.jks"}}, "otherProperties .* not supported"),
    ({"kafkaHeadersCharset": "no-such-charset"}, "unknown encoding"),
    ({"topicPattern": ""}, "topicPattern is empty"),
    ({"bootstrapServers": " "}, "bootstrapServers is empty"),
])
def test_kafka_node_configurations_librdkafka_cannot_reproduce_are_errors(config, error):
    base = {"topicPattern": "t", "keyPattern": "${k}", "bootstrapServers": "b:9092", "acks": "-1"}
    with pytest.raises(RuleChainError, match=error):
        engine(chain([("kafka.TbKafkaNode", "k", 1, {**base, **config})], []))


def test_kafka_producer_configuration_is_thingsboards_with_the_murmur2_partitioner():
    from tb_bridge.rulechain_runner.kafka_producer import producer_config

    wo, _root = bundled_rule_chains()
    (node,) = [n for n in wo["metadata"]["nodes"] if n["type"] == P + "kafka.TbKafkaNode"]
    assert producer_config(node["configuration"]) == {
        "bootstrap.servers": "localhost:9092", "client.id": "producer-tb-kafka-node", "partitioner": "murmur2_random",
        "acks": "-1", "retries": 0, "batch.size": 16384, "linger.ms": 0, "queue.buffering.max.kbytes": 32768,
        "delivery.timeout.ms": 30000}
    assert producer_config({**node["configuration"], "batchSize": 0, "otherProperties": {"compression.type": "lz4"}})[
        "batch.size"] == 1
