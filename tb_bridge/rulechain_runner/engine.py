"""Executes parsed rule chains node by node with ThingsBoard's semantics.

Each node receives one message and emits it (possibly changed) on zero or more relations; the engine
follows every connection with that relation, depth first, as ThingsBoard's rule-node actors do for one
message. An exception inside a node becomes the ``Failure`` relation with the error in metadata
``error`` (TbContext.tellFailure). Unconnected relations end the message's path (ThingsBoard acknowledges
it). The side effects (saving, publishing, alarms, HTTP) go to an :class:`Outputs` object.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol

from tb_bridge.rulechain_runner.chain import (
    MSG_TYPE_RELATIONS,
    ORIGINATOR_TYPE_RELATIONS,
    OTHER,
    RuleChain,
    RuleChainError,
    RuleNode,
)
from tb_bridge.rulechain_runner.kafka_producer import (
    KafkaConfigError,
    KafkaDelivery,
    producer_config,
    record_headers,
)
from tb_bridge.rulechain_runner.patterns import process_pattern
from tb_bridge.rulechain_runner.scripts import ScriptError, TbScript
from tb_bridge.standin.messages import TbMsg


ALARM_SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")
ATTRIBUTE_SCOPES = ("CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE")
#: Message types TbMsgPushToEdgeNode forwards (rule-engine/.../edge/AbstractTbMsgPushNode.java, isSupportedMsgType).
EDGE_MSG_TYPES = frozenset({
    "POST_TELEMETRY_REQUEST", "POST_ATTRIBUTES_REQUEST", "ATTRIBUTES_UPDATED", "ATTRIBUTES_DELETED",
    "TIMESERIES_UPDATED", "ALARM", "ALARM_CREATED", "ALARM_UPDATED", "ALARM_SEVERITY_UPDATED", "ALARM_ACK",
    "ALARM_CLEAR", "CONNECT_EVENT", "DISCONNECT_EVENT", "ACTIVITY_EVENT", "INACTIVITY_EVENT",
    "TO_SERVER_RPC_REQUEST"})


class NodeFailure(RuntimeError):
    """A node's own failure (routed to ``Failure``)."""


class Outputs(Protocol):
    """Side effects of the nodes. Every method may raise; the node then emits ``Failure``."""

    def originator_fields(self, originator_id: str, originator_type: str) -> Mapping[str, Any]:
        """Entity fields (``id``, ``name``, ``type`` = device profile name, ``label``); empty if unknown."""

    def save_timeseries(self, originator_id: str, entries: list[tuple[int, dict[str, Any]]], ttl_s: int) -> None: ...

    def save_attributes(self, originator_id: str, scope: str, values: dict[str, Any]) -> None: ...

    def push_to_edge(self, msg: TbMsg) -> None: ...

    def mqtt_publish(self, host: str, port: int, topic: str, payload: str, retain: bool) -> None: ...

    def kafka_publish(self, config: Mapping[str, Any], topic: str, key: str | None, value: str,
                      headers: list[tuple[str, bytes]]) -> KafkaDelivery:
        """Send one record with the Kafka node's configuration; returns the broker's topic, partition, offset."""

    def rest_call(self, method: str, url: str, headers: Mapping[str, str], body: str | None,
                  timeout_s: float | None) -> tuple[int, str]:
        """Perform the request; returns ``(status_code, body_text)``."""

    def alarm(self, originator_id: str, alarm_type: str) -> dict[str, Any] | None:
        """The active (not cleared) alarm of this type on the originator, or None."""

    def save_alarm(self, originator_id: str, alarm: dict[str, Any]) -> None: ...

    def log(self, text: str) -> None: ...


@dataclass
class RecordingOutputs:
    """Outputs kept in memory (tests, previews): every publish, push, call, save and alarm is recorded.

    ``fields`` maps originator id to its entity fields; ``http`` performs REST calls (default: httpx);
    ``kafka_sender(config, topic, key, value, headers)`` sends the Kafka node's records (default: recorded only,
    answered with partition and offset -1, Kafka's "unknown")."""

    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    http: Callable[[str, str, Mapping[str, str], str | None, float | None], tuple[int, str]] | None = None
    timeseries: list[tuple[str, list[tuple[int, dict[str, Any]]], int]] = field(default_factory=list)
    attributes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    edge: list[TbMsg] = field(default_factory=list)
    mqtt: list[tuple[str, int, str, str, bool]] = field(default_factory=list)
    kafka: list[tuple[str, str | None, str, list[tuple[str, bytes]]]] = field(default_factory=list)
    kafka_sender: Callable[..., KafkaDelivery] | None = None
    rest: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)
    alarms: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def originator_fields(self, originator_id: str, originator_type: str) -> Mapping[str, Any]:
        return self.fields.get(originator_id, {})

    def save_timeseries(self, originator_id, entries, ttl_s) -> None:
        self.timeseries.append((originator_id, entries, ttl_s))

    def save_attributes(self, originator_id, scope, values) -> None:
        self.attributes.append((originator_id, scope, values))

    def push_to_edge(self, msg: TbMsg) -> None:
        self.edge.append(msg)

    def mqtt_publish(self, host, port, topic, payload, retain) -> None:
        self.mqtt.append((host, port, topic, payload, retain))

    def kafka_publish(self, config, topic, key, value, headers) -> KafkaDelivery:
        self.kafka.append((topic, key, value, list(headers)))
        if self.kafka_sender is not None:
            return self.kafka_sender(config, topic, key, value, headers)
        return KafkaDelivery(topic, -1, -1)

    def rest_call(self, method, url, headers, body, timeout_s) -> tuple[int, str]:
        self.rest.append((method, url, dict(headers), body))
        if self.http is not None:
            return self.http(method, url, headers, body, timeout_s)
        import httpx

        response = httpx.request(method, url, headers=dict(headers), content=body, timeout=timeout_s or None)
        return response.status_code, response.text

    def alarm(self, originator_id, alarm_type):
        alarm = self.alarms.get((originator_id, alarm_type))
        return alarm if alarm is not None and not alarm["cleared"] else None

    def save_alarm(self, originator_id, alarm) -> None:
        self.alarms[(originator_id, alarm["type"])] = alarm

    def log(self, text: str) -> None:
        self.logs.append(text)


@dataclass(frozen=True, slots=True)
class Step:
    """One node execution: chain and node names, the relations it emitted, its output message."""

    chain: str
    node: str
    relations: tuple[str, ...]
    msg: TbMsg
    error: str | None = None


def _parse(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


def _with(msg: TbMsg, *, data: Any = None, metadata: Mapping[str, str] | None = None, type: str | None = None) -> TbMsg:
    changes: dict[str, Any] = {}
    if data is not None:
        changes["data"] = data if isinstance(data, str) else json.dumps(data)
    if metadata is not None:
        changes["metadata"] = {str(k): str(v) for k, v in metadata.items() if v is not None}
    if type is not None:
        changes["type"] = type
    return replace(msg, **changes) if changes else msg


class RuleEngine:
    """Runs chains keyed by rule-chain id; ``process(msg)`` starts at the root chain.

    Scripts are compiled once, when the engine is built, so a chain whose script does not compile is
    rejected up front (as ThingsBoard rejects it on save). ``max_steps`` bounds the node executions for
    one message (ThingsBoard's ``maxRuleNodeExecutionsPerMessage``)."""

    def __init__(self, chains: Mapping[str, RuleChain], outputs: Outputs, *, max_steps: int = 1000,
                 clock_ms: Callable[[], int] | None = None) -> None:
        if not chains:
            raise ValueError("no rule chains")
        self.chains = dict(chains)
        roots = [cid for cid, chain in self.chains.items() if chain.root]
        if len(roots) > 1:
            raise RuleChainError(f"more than one root chain: {roots}")
        self.root_id = roots[0] if roots else None
        self.outputs = outputs
        self.max_steps = int(max_steps)
        self._clock = clock_ms
        self._scripts: dict[tuple[str, int, str], TbScript] = {}
        for cid, chain in self.chains.items():
            for node in chain.nodes:
                self._prepare(cid, chain, node)

    # --- setup -----------------------------------------------------------------------------------
    def _prepare(self, cid: str, chain: RuleChain, node: RuleNode) -> None:
        c = node.configuration
        short = node.cls.rsplit(".", 1)[1]
        where = f"{chain.name}: {node.name!r}"
        lang = c.get("scriptLang")
        script_field = None
        if short in ("TbJsFilterNode", "TbJsSwitchNode", "TbTransformMsgNode", "TbLogNode"):
            script_field = "tbelScript" if lang == "TBEL" else "jsScript"
        elif short in ("TbCreateAlarmNode", "TbClearAlarmNode"):
            script_field = "alarmDetailsBuildTbel" if lang == "TBEL" else "alarmDetailsBuildJs"
        if script_field is not None:
            try:
                self._scripts[(cid, node.index, "main")] = TbScript(c.get(script_field) or "")
            except ScriptError as exc:
                raise RuleChainError(f"{where}: {script_field}: {exc}") from None
        if short in ("TbMsgTimeseriesNode", "TbMsgAttributesNode"):
            settings = c.get("processingSettings") or {}
            if settings.get("type") != "ON_EVERY_MESSAGE":
                raise RuleChainError(f"{where}: processingSettings {settings!r} not supported (ON_EVERY_MESSAGE only)")
        if short == "TbMsgAttributesNode" and c.get("scope") not in ATTRIBUTE_SCOPES:
            raise RuleChainError(f"{where}: invalid scope {c.get('scope')!r}")
        if short == "TbRuleChainInputNode" and c.get("ruleChainId") not in self.chains:
            raise RuleChainError(f"{where}: ruleChainId {c.get('ruleChainId')!r} is not a loaded chain")
        if short == "TbDeleteKeysNode":
            if c.get("deleteFrom") not in ("DATA", "METADATA"):
                raise RuleChainError(f"{where}: deleteFrom must be DATA or METADATA")
            for key in c.get("keys") or []:
                try:
                    re.compile(key)
                except re.error as exc:
                    raise RuleChainError(f"{where}: key pattern {key!r}: {exc}") from None
        if short == "TbGetOriginatorFieldsNode" and c.get("fetchTo") not in ("METADATA", "DATA"):
            raise RuleChainError(f"{where}: fetchTo must be METADATA or DATA")
        anonymous = (c.get("credentials") or {"type": "anonymous"}).get("type") == "anonymous"
        if short == "TbRestApiCallNode" and (c.get("enableProxy") or c.get("useSystemProxyProperties") or not anonymous):
            raise RuleChainError(f"{where}: proxies and credentials are not supported")
        if short == "TbMqttNode" and (c.get("ssl") or not anonymous):
            raise RuleChainError(f"{where}: TLS and credentials are not supported")
        if short == "TbKafkaNode":
            try:
                producer_config(c)
                "".encode(c.get("kafkaHeadersCharset") or "utf-8")
            except (KafkaConfigError, LookupError) as exc:
                raise RuleChainError(f"{where}: {exc}") from None
            if not c.get("topicPattern"):
                raise RuleChainError(f"{where}: topicPattern is empty")
        if short == "TbCreateAlarmNode" and (c.get("useMessageAlarmData") or c.get("propagate") or c.get("propagateToOwner")
                                             or c.get("propagateToTenant") or c.get("relationTypes")):
            raise RuleChainError(f"{where}: message alarm data and alarm propagation are not supported")
        if short == "TbCreateAlarmNode" and not c.get("dynamicSeverity") and c.get("severity") not in ALARM_SEVERITIES:
            raise RuleChainError(f"{where}: invalid severity {c.get('severity')!r}")

    # --- execution -------------------------------------------------------------------------------
    def process(self, msg: TbMsg, chain_id: str | None = None) -> list[Step]:
        """Run ``msg`` through ``chain_id`` (default: the root chain); returns the executed steps in order."""
        cid = chain_id or self.root_id
        if cid is None or cid not in self.chains:
            raise RuleChainError(f"no chain {cid!r} to process the message")
        trace: list[Step] = []
        self._run_chain(cid, msg, trace)
        return trace

    def _run_chain(self, cid: str, msg: TbMsg, trace: list[Step]) -> None:
        chain = self.chains[cid]
        stack = [(chain.first_node_index, msg)]
        while stack:
            index, current = stack.pop()
            if len(trace) >= self.max_steps:
                raise RuleChainError(f"message {msg.id} exceeded {self.max_steps} node executions (a loop?)")
            node = chain.nodes[index]
            if node.cls.endswith(".TbRuleChainInputNode"):
                # ThingsBoard forwards the message to the target chain's first node; our chains have no
                # output nodes, so nothing returns to this chain.
                trace.append(Step(chain.name, node.name, (), current))
                self._run_chain(node.configuration["ruleChainId"], current, trace)
                continue
            try:
                emitted = self._execute(cid, node, current, trace)
                error = None
            except Exception as exc:  # a node failure is a relation, as in ThingsBoard
                error = f"{type(exc).__name__}: {exc}"
                emitted = [("Failure", _with(current, metadata={**current.metadata, "error": error}))]
            trace.append(Step(chain.name, node.name, tuple(r for r, _ in emitted),
                              emitted[0][1] if emitted else current, error))
            pending = []
            for relation, out in emitted:
                pending += [(target, out) for target in chain.targets(index, relation)]
            stack.extend(reversed(pending))  # depth first, in connection order

    def _script(self, cid: str, node: RuleNode) -> TbScript:
        return self._scripts[(cid, node.index, "main")]

    def _execute(self, cid: str, node: RuleNode, msg: TbMsg, trace: list[Step]) -> list[tuple[str, TbMsg]]:
        c = node.configuration
        short = node.cls.rsplit(".", 1)[1]
        data = _parse(msg.data)
        if short == "TbMsgTypeSwitchNode":
            return [(MSG_TYPE_RELATIONS.get(msg.type, OTHER), msg)]
        if short == "TbDeviceTypeSwitchNode":
            if msg.originator_type != "DEVICE":
                raise NodeFailure(f"Unsupported originator type: {msg.originator_type}")
            profile = self.outputs.originator_fields(msg.originator_id, msg.originator_type).get("type")
            if not profile:
                raise NodeFailure(f"Device profile of {msg.originator_id} is not found")
            return [(str(profile), msg)]
        if short == "TbAssetTypeSwitchNode":  # TbAbstractTypeSwitchNode: relation = the asset profile name
            if msg.originator_type != "ASSET":
                raise NodeFailure(f"Unsupported originator type: {msg.originator_type}")
            profile = self.outputs.originator_fields(msg.originator_id, msg.originator_type).get("type")
            if not profile:
                raise NodeFailure(f"Asset profile of {msg.originator_id} is not found")
            return [(str(profile), msg)]
        if short == "TbOriginatorTypeSwitchNode":
            relation = ORIGINATOR_TYPE_RELATIONS.get(msg.originator_type)
            if relation is None:
                raise NodeFailure(f"Unsupported originator type: {msg.originator_type}")
            return [(relation, msg)]
        if short == "TbDeleteKeysNode":
            # a key is deleted when one of the patterns matches it whole (java.util.regex Matcher.matches())
            patterns = [re.compile(k) for k in c.get("keys") or []]
            gone = lambda key: any(p.fullmatch(key) for p in patterns)  # noqa: E731
            if c.get("deleteFrom") == "METADATA":
                return [("Success", _with(msg, metadata={k: v for k, v in msg.metadata.items() if not gone(k)}))]
            if isinstance(data, dict):
                return [("Success", _with(msg, data={k: v for k, v in data.items() if not gone(k)}))]
            return [("Success", msg)]
        if short == "TbJsFilterNode":
            result = self._script(cid, node).call(data, msg.metadata, msg.type)
            if not isinstance(result, bool):
                raise ScriptError(f"filter script returned {type(result).__name__}, expected boolean")
            return [("True" if result else "False", msg)]
        if short == "TbJsSwitchNode":
            result = self._script(cid, node).call(data, msg.metadata, msg.type)
            relations = [result] if isinstance(result, str) else result
            if not isinstance(relations, list) or not all(isinstance(r, str) for r in relations):
                raise ScriptError(f"switch script must return a relation name or a list of them, got {result!r}")
            return [(r, msg) for r in relations]
        if short == "TbCheckMessageNode":
            names = [(n, isinstance(data, Mapping) and n in data) for n in c.get("messageNames") or []]
            names += [(n, n in msg.metadata) for n in c.get("metadataNames") or []]
            if not names:
                raise NodeFailure("no message or metadata names to check")
            found = [ok for _n, ok in names]
            ok = all(found) if c.get("checkAllKeys") else any(found)
            return [("True" if ok else "False", msg)]
        if short == "TbTransformMsgNode":
            result = self._script(cid, node).call(data, msg.metadata, msg.type)
            results = result if isinstance(result, list) else [result]
            out = []
            for r in results:
                if not isinstance(r, dict) or "msg" not in r:
                    raise ScriptError("transform script must return {msg, metadata, msgType}")
                out.append(("Success", _with(msg, data=r["msg"], metadata=r.get("metadata") or msg.metadata,
                                             type=r.get("msgType") or msg.type)))
            return out
        if short == "TbGetOriginatorFieldsNode":
            fields = self.outputs.originator_fields(msg.originator_id, msg.originator_type)
            found = {}
            for source, target in (c.get("dataMapping") or {}).items():
                value = fields.get(source)
                if value is None and c.get("ignoreNullStrings"):
                    continue
                found[process_pattern(target, msg.metadata, data)] = "null" if value is None else str(value)
            if c.get("fetchTo") == "DATA":
                if not isinstance(data, dict):
                    raise NodeFailure("Message body is not an object, cannot add fields to data")
                return [("Success", _with(msg, data={**data, **found}))]
            return [("Success", _with(msg, metadata={**msg.metadata, **found}))]
        if short == "TbMsgTimeseriesNode":
            if msg.type != "POST_TELEMETRY_REQUEST":
                raise NodeFailure(f"Unsupported msg type: {msg.type}")
            from tb_bridge.standin.json_telemetry import telemetry_entries

            if c.get("useServerTs") and self._clock is not None:
                ts = self._clock()
            else:
                ts = int(msg.metadata.get("ts") or msg.ts_ms)
            ttl = int(msg.metadata.get("TTL") or c.get("defaultTTL") or 0)
            self.outputs.save_timeseries(msg.originator_id, telemetry_entries(data, ts), ttl)
            return [("Success", msg)]
        if short == "TbMsgAttributesNode":
            if msg.type != "POST_ATTRIBUTES_REQUEST":
                raise NodeFailure(f"Unsupported msg type: {msg.type}")
            if not isinstance(data, dict):
                raise NodeFailure("attributes message body must be an object")
            scope = msg.metadata.get("scope") if msg.metadata.get("scope") in ATTRIBUTE_SCOPES else c["scope"]
            self.outputs.save_attributes(msg.originator_id, scope, dict(data))
            return [("Success", msg)]
        if short == "TbRestApiCallNode":
            url = process_pattern(c["restEndpointUrlPattern"], msg.metadata, data)
            headers = {k: process_pattern(v, msg.metadata, data) for k, v in (c.get("headers") or {}).items()}
            body = None if c.get("ignoreRequestBody") else msg.data
            timeout = (c.get("readTimeoutMs") or 0) / 1000.0 or None
            status, text = self.outputs.rest_call(c.get("requestMethod") or "POST", url, headers, body, timeout)
            meta = {**msg.metadata, "status": "OK" if 200 <= status < 300 else "ERROR", "statusCode": str(status)}
            if not 200 <= status < 300:
                meta.update(error=f"{status}", error_body=text)
                return [("Failure", _with(msg, metadata=meta))]
            return [("Success", _with(msg, data=text if text else "{}", metadata=meta))]
        if short == "TbMqttNode":
            topic = process_pattern(c["topicPattern"], msg.metadata, data)
            self.outputs.mqtt_publish(c.get("host") or "", int(c.get("port") or 1883), topic, msg.data,
                                      bool(c.get("retainedMessage")))
            return [("Success", msg)]
        if short == "TbKafkaNode":
            # TbKafkaNode.onMsg: topic and key (none when keyPattern is empty) by TbNodeUtils.processPattern, the body
            # as the value; success adds the record's offset, partition and topic to the metadata
            topic = process_pattern(c["topicPattern"], msg.metadata, data)
            key = process_pattern(c["keyPattern"], msg.metadata, data) if c.get("keyPattern") else None
            headers = (record_headers(msg.metadata, c.get("kafkaHeadersCharset"))
                       if c.get("addMetadataKeyValuesAsKafkaHeaders") else [])
            sent = self.outputs.kafka_publish(c, topic, key, msg.data, headers)  # raising: Failure with "error"
            return [("Success", _with(msg, metadata={**msg.metadata, "offset": str(sent.offset),
                                                     "partition": str(sent.partition), "topic": sent.topic}))]
        if short == "TbMsgPushToEdgeNode":
            if msg.type not in EDGE_MSG_TYPES:
                raise NodeFailure(f"Unsupported msg type {msg.type}")
            self.outputs.push_to_edge(msg)
            return [("Success", msg)]
        if short in ("TbCreateAlarmNode", "TbClearAlarmNode"):
            return self._alarm(cid, node, msg, data, create=short == "TbCreateAlarmNode")
        if short == "TbLogNode":
            text = self._script(cid, node).call(data, msg.metadata, msg.type)
            self.outputs.log(str(text))
            return [("Success", msg)]
        raise RuleChainError(f"node class {node.cls} has no implementation")  # unreachable: load_rule_chain checks

    def _alarm(self, cid: str, node: RuleNode, msg: TbMsg, data: Any, *, create: bool) -> list[tuple[str, TbMsg]]:
        c = node.configuration
        alarm_type = process_pattern(c["alarmType"], msg.metadata, data)
        existing = self.outputs.alarm(msg.originator_id, alarm_type)
        meta = dict(msg.metadata)
        if existing is not None:
            meta["prevAlarmDetails"] = json.dumps(existing.get("details") or {})
        details = self._script(cid, node).call(data, meta, msg.type)
        now = self._clock() if self._clock is not None else int(msg.metadata.get("ts") or msg.ts_ms)
        if not create:
            if existing is None:
                return [("False", msg)]
            cleared = {**existing, "cleared": True, "status": "CLEARED_UNACK", "clear_ts": now, "details": details}
            self.outputs.save_alarm(msg.originator_id, cleared)
            return [("Cleared", _with(msg, data=cleared, metadata={**msg.metadata, "isClearedAlarm": "true"}))]
        severity = c["severity"]
        if c.get("dynamicSeverity"):
            severity = process_pattern(severity, msg.metadata, data)
        if severity not in ALARM_SEVERITIES:
            raise NodeFailure(f"Used incorrect pattern or Alarm Severity not included in message: {severity}")
        if existing is None:
            alarm = {"type": alarm_type, "severity": severity, "originator": msg.originator_id, "start_ts": now,
                     "cleared": False, "status": "ACTIVE_UNACK", "details": details}
            relation, flag = "Created", "isNewAlarm"
        else:
            alarm = {**existing, "severity": severity, "details": details, "end_ts": now}
            relation, flag = "Updated", "isExistingAlarm"
        self.outputs.save_alarm(msg.originator_id, alarm)
        return [(relation, _with(msg, data=alarm, metadata={**msg.metadata, flag: "true"}))]
