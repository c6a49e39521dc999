"""A rule chain in ThingsBoard's export format, parsed and checked against the node types we run.

Export format: ``{"ruleChain": {...}, "metadata": {firstNodeIndex, nodes, connections, ruleChainConnections}}``
(application/src/main/data/json/tenant/rule_chains/root_rule_chain.json in thingsboard/thingsboard).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_PKG = "org.thingsboard.rule.engine."

#: Message-type switch relations: TbMsgType's rule-node connection labels
#: (common/data/src/main/java/org/thingsboard/server/common/data/msg/TbMsgType.java); anything else is "Other".
MSG_TYPE_RELATIONS: dict[str, str] = {
    "POST_ATTRIBUTES_REQUEST": "Post attributes",
    "POST_TELEMETRY_REQUEST": "Post telemetry",
    "TO_SERVER_RPC_REQUEST": "RPC Request from Device",
    "ACTIVITY_EVENT": "Activity Event",
    "INACTIVITY_EVENT": "Inactivity Event",
    "CONNECT_EVENT": "Connect Event",
    "DISCONNECT_EVENT": "Disconnect Event",
    "ENTITY_CREATED": "Entity Created",
    "ENTITY_UPDATED": "Entity Updated",
    "ENTITY_DELETED": "Entity Deleted",
    "ENTITY_ASSIGNED": "Entity Assigned",
    "ENTITY_UNASSIGNED": "Entity Unassigned",
    "ATTRIBUTES_UPDATED": "Attributes Updated",
    "ATTRIBUTES_DELETED": "Attributes Deleted",
    "ALARM": "Alarm",
    "ALARM_CREATED": "Alarm Created",
    "ALARM_UPDATED": "Alarm Updated",
    "ALARM_SEVERITY_UPDATED": "Alarm Severity Updated",
    "ALARM_ACK": "Alarm Acknowledged",
    "ALARM_CLEAR": "Alarm Cleared",
    "ALARM_ASSIGNED": "Alarm Assigned",
    "ALARM_UNASSIGNED": "Alarm Unassigned",
    "COMMENT_CREATED": "Comment Created",
    "COMMENT_UPDATED": "Comment Updated",
    "RPC_CALL_FROM_SERVER_TO_DEVICE": "RPC Request to Device",
    "ENTITY_ASSIGNED_FROM_TENANT": "Entity Assigned From Tenant",
    "ENTITY_ASSIGNED_TO_TENANT": "Entity Assigned To Tenant",
    "TIMESERIES_UPDATED": "Timeseries Updated",
    "TIMESERIES_DELETED": "Timeseries Deleted",
    "RPC_QUEUED": "RPC Queued",
    "RPC_SENT": "RPC Sent",
    "RPC_DELIVERED": "RPC Delivered",
    "RPC_SUCCESSFUL": "RPC Successful",
    "RPC_TIMEOUT": "RPC Timeout",
    "RPC_EXPIRED": "RPC Expired",
    "RPC_FAILED": "RPC Failed",
    "RPC_DELETED": "RPC Deleted",
    "RELATION_ADD_OR_UPDATE": "Relation Added or Updated",
    "RELATION_DELETED": "Relation Deleted",
    "RELATIONS_DELETED": "All Relations Deleted",
    "REST_API_REQUEST": "REST API request",
}
OTHER = "Other"

#: Originator-type switch relations: EntityType.getNormalName() (common/data/.../EntityType.java), as
#: TbOriginatorTypeSwitchNode emits them.
ORIGINATOR_TYPE_RELATIONS: dict[str, str] = {
    "DEVICE": "Device", "ASSET": "Asset", "ENTITY_VIEW": "Entity View", "TENANT": "Tenant", "CUSTOMER": "Customer",
    "USER": "User", "DASHBOARD": "Dashboard", "RULE_CHAIN": "Rule chain", "RULE_NODE": "Rule node", "EDGE": "Edge",
}

_SCRIPT_KEYS = frozenset({"scriptLang", "jsScript", "tbelScript"})
_ALARM_KEYS = frozenset({"alarmType", "scriptLang", "alarmDetailsBuildJs", "alarmDetailsBuildTbel"})


@dataclass(frozen=True, slots=True)
class RuleNodeSpec:
    """What the runner knows about one ThingsBoard node class: its configuration keys (from the
    ``*Configuration`` class), the ``@RuleNode(version=...)`` and its relations (``None``: custom)."""

    cls: str
    config_keys: frozenset[str]
    version: int
    relations: frozenset[str] | None


def _spec(short: str, keys: set[str] | frozenset[str], version: int, relations: set[str] | None) -> RuleNodeSpec:
    return RuleNodeSpec(_PKG + short, frozenset(keys), version,
                        None if relations is None else frozenset(relations))


_SF = {"Success", "Failure"}
#: Node classes the runner executes. Sources: rule-engine/rule-engine-components/src/main/java/org/thingsboard/
#: rule/engine/<package>/<Class>.java and <Class>Configuration.java (thingsboard/thingsboard master, 2026).
NODE_SPECS: dict[str, RuleNodeSpec] = {s.cls: s for s in (
    _spec("filter.TbMsgTypeSwitchNode", {"version"}, 0, set(MSG_TYPE_RELATIONS.values()) | {OTHER, "Failure"}),
    _spec("filter.TbDeviceTypeSwitchNode", {"version"}, 0, None),
    _spec("filter.TbAssetTypeSwitchNode", {"version"}, 0, None),
    _spec("filter.TbOriginatorTypeSwitchNode", {"version"}, 0, set(ORIGINATOR_TYPE_RELATIONS.values()) | {"Failure"}),
    _spec("filter.TbJsFilterNode", _SCRIPT_KEYS, 0, {"True", "False", "Failure"}),
    _spec("filter.TbJsSwitchNode", _SCRIPT_KEYS, 0, None),
    _spec("filter.TbCheckMessageNode", {"messageNames", "metadataNames", "checkAllKeys"}, 0, {"True", "False", "Failure"}),
    _spec("transform.TbTransformMsgNode", _SCRIPT_KEYS, 0, _SF),
    _spec("transform.TbDeleteKeysNode", {"deleteFrom", "keys"}, 1, _SF),
    _spec("metadata.TbGetOriginatorFieldsNode", {"dataMapping", "ignoreNullStrings", "fetchTo"}, 1, _SF),
    _spec("telemetry.TbMsgTimeseriesNode", {"defaultTTL", "useServerTs", "processingSettings"}, 1, _SF),
    _spec("telemetry.TbMsgAttributesNode", {"processingSettings", "scope", "notifyDevice",
                                            "sendAttributesUpdatedNotification",
                                            "updateAttributesOnlyOnValueChange"}, 3, _SF),
    _spec("rest.TbRestApiCallNode", {"restEndpointUrlPattern", "requestMethod", "headers", "useSimpleClientHttpFactory",
                                     "readTimeoutMs", "maxParallelRequestsCount", "parseToPlainText", "enableProxy",
                                     "useSystemProxyProperties", "proxyHost", "proxyPort", "proxyUser", "proxyPassword",
                                     "proxyScheme", "credentials", "ignoreRequestBody", "maxInMemoryBufferSizeInKb"}, 4, _SF),
    _spec("mqtt.TbMqttNode", {"topicPattern", "host", "port", "connectTimeoutSec", "clientId", "appendClientIdSuffix",
                              "retainedMessage", "cleanSession", "ssl", "parseToPlainText", "protocolVersion",
                              "credentials"}, 2, _SF),
    # kafka/TbKafkaNodeConfiguration.java; version 1 dropped keySerializer and valueSerializer (TbKafkaNode.upgrade:
    # keys and values are always StringSerializer)
    _spec("kafka.TbKafkaNode", {"topicPattern", "keyPattern", "bootstrapServers", "retries", "batchSize", "linger",
                                "bufferMemory", "acks", "otherProperties", "addMetadataKeyValuesAsKafkaHeaders",
                                "kafkaHeadersCharset"}, 1, _SF),
    _spec("edge.TbMsgPushToEdgeNode", {"scope"}, 0, _SF),
    _spec("flow.TbRuleChainInputNode", {"ruleChainId", "forwardMsgToDefaultRuleChain"}, 1, None),
    _spec("action.TbCreateAlarmNode", _ALARM_KEYS | {"severity", "propagate", "propagateToOwner", "propagateToTenant",
                                                     "useMessageAlarmData", "overwriteAlarmDetails", "dynamicSeverity",
                                                     "relationTypes"}, 0, {"Created", "Updated", "False", "Failure"}),
    _spec("action.TbClearAlarmNode", _ALARM_KEYS, 0, {"Cleared", "False", "Failure"}),
    _spec("action.TbLogNode", _SCRIPT_KEYS, 0, _SF),
)}


class RuleChainError(ValueError):
    """The chain uses a node class, configuration key or connection the runner does not know."""


@dataclass(frozen=True, slots=True)
class RuleNode:
    index: int
    cls: str
    name: str
    configuration: Mapping[str, Any]
    additional_info: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Connection:
    from_index: int
    to_index: int
    type: str


@dataclass(frozen=True)
class RuleChain:
    """A parsed chain: ``name``, ``root`` flag, nodes, connections and the first node's index."""

    name: str
    root: bool
    first_node_index: int
    nodes: tuple[RuleNode, ...]
    connections: tuple[Connection, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def targets(self, index: int, relation: str) -> list[int]:
        """Indices of the nodes connected from ``index`` with ``relation``."""
        return [c.to_index for c in self.connections if c.from_index == index and c.type == relation]

    def node_by_name(self, name: str) -> RuleNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


def load_rule_chain(source: str | Path | Mapping[str, Any]) -> RuleChain:
    """Parse and validate a chain export (a path, JSON text or the decoded object).

    Raises :class:`RuleChainError` for an unknown node class, an unknown or missing configuration key,
    a configuration version other than the node's, a connection to a missing node or with a relation the
    node cannot produce."""
    if isinstance(source, Mapping):
        data = source
    elif isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    else:
        data = json.loads(source)
    try:
        head, meta = data["ruleChain"], data["metadata"]
        raw_nodes, raw_conns = meta["nodes"], meta["connections"] or []
    except (KeyError, TypeError) as exc:
        raise RuleChainError(f"not a rule chain export: missing {exc}") from None
    name = head.get("name") or "(unnamed)"
    nodes: list[RuleNode] = []
    for i, raw in enumerate(raw_nodes):
        where = f"{name}: node {i} ({raw.get('name')!r})"
        spec = NODE_SPECS.get(raw.get("type"))
        if spec is None:
            raise RuleChainError(f"{where}: node type {raw.get('type')!r} is not supported by the runner")
        config = raw.get("configuration")
        if not isinstance(config, Mapping):
            raise RuleChainError(f"{where}: configuration must be an object")
        unknown = set(config) - spec.config_keys
        if unknown:
            raise RuleChainError(f"{where}: unknown configuration keys {sorted(unknown)} for {spec.cls}")
        version = raw.get("configurationVersion", 0)
        if version != spec.version:
            raise RuleChainError(f"{where}: configurationVersion {version}, {spec.cls} is at version {spec.version}")
        if spec.config_keys & _SCRIPT_KEYS == _SCRIPT_KEYS or spec.cls.endswith(("TbCreateAlarmNode", "TbClearAlarmNode")):
            lang = config.get("scriptLang")
            if lang not in ("TBEL", "JS"):
                raise RuleChainError(f"{where}: scriptLang must be TBEL or JS, got {lang!r}")
        nodes.append(RuleNode(i, spec.cls, raw.get("name") or "", dict(config), dict(raw.get("additionalInfo") or {})))
    conns: list[Connection] = []
    for raw in raw_conns:
        a, b, rel = raw.get("fromIndex"), raw.get("toIndex"), raw.get("type")
        if not (isinstance(a, int) and isinstance(b, int) and 0 <= a < len(nodes) and 0 <= b < len(nodes)):
            raise RuleChainError(f"{name}: connection {raw} references a missing node")
        if not isinstance(rel, str) or not rel:
            raise RuleChainError(f"{name}: connection {raw} has no relation type")
        allowed = NODE_SPECS[nodes[a].cls].relations
        if allowed is not None and rel not in allowed:
            raise RuleChainError(f"{name}: node {nodes[a].name!r} cannot emit relation {rel!r} "
                                 f"(allowed: {sorted(allowed)})")
        conns.append(Connection(a, b, rel))
    first = meta.get("firstNodeIndex")
    if not isinstance(first, int) or not 0 <= first < len(nodes):
        raise RuleChainError(f"{name}: firstNodeIndex {first!r} is not a node")
    return RuleChain(name, bool(head.get("root")), first, tuple(nodes), tuple(conns), raw=data)
