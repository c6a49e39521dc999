"""The bundled rule chains checked against ThingsBoard's real node classes and configuration keys.

The known set below is data copied from thingsboard/thingsboard (master, 2026), each entry from
``rule-engine/rule-engine-components/src/main/java/org/thingsboard/rule/engine/<pkg>/<Class>.java``
(``@RuleNode(version=..., relationTypes=...)``) and the matching ``<Class>Configuration.java`` fields
(``TbMsgTypeSwitchNode``/``TbDeviceTypeSwitchNode`` use ``rule-engine-api/.../EmptyNodeConfiguration.java``:
one field ``version``). Relation labels of the message-type switch: ``common/data/src/main/java/org/
thingsboard/server/common/data/msg/TbMsgType.java``. Export layout: ``application/src/main/data/json/
tenant/rule_chains/root_rule_chain.json``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tb_bridge.writeback.keys import ALARM_REQUEST_KEY, INPUT_PREFIXES, OWN_PREFIXES, is_own_key, spec_for

ROOT = Path(__file__).resolve().parents[2]
CHAIN_FILES = sorted((ROOT / "rulechains").glob("*.json"))
P = "org.thingsboard.rule.engine."
SCRIPT = {"scriptLang", "jsScript", "tbelScript"}
ALARM = {"alarmType", "scriptLang", "alarmDetailsBuildJs", "alarmDetailsBuildTbel"}

#: rest/TbRestApiCallNodeConfiguration.java (thingsboard/thingsboard master, 2026): its private fields.
REST_API_CALL_FIELDS = frozenset({
    "restEndpointUrlPattern", "requestMethod", "headers", "useSimpleClientHttpFactory", "readTimeoutMs",
    "maxParallelRequestsCount", "parseToPlainText", "enableProxy", "useSystemProxyProperties", "proxyHost", "proxyPort",
    "proxyUser", "proxyPassword", "proxyScheme", "credentials", "ignoreRequestBody", "maxInMemoryBufferSizeInKb"})

#: kafka/TbKafkaNodeConfiguration.java (thingsboard/thingsboard master, 2026): its private fields. TbKafkaNode is at
#: @RuleNode(version = 1): its upgrade from version 0 removed keySerializer and valueSerializer (always StringSerializer).
KAFKA_FIELDS = frozenset({
    "topicPattern", "keyPattern", "bootstrapServers", "retries", "batchSize", "linger", "bufferMemory", "acks",
    "otherProperties", "addMetadataKeyValuesAsKafkaHeaders", "kafkaHeadersCharset"})

# class -> (configuration keys, @RuleNode version, fixed relations or None for custom relations)
TB_NODES = {
    P + "filter.TbMsgTypeSwitchNode": ({"version"}, 0, None),  # relations: TbMsgType labels + "Other"
    P + "filter.TbDeviceTypeSwitchNode": ({"version"}, 0, None),  # relations: device profile names
    P + "filter.TbAssetTypeSwitchNode": ({"version"}, 0, None),  # relations: asset profile names
    # relations: EntityType.getNormalName() (common/data/.../EntityType.java)
    P + "filter.TbOriginatorTypeSwitchNode": ({"version"}, 0, {"Device", "Asset", "Entity View", "Tenant", "Customer",
                                                               "User", "Dashboard", "Rule chain", "Rule node", "Edge",
                                                               "Failure"}),
    # TbDeleteKeysNodeConfiguration: deleteFrom (TbMsgSource DATA | METADATA), keys (regular expressions)
    P + "transform.TbDeleteKeysNode": ({"deleteFrom", "keys"}, 1, {"Success", "Failure"}),
    P + "filter.TbJsFilterNode": (SCRIPT, 0, {"True", "False", "Failure"}),
    P + "filter.TbJsSwitchNode": (SCRIPT, 0, None),
    P + "filter.TbCheckMessageNode": ({"messageNames", "metadataNames", "checkAllKeys"}, 0, {"True", "False", "Failure"}),
    P + "transform.TbTransformMsgNode": (SCRIPT, 0, {"Success", "Failure"}),
    P + "metadata.TbGetOriginatorFieldsNode": ({"dataMapping", "ignoreNullStrings", "fetchTo"}, 1, {"Success", "Failure"}),
    P + "telemetry.TbMsgTimeseriesNode": ({"defaultTTL", "useServerTs", "processingSettings"}, 1, {"Success", "Failure"}),
    P + "telemetry.TbMsgAttributesNode": ({"processingSettings", "scope", "notifyDevice", "sendAttributesUpdatedNotification",
                                           "updateAttributesOnlyOnValueChange"}, 3, {"Success", "Failure"}),
    # no queryParams or requestBodyTemplate: TbRestApiCallNodeConfiguration has no such fields
    P + "rest.TbRestApiCallNode": (REST_API_CALL_FIELDS, 4, {"Success", "Failure"}),
    P + "mqtt.TbMqttNode": ({"topicPattern", "host", "port", "connectTimeoutSec", "clientId", "appendClientIdSuffix",
                             "retainedMessage", "cleanSession", "ssl", "parseToPlainText", "protocolVersion", "credentials"},
                            2, {"Success", "Failure"}),
    P + "kafka.TbKafkaNode": (KAFKA_FIELDS, 1, {"Success", "Failure"}),
    P + "edge.TbMsgPushToEdgeNode": ({"scope"}, 0, {"Success", "Failure"}),
    P + "flow.TbRuleChainInputNode": ({"ruleChainId", "forwardMsgToDefaultRuleChain"}, 1, None),
    P + "action.TbCreateAlarmNode": (ALARM | {"severity", "propagate", "propagateToOwner", "propagateToTenant",
                                              "useMessageAlarmData", "overwriteAlarmDetails", "dynamicSeverity",
                                              "relationTypes"}, 0, {"Created", "Updated", "False", "Failure"}),
    P + "action.TbClearAlarmNode": (ALARM, 0, {"Cleared", "False", "Failure"}),
    P + "action.TbLogNode": (SCRIPT, 0, {"Success", "Failure"}),
}
MSG_TYPE_LABELS = {"Post attributes", "Post telemetry", "RPC Request from Device", "Attributes Updated",
                   "Attributes Deleted", "Timeseries Updated", "RPC Request to Device", "Alarm", "Other",
                   "Connect Event", "Disconnect Event", "Activity Event", "Inactivity Event", "Entity Created",
                   "Alarm Acknowledged", "Alarm Cleared"}
LIFT_PROFILES = {"ESP", "SRP", "PCP", "GasLift", "NaturalFlow"}
FIELD_PROFILES = {"Field"}
TRANSPORT_RELATIONS = {"gRPC Edge", "MQTT", "REST", "Kafka"}
# JavaScript-only constructs TBEL rejects, and TBEL-only constructs JavaScript rejects.
JS_ONLY = re.compile(r"===|!==|=>|\blet\b|\bconst\b|\btypeof\b|\bundefined\b|\bnew\b|\bfor\s*\(.*\bin\b")
TBEL_ONLY = re.compile(r"\bforeach\b|\bdef\b|\.keySet\(|\.entrySet\(|\bfor\s*\([^;]*:")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _scripts(node: dict) -> list[tuple[str, str]]:
    cfg = node["configuration"]
    pairs = [("tbelScript", "jsScript"), ("alarmDetailsBuildTbel", "alarmDetailsBuildJs")]
    return [(cfg[t], cfg[j]) for t, j in pairs if t in cfg]


def test_bundle_has_the_two_chains():
    assert {p.name for p in CHAIN_FILES} == {"well_optimization.json", "root_rule_chain.json"}


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.name)
def test_export_layout_matches_thingsboard(path):
    data = _load(path)
    assert set(data) == {"ruleChain", "metadata"}
    head = data["ruleChain"]
    assert head["type"] == "CORE" and head["firstRuleNodeId"] is None
    assert {"name", "root", "debugMode", "configuration", "additionalInfo"} <= set(head)
    meta = data["metadata"]
    assert set(meta) == {"firstNodeIndex", "nodes", "connections", "ruleChainConnections"}
    assert 0 <= meta["firstNodeIndex"] < len(meta["nodes"])
    # Fields of common/data/src/main/java/org/thingsboard/server/common/data/rule/RuleNode.java
    rule_node_fields = {"id", "ruleChainId", "type", "name", "debugMode", "debugSettings", "singletonMode", "queueName",
                        "configurationVersion", "configuration", "additionalInfo", "externalId"}
    for node in meta["nodes"]:
        assert {"type", "name", "configurationVersion", "configuration", "additionalInfo"} <= set(node)
        assert set(node) <= rule_node_fields, set(node) - rule_node_fields
        assert isinstance(node["additionalInfo"]["layoutX"], int) and isinstance(node["additionalInfo"]["layoutY"], int)


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.name)
def test_nodes_are_thingsboard_classes_with_their_configuration_keys(path):
    for node in _load(path)["metadata"]["nodes"]:
        assert node["type"] in TB_NODES, node["type"]
        keys, version, _rel = TB_NODES[node["type"]]
        assert set(node["configuration"]) <= keys, (node["name"], set(node["configuration"]) - keys)
        assert node["configurationVersion"] == version, node["name"]
        if keys >= {"scriptLang"}:
            assert node["configuration"]["scriptLang"] == "TBEL", node["name"]


def test_rest_nodes_carry_only_what_tbrestapicallnode_reads():
    """Every REST node, as bundled and as ``atilax tb setup`` configures it, has only fields of
    TbRestApiCallNodeConfiguration; the rule-chain runner knows exactly that field list."""
    from tb_bridge.rulechain_runner.chain import NODE_SPECS
    from tb_bridge.tbsetup.bundle import configure_endpoints

    assert NODE_SPECS[P + "rest.TbRestApiCallNode"].config_keys == REST_API_CALL_FIELDS
    rest = []
    for path in CHAIN_FILES:
        export = configure_endpoints(_load(path), service_url="https://atilax.example:8443", service_token="t",
                                     mqtt_host="broker")
        rest += [n for n in export["metadata"]["nodes"] if n["type"] == P + "rest.TbRestApiCallNode"]
    assert rest
    for node in rest:
        assert set(node["configuration"]) <= REST_API_CALL_FIELDS, (node["name"], set(node["configuration"]) - REST_API_CALL_FIELDS)


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.name)
def test_connections_reference_nodes_with_valid_relations(path):
    meta = _load(path)["metadata"]
    nodes = meta["nodes"]
    names = [n["name"] for n in nodes]
    assert len(set(names)) == len(names), "node names must be unique"
    reached = {meta["firstNodeIndex"]}
    for conn in meta["connections"]:
        a, b, rel = conn["fromIndex"], conn["toIndex"], conn["type"]
        assert 0 <= a < len(nodes) and 0 <= b < len(nodes) and a != b
        cls = nodes[a]["type"]
        fixed = TB_NODES[cls][2]
        if fixed is not None:
            assert rel in fixed, (nodes[a]["name"], rel)
        elif cls.endswith("TbMsgTypeSwitchNode"):
            assert rel in MSG_TYPE_LABELS, rel
        elif cls.endswith("TbDeviceTypeSwitchNode"):
            assert rel in LIFT_PROFILES, rel
        elif cls.endswith("TbAssetTypeSwitchNode"):
            assert rel in FIELD_PROFILES, rel
        elif nodes[a]["name"] == "Select transport":
            assert rel in TRANSPORT_RELATIONS, rel
        reached.add(b)
    assert reached == set(range(len(nodes))), f"unreachable nodes: {set(range(len(nodes))) - reached}"
    pairs = [(c["fromIndex"], c["toIndex"], c["type"]) for c in meta["connections"]]
    assert len(pairs) == len(set(pairs)), "duplicate connection"


def test_every_lift_profile_is_routed_for_telemetry_and_attributes():
    meta = _load(ROOT / "rulechains" / "well_optimization.json")["metadata"]
    switches = [i for i, n in enumerate(meta["nodes"]) if n["type"].endswith("TbDeviceTypeSwitchNode")]
    assert len(switches) == 3  # telemetry, attribute updates, alarm actions
    for i in switches:
        assert {c["type"] for c in meta["connections"] if c["fromIndex"] == i} == LIFT_PROFILES


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.name)
def test_scripts_are_in_the_tbel_subset_that_is_valid_javascript(path):
    import quickjs

    for node in _load(path)["metadata"]["nodes"]:
        for tbel, js in _scripts(node):
            assert tbel == js, node["name"]
            assert not JS_ONLY.search(tbel), (node["name"], JS_ONLY.search(tbel).group(0))
            assert not TBEL_ONLY.search(tbel), (node["name"], TBEL_ONLY.search(tbel).group(0))
            quickjs.Context().eval("(function (msg, metadata, msgType) {\n" + js + "\n})")  # raises on a syntax error


def test_every_opt_and_sim_key_used_by_the_chains_is_in_the_writeback_table():
    chains = [_load(p) for p in CHAIN_FILES]
    for chain in chains:  # the delete-keys patterns are prefixes, checked against the key table below
        for node in chain["metadata"]["nodes"]:
            if node["type"].endswith("TbDeleteKeysNode"):
                node["configuration"]["keys"] = []
    text = "\n".join(json.dumps(c) for c in chains)
    keys = set(re.findall(r"\b((?:opt|sim)_[a-z0-9_]+)", text))
    assert keys, "the chains name service keys"
    for key in keys:
        if key.startswith(INPUT_PREFIXES):
            continue
        assert spec_for(key) is not None, key


def test_root_chain_is_thingsboards_default_plus_our_chain():
    data = _load(ROOT / "rulechains" / "root_rule_chain.json")
    assert data["ruleChain"]["root"] is True
    nodes = data["metadata"]["nodes"]
    types = [n["type"].rsplit(".", 1)[1] for n in nodes]
    # ThingsBoard's default root chain saves telemetry and client attributes (root_rule_chain.json).
    assert "TbMsgTimeseriesNode" in types and "TbMsgAttributesNode" in types
    attrs = nodes[types.index("TbMsgAttributesNode")]["configuration"]
    assert attrs["scope"] == "CLIENT_SCOPE"
    call = nodes[types.index("TbRuleChainInputNode")]
    assert call["additionalInfo"]["ruleChainName"] == _load(ROOT / "rulechains" / "well_optimization.json")["ruleChain"]["name"]
    assert call["configuration"]["ruleChainId"] is None  # filled in by the setup command
    conns = {(nodes[c["fromIndex"]]["name"], c["type"], nodes[c["toIndex"]]["name"]) for c in data["metadata"]["connections"]}
    assert ("Save Timeseries", "Success", call["name"]) in conns
    assert ("Message Type Switch", "Attributes Updated", call["name"]) in conns
    assert ("Message Type Switch", "Alarm Acknowledged", call["name"]) in conns
    assert ("Message Type Switch", "Alarm Cleared", call["name"]) in conns


def test_the_chain_drops_exactly_the_service_keys_of_the_key_table():
    import re as regex

    nodes = _load(ROOT / "rulechains" / "well_optimization.json")["metadata"]["nodes"]
    (drop,) = [n for n in nodes if n["type"].endswith("TbDeleteKeysNode")]
    assert drop["configuration"]["deleteFrom"] == "DATA"
    patterns = [regex.compile(k) for k in drop["configuration"]["keys"]]
    assert drop["configuration"]["keys"] == [prefix + ".*" for prefix in OWN_PREFIXES]
    samples = ["opt_status", "opt_placement_npv_musd", "sim_original_water_cut_pct", "sim_compare_production_delta_bpd", "sim_status",
               "sim_session_id", "sim_flow_rate_bpd", "sim_pump_fillage_pct", "sim_opt_vlp_curve", "sim_param_water_cut_pct", "reservoir_pressure_psi",
               "pump_depth_ft", ALARM_REQUEST_KEY, "optimal_flag", "simulation_note"]
    for key in samples:  # a key is dropped exactly when the key table calls it the service's own
        assert any(p.fullmatch(key) for p in patterns) is is_own_key(key), key


def test_no_alarm_is_created_or_cleared_by_the_chains():
    """The service raises and clears its alarms through its writeback; a chain alarm would duplicate them."""
    for path in CHAIN_FILES:
        types = {n["type"].rsplit(".", 1)[1] for n in _load(path)["metadata"]["nodes"]}
        assert not types & {"TbCreateAlarmNode", "TbClearAlarmNode"}, path.name


def test_kafka_node_has_every_field_of_tbkafkanodeconfiguration_and_reads_topic_and_key_from_the_envelope():
    """The Kafka node as bundled and as ``atilax tb setup --transport kafka`` writes it: exactly the fields of
    TbKafkaNodeConfiguration (the runner knows the same list), ThingsBoard's defaults but for the patterns, the topic
    and key from the metadata the "Envelope for Kafka" script sets, and that script generated from the service's
    kafka settings."""
    from tb_bridge.config import KafkaSettings
    from tb_bridge.rulechain_runner.chain import NODE_SPECS
    from tb_bridge.tbsetup.bundle import configure_endpoints, kafka_envelope_script, select_transport

    assert NODE_SPECS[P + "kafka.TbKafkaNode"].config_keys == KAFKA_FIELDS
    assert NODE_SPECS[P + "kafka.TbKafkaNode"].version == 1
    export = _load(ROOT / "rulechains" / "well_optimization.json")
    nodes = {n["name"]: n for n in export["metadata"]["nodes"]}
    kafka = nodes["Publish to Atilax (Kafka)"]
    assert kafka["type"] == P + "kafka.TbKafkaNode" and kafka["configurationVersion"] == 1
    # TbKafkaNodeConfiguration.defaultConfiguration() but for topicPattern and keyPattern
    assert kafka["configuration"] == {
        "topicPattern": "${atilaxKafkaTopic}", "keyPattern": "${atilaxKafkaKey}", "bootstrapServers": "localhost:9092",
        "retries": 0, "batchSize": 16384, "linger": 0, "bufferMemory": 33554432, "acks": "-1", "otherProperties": {},
        "addMetadataKeyValuesAsKafkaHeaders": False, "kafkaHeadersCharset": "UTF-8"}
    defaults = KafkaSettings()
    envelope = nodes["Envelope for Kafka"]["configuration"]
    assert envelope["tbelScript"] == kafka_envelope_script(defaults.telemetry_topics, defaults.events_topic)
    assert "'GasLift': 'atilax.telemetry.gas_lift'" in envelope["tbelScript"]
    assert "var topic = 'atilax.events';" in envelope["tbelScript"]
    names = [n["name"] for n in export["metadata"]["nodes"]]
    conns = {(names[c["fromIndex"]], c["type"], names[c["toIndex"]]) for c in export["metadata"]["connections"]}
    assert {("Select transport", "Kafka", "Envelope for Kafka"), ("Envelope for Kafka", "Success", "Publish to Atilax (Kafka)"),
            ("Envelope for Kafka", "Failure", "Log failure"), ("Publish to Atilax (Kafka)", "Failure", "Log failure")} <= conns

    topics = {"esp": "field7.esp", "srp": "field7.srp", "pcp": "field7.pcp", "gas_lift": "field7.gl",
              "natural_flow": "field7.nf"}
    setup = configure_endpoints(select_transport(export, "kafka"), kafka_bootstrap="kafka-1:9092,kafka-2:9092",
                                kafka_telemetry_topics=topics, kafka_events_topic="field7.events")
    nodes = {n["name"]: n for n in setup["metadata"]["nodes"]}
    assert nodes["Select transport"]["configuration"]["tbelScript"] == "return ['Kafka'];"
    assert nodes["Publish to Atilax (Kafka)"]["configuration"]["bootstrapServers"] == "kafka-1:9092,kafka-2:9092"
    script = nodes["Envelope for Kafka"]["configuration"]["tbelScript"]
    assert script == nodes["Envelope for Kafka"]["configuration"]["jsScript"]
    assert ("var topics = {'ESP': 'field7.esp', 'SRP': 'field7.srp', 'PCP': 'field7.pcp', 'GasLift': 'field7.gl', "
            "'NaturalFlow': 'field7.nf'};\nvar topic = 'field7.events';") in script
    with pytest.raises(ValueError, match="not a Kafka topic name"):
        kafka_envelope_script({"esp": "bad'topic"}, "atilax.events")
