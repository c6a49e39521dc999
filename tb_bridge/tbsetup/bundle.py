"""The bundled ThingsBoard artifacts: rule chains under ``rulechains/``, dashboards under ``dashboards/``.

A bundled chain that calls another one (``flow.TbRuleChainInputNode``) names it in
``additionalInfo.ruleChainName``; :func:`link_rule_chains` fills ``configuration.ruleChainId`` with the
target's id once it is known (the id remapping ThingsBoard's own import needs as well).
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
RULECHAIN_DIR = REPO_ROOT / "rulechains"
DASHBOARD_DIR = REPO_ROOT / "dashboards"
LIFT_PROFILES: tuple[str, ...] = ("ESP", "SRP", "PCP", "GasLift", "NaturalFlow")
#: Asset profile of oil fields (placement runs; the chain's "Field asset" switch).
FIELD_PROFILE = "Field"
#: The REST node's header that carries the service's bearer token (a secret: export leaves it out).
AUTH_HEADER = "Authorization"
#: Relation names of the "Select transport" switch in well_optimization.json.
TRANSPORTS: dict[str, str] = {"grpc": "gRPC Edge", "mqtt": "MQTT", "rest": "REST", "kafka": "Kafka"}
TRANSPORT_NODE = "Select transport"
#: The Kafka branch: a transform that builds the envelope and puts the record's topic and key into metadata, and
#: ThingsBoard's Kafka node (``topicPattern`` / ``keyPattern`` read those two metadata keys).
KAFKA_ENVELOPE_NODE = "Envelope for Kafka"
KAFKA_NODE_TYPE = "org.thingsboard.rule.engine.kafka.TbKafkaNode"
KAFKA_TOPIC_KEY = "atilaxKafkaTopic"
KAFKA_KEY_KEY = "atilaxKafkaKey"
#: Kafka's legal topic names (org.apache.kafka.common.internals.Topic: [a-zA-Z0-9._-], at most 249 characters).
_KAFKA_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
#: The switch that sends slider writes (sim_param_* only) to the HTTP API instead of the transport, and its REST node.
SIMULATION_NODE = "Simulation path"
API_NODE = "POST to Atilax API (simulation)"
API_KEY_HEADER = "X-API-Key"
RULE_CHAIN_NODE = "org.thingsboard.rule.engine.flow.TbRuleChainInputNode"
#: Import order: a chain before the chains that call it.
RULE_CHAIN_FILES: tuple[str, ...] = ("well_optimization.json", "root_rule_chain.json")


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def bundled_rule_chains(directory: Path = RULECHAIN_DIR) -> list[dict[str, Any]]:
    """The chain exports in import order."""
    return [load_json(directory / name) for name in RULE_CHAIN_FILES]


def bundled_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """``{file stem: dashboard JSON}`` of every bundled dashboard."""
    return {p.stem: load_json(p) for p in sorted(directory.glob("*.json"))}


def chain_references(export: Mapping[str, Any]) -> list[str]:
    """Names of the chains that ``export`` calls through rule-chain nodes."""
    return [n["additionalInfo"]["ruleChainName"] for n in export["metadata"]["nodes"]
            if n["type"] == RULE_CHAIN_NODE and "ruleChainName" in (n.get("additionalInfo") or {})]


def link_rule_chains(export: Mapping[str, Any], ids_by_name: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``export`` whose rule-chain nodes point at ``ids_by_name[additionalInfo.ruleChainName]``."""
    out = copy.deepcopy(dict(export))
    for node in out["metadata"]["nodes"]:
        name = (node.get("additionalInfo") or {}).get("ruleChainName")
        if node["type"] == RULE_CHAIN_NODE and name is not None:
            if name not in ids_by_name:
                raise KeyError(f"rule chain {name!r} (called from {out['ruleChain']['name']!r}) is not installed")
            node["configuration"]["ruleChainId"] = ids_by_name[name]
    return out


def select_transport(export: Mapping[str, Any], transport: str) -> dict[str, Any]:
    """A copy of the optimization chain whose "Select transport" switch returns ``transport``
    (``grpc``, ``mqtt``, ``rest`` or ``kafka``)."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {sorted(TRANSPORTS)}, got {transport!r}")
    out = copy.deepcopy(dict(export))
    nodes = [n for n in out["metadata"]["nodes"] if n["name"] == TRANSPORT_NODE]
    if len(nodes) != 1:
        raise ValueError(f"{out['ruleChain']['name']!r} has no unique {TRANSPORT_NODE!r} node")
    script = f"return ['{TRANSPORTS[transport]}'];"
    nodes[0]["configuration"].update(tbelScript=script, jsScript=script)
    return out


def kafka_envelope_script(telemetry_topics: Mapping[str, str], events_topic: str) -> str:
    """The "Envelope for Kafka" script: the MQTT branch's envelope, and in metadata ``atilaxKafkaTopic`` (telemetry:
    the topic of the device profile's lift type; attribute updates, alarm actions and field assets:
    ``events_topic``) and ``atilaxKafkaKey`` (the device or asset id). ``telemetry_topics`` is keyed by lift type
    (``kafka.telemetry_topics``: esp, srp, pcp, gas_lift, natural_flow)."""
    from tb_bridge.wells.model import DEVICE_PROFILE_BY_LIFT_TYPE

    for topic in (*telemetry_topics.values(), events_topic):
        if not _KAFKA_TOPIC.match(topic) or topic in (".", ".."):
            raise ValueError(f"not a Kafka topic name: {topic!r}")
    unknown = set(telemetry_topics) - set(DEVICE_PROFILE_BY_LIFT_TYPE)
    if unknown:
        raise ValueError(f"unknown lift types {sorted(unknown)} in the telemetry topics")
    table = ", ".join(f"'{DEVICE_PROFILE_BY_LIFT_TYPE[lift]}': '{topic}'" for lift, topic in telemetry_topics.items())
    return ("var asset = metadata.atilaxAssetId != null;\n"
            f"var topics = {{{table}}};\n"
            f"var topic = '{events_topic}';\n"
            "if (msgType == 'POST_TELEMETRY_REQUEST' && !asset && topics[metadata.atilaxProfile] != null) {\n"
            "    topic = topics[metadata.atilaxProfile];\n"
            "}\n"
            f"metadata.{KAFKA_TOPIC_KEY} = topic;\n"
            f"metadata.{KAFKA_KEY_KEY} = asset ? metadata.atilaxAssetId : metadata.atilaxEntityId;\n"
            f"var body = {{msgType: msgType, entityId: metadata.{KAFKA_KEY_KEY}, entityType: asset ? 'ASSET' : 'DEVICE', "
            "deviceName: metadata.deviceName, deviceType: metadata.deviceType, ts: metadata.ts, metadata: metadata, "
            "data: msg};\n"
            "return {msg: body, metadata: metadata, msgType: msgType};")


def select_simulation_path(export: Mapping[str, Any], via_api: bool) -> dict[str, Any]:
    """A copy of the optimization chain whose "Simulation path" switch sends slider writes (attribute updates of
    ``sim_param_*`` keys only) to the HTTP API's ``POST /simulation/reactive`` (``via_api``) or, as by default,
    to the selected transport."""
    out = copy.deepcopy(dict(export))
    nodes = [n for n in out["metadata"]["nodes"] if n["name"] == SIMULATION_NODE]
    if len(nodes) != 1:
        raise ValueError(f"{out['ruleChain']['name']!r} has no unique {SIMULATION_NODE!r} node")
    cfg = nodes[0]["configuration"]
    script = cfg["tbelScript"].replace("var api = true;", "var api = false;")
    if via_api:
        script = script.replace("var api = false;", "var api = true;")
    cfg.update(tbelScript=script, jsScript=script)
    return out


def configure_endpoints(export: Mapping[str, Any], *, mqtt_host: str | None = None, mqtt_port: int | None = None,
                        service_url: str | None = None, service_token: str | None = None,
                        api_url: str | None = None, api_key: str | None = None,
                        kafka_bootstrap: str | None = None, kafka_telemetry_topics: Mapping[str, str] | None = None,
                        kafka_events_topic: str | None = None) -> dict[str, Any]:
    """A copy with the MQTT node's broker, the REST node's service base URL (scheme, host and port replaced,
    the path kept) and its ``Authorization: Bearer <service_token>`` header set; the HTTP API node's base URL
    (``api_url``) and ``X-API-Key: <api_key>`` header likewise; the Kafka node's ``bootstrapServers`` and, with
    ``kafka_telemetry_topics`` and ``kafka_events_topic`` (the service's ``kafka.*`` settings), the Kafka
    envelope's topic table (:func:`kafka_envelope_script`)."""
    if (kafka_telemetry_topics is None) != (kafka_events_topic is None):
        raise ValueError("kafka_telemetry_topics and kafka_events_topic go together")
    out = copy.deepcopy(dict(export))
    for node in out["metadata"]["nodes"]:
        cfg = node["configuration"]
        if node["type"] == KAFKA_NODE_TYPE and kafka_bootstrap is not None:
            cfg["bootstrapServers"] = kafka_bootstrap
        if node["name"] == KAFKA_ENVELOPE_NODE and kafka_telemetry_topics is not None:
            script = kafka_envelope_script(kafka_telemetry_topics, kafka_events_topic)
            cfg.update(tbelScript=script, jsScript=script)
        if node["type"].endswith("mqtt.TbMqttNode"):
            if mqtt_host is not None:
                cfg["host"] = mqtt_host
            if mqtt_port is not None:
                cfg["port"] = int(mqtt_port)
        if node["type"].endswith("rest.TbRestApiCallNode") and node["name"] == API_NODE:
            if api_url is not None:
                url = cfg["restEndpointUrlPattern"]
                cfg["restEndpointUrlPattern"] = api_url.rstrip("/") + url[url.index("/", url.index("://") + 3):]
            if api_key is not None:
                cfg["headers"] = {**(cfg.get("headers") or {}), API_KEY_HEADER: api_key}
        elif node["type"].endswith("rest.TbRestApiCallNode"):
            if service_url is not None:
                url = cfg["restEndpointUrlPattern"]
                path = url[url.index("/", url.index("://") + 3):]
                cfg["restEndpointUrlPattern"] = service_url.rstrip("/") + path
            if service_token is not None:
                cfg["headers"] = {**(cfg.get("headers") or {}), AUTH_HEADER: f"Bearer {service_token}"}
    return out


def without_secrets(export: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without the REST nodes' ``Authorization`` and ``X-API-Key`` headers (what ``atilax tb export``
    writes)."""
    secret = {AUTH_HEADER.lower(), API_KEY_HEADER.lower()}
    out = copy.deepcopy(dict(export))
    for node in out["metadata"]["nodes"]:
        if node["type"].endswith("rest.TbRestApiCallNode") and node["configuration"].get("headers"):
            node["configuration"]["headers"] = {k: v for k, v in node["configuration"]["headers"].items()
                                                if k.lower() not in secret}
    return out
