"""The JSON envelope our rule chain publishes to MQTT, and its validation.

ThingsBoard's external MQTT node (``org.thingsboard.rule.engine.mqtt.TbMqttNode``) publishes only the
message body, so the rule chain (rulechains/well_optimization.json, node "Envelope for MQTT") first
wraps the message in::

    {"msgType": "POST_TELEMETRY_REQUEST", "entityId": "<device uuid>", "entityType": "DEVICE", "deviceName": "W-1",
     "deviceType": "ESP", "ts": "1700000000000", "metadata": {...}, "data": {"flow_rate_bpd": 812.5}}

and publishes it to ``atilax/v1/<profile>/<name>``; the REST branch ("Envelope for REST") posts the same envelope
to the service's REST ingress (:mod:`tb_bridge.transport.rest_ingress`). ``ts`` may be a string (metadata values
are strings in ThingsBoard) or a number; ``metadata`` is optional. ``entityType`` ``ASSET`` marks a field
asset's attribute update (placement runs; default ``DEVICE``); ALARM_ACK / ALARM_CLEAR carry the Alarm JSON
as ``data``.
"""
from __future__ import annotations

import uuid
from typing import Any

from tb_bridge.events import EventError, WellEvent
from tb_bridge.transport.tb_messages import event_from_tb_message, is_forwarded_type
from tb_bridge.transport.untrusted_json import loads_untrusted

DEFAULT_TOPIC_FILTER = "atilax/v1/+/+"


def build_envelope(msg_type: str, entity_id: str, metadata: dict[str, str], data: Any,
                   entity_type: str = "DEVICE") -> dict[str, Any]:
    """The envelope the rule chain's transform script builds (used by the stand-in's publish step)."""
    return {"msgType": msg_type, "entityId": entity_id, "entityType": entity_type, "deviceName": metadata.get("deviceName"),
            "deviceType": metadata.get("deviceType"), "ts": metadata.get("ts"), "metadata": dict(metadata),
            "data": data}


def parse_envelope(payload: bytes | str, *, source: str, topic: str | None = None) -> WellEvent | None:
    """The WellEvent of one MQTT payload; None for message types we do not handle; :class:`EventError`
    (dead letter) when the payload does not follow the schema. Never raises anything else."""
    body = loads_untrusted(payload, what="payload")
    if not isinstance(body, dict):
        raise EventError("payload must be a JSON object")
    msg_type = body.get("msgType")
    if not isinstance(msg_type, str) or not msg_type:
        raise EventError("msgType missing")
    if not is_forwarded_type(msg_type):
        return None
    entity_id = body.get("entityId")
    try:
        entity_id = str(uuid.UUID(str(entity_id)))
    except ValueError:
        raise EventError(f"entityId is not a UUID: {entity_id!r}") from None
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise EventError("metadata must be a JSON object")
    meta = {str(k): str(v) for k, v in metadata.items() if v is not None}
    for key in ("deviceName", "deviceType", "ts"):
        if body.get(key) is not None:
            meta[key] = str(body[key])
    if body.get("entityType") == "ASSET":
        meta["entityType"] = "ASSET"
    elif topic and ("deviceName" not in meta or "deviceType" not in meta):
        parts = topic.split("/")
        if len(parts) >= 2:
            meta.setdefault("deviceType", parts[-2])
            meta.setdefault("deviceName", parts[-1])
    if "data" not in body:
        raise EventError("data missing")
    data = body["data"]
    if isinstance(data, str):  # a script may have serialized the body
        data = loads_untrusted(data, what="data (a JSON string)")
    return event_from_tb_message(msg_type, entity_id, meta, data, source=source, depth_checked=True)
