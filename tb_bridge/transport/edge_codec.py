"""Conversions between ThingsBoard Edge-protocol messages and plain Python values.

- Entity ids travel as two signed int64 halves (``entityIdMSB``/``entityIdLSB``), Java's
  ``UUID.getMostSignificantBits()``/``getLeastSignificantBits()``.
- Values travel as ``transport.KeyValueProto`` with a ``KeyValueType``; ThingsBoard's
  ``JsonConverter``/``ProtoUtils`` map JSON booleans -> BOOLEAN_V, integral numbers -> LONG_V, other
  numbers -> DOUBLE_V, strings -> STRING_V, objects/arrays -> JSON_V (JSON text).
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Iterable, Mapping

from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.transport.untrusted_json import loads_untrusted

_INT64 = 1 << 64
_INT63 = 1 << 63
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def uuid_to_bits(value: str) -> tuple[int, int]:
    """``(msb, lsb)`` as signed int64, like ``java.util.UUID``."""
    n = uuid.UUID(value).int
    msb, lsb = n >> 64, n & (_INT64 - 1)
    return (msb - _INT64 if msb >= _INT63 else msb), (lsb - _INT64 if lsb >= _INT63 else lsb)


def bits_to_uuid(msb: int, lsb: int) -> str:
    """The UUID string of two signed int64 halves."""
    return str(uuid.UUID(int=((msb % _INT64) << 64) | (lsb % _INT64)))


def key_value(pb, key: str, value: Any):
    """A ``transport.KeyValueProto`` (``pb`` is the generated queue_pb2 module)."""
    kv = pb.KeyValueProto(key=key)
    if isinstance(value, bool):
        kv.type, kv.bool_v = pb.BOOLEAN_V, value
    elif isinstance(value, int) and _LONG_MIN <= value <= _LONG_MAX:
        kv.type, kv.long_v = pb.LONG_V, value
    elif isinstance(value, (int, float)):
        kv.type, kv.double_v = pb.DOUBLE_V, float(value)
    elif isinstance(value, str):
        kv.type, kv.string_v = pb.STRING_V, value
    elif isinstance(value, (dict, list)):
        kv.type, kv.json_v = pb.JSON_V, json.dumps(value, separators=(",", ":"))
    else:
        raise ValueError(f"cannot encode {key}={value!r} as a ThingsBoard KeyValueProto")
    return kv


def kv_value(pb, kv) -> Any:
    """The Python value of a ``KeyValueProto``."""
    t = kv.type
    if t == pb.BOOLEAN_V:
        return kv.bool_v
    if t == pb.LONG_V:
        return kv.long_v
    if t == pb.DOUBLE_V:
        return kv.double_v
    if t == pb.STRING_V:
        return kv.string_v
    if t == pb.JSON_V:
        return loads_untrusted(kv.json_v, what=f"{kv.key}: JSON_V")
    raise EventError(f"{kv.key}: unknown KeyValueType {t}")


def kv_dict(pb, kvs: Iterable) -> dict[str, Any]:
    return {kv.key: kv_value(pb, kv) for kv in kvs}


def telemetry_entity_data(edge_pb, queue_pb, entity_id: str, points: Iterable[tuple[int, Mapping[str, Any]]],
                          entity_type: str = "DEVICE"):
    """``EntityDataProto`` with ``postTelemetryMsg`` (one ``TsKvListProto`` per timestamp)."""
    msb, lsb = uuid_to_bits(entity_id)
    msg = edge_pb.EntityDataProto(entityIdMSB=msb, entityIdLSB=lsb, entityType=entity_type)
    for ts_ms, values in points:
        entry = msg.postTelemetryMsg.tsKvList.add(ts=int(ts_ms))
        entry.kv.extend(key_value(queue_pb, k, v) for k, v in values.items())
    return msg


def attributes_entity_data(edge_pb, queue_pb, entity_id: str, values: Mapping[str, Any], scope: str,
                           *, updated: bool = False, ts_ms: int | None = None, entity_type: str = "DEVICE"):
    """``EntityDataProto`` with ``postAttributesMsg`` (uplink, or ``attributesUpdatedMsg`` when
    ``updated``) and ``postAttributeScope``."""
    msb, lsb = uuid_to_bits(entity_id)
    msg = edge_pb.EntityDataProto(entityIdMSB=msb, entityIdLSB=lsb, entityType=entity_type, postAttributeScope=scope)
    target = msg.attributesUpdatedMsg if updated else msg.postAttributesMsg
    target.kv.extend(key_value(queue_pb, k, v) for k, v in values.items())
    if ts_ms is not None:
        msg.attributeTs = int(ts_ms)
    return msg


def events_from_entity_data(queue_pb, data, *, now_ms: int, devices: Mapping[str, tuple[str, str]],
                            source: str) -> list[WellEvent]:
    """WellEvents carried by one ``EntityDataProto`` (telemetry: one per timestamp; attribute updates
    and posted attributes: one each). Attribute deletes and entities other than devices and assets give
    none; an asset's attribute update carries metadata ``entityType=ASSET`` (the router's asset hook).
    ``devices`` maps device id -> (name, type) as learnt from DeviceUpdateMsg downlinks."""
    if data.entityType and data.entityType not in ("DEVICE", "ASSET"):
        return []
    entity_id = bits_to_uuid(data.entityIdMSB, data.entityIdLSB)
    if data.entityType == "ASSET":
        name, device_type = None, None
        meta = {"entityType": "ASSET"}
    else:
        name, device_type = devices.get(entity_id, (None, None))
        meta = {k: v for k, v in (("deviceName", name), ("deviceType", device_type)) if v}
    events: list[WellEvent] = []
    if data.HasField("postTelemetryMsg") and data.entityType != "ASSET":
        for entry in data.postTelemetryMsg.tsKvList:
            values = kv_dict(queue_pb, entry.kv)
            if values:
                events.append(WellEvent(EventKind.TELEMETRY, entity_id, int(entry.ts), values, name, device_type,
                                        None, source, {**meta, "ts": str(entry.ts)}))
    ts_ms = data.attributeTs if data.HasField("attributeTs") else now_ms
    for field in ("attributesUpdatedMsg", "postAttributesMsg"):
        if data.HasField(field):
            values = kv_dict(queue_pb, getattr(data, field).kv)
            scope = data.postAttributeScope or None
            if values:
                events.append(WellEvent(EventKind.ATTRIBUTES_UPDATED, entity_id, int(ts_ms), values, name,
                                        device_type, scope, source,
                                        {**meta, "ts": str(ts_ms), **({"scope": scope} if scope else {})}))
    return events


#: ``UpdateMsgType`` names of alarm actions -> the rule-engine message type they stand for.
ALARM_ACTIONS = {"ALARM_ACK_RPC_MESSAGE": "ALARM_ACK", "ALARM_CLEAR_RPC_MESSAGE": "ALARM_CLEAR"}


def alarm_update_msg(edge_pb, msg_type: str, alarm: Mapping[str, Any]):
    """``AlarmUpdateMsg{msgType, idMSB, idLSB, entity}`` with ThingsBoard's Alarm JSON (``alarm["id"]["id"]``
    is the alarm's UUID); ``msg_type`` an ``UpdateMsgType`` name (ENTITY_CREATED_RPC_MESSAGE, ...)."""
    msb, lsb = uuid_to_bits(str(alarm["id"]["id"]))
    return edge_pb.AlarmUpdateMsg(msgType=edge_pb.UpdateMsgType.Value(msg_type), idMSB=msb, idLSB=lsb,
                                  entity=json.dumps(alarm, separators=(",", ":")))


def events_from_alarm_update(edge_pb, update, *, now_ms: int, source: str) -> list[WellEvent]:
    """The WellEvent of an alarm action downlink (ALARM_ACK / ALARM_CLEAR of an alarm on a device); other
    alarm updates (created, updated, deleted) give none. Raises :class:`EventError` when malformed."""
    name = edge_pb.UpdateMsgType.Name(update.msgType) if update.msgType in edge_pb.UpdateMsgType.values() else None
    if name not in ALARM_ACTIONS:
        return []
    alarm = loads_untrusted(update.entity, what="AlarmUpdateMsg entity")
    originator = alarm.get("originator") if isinstance(alarm, dict) else None
    if not isinstance(originator, dict) or not originator.get("id"):
        raise EventError("AlarmUpdateMsg entity without originator")
    if originator.get("entityType", "DEVICE") != "DEVICE":
        return []
    kind = EventKind.ALARM_ACK if name == "ALARM_ACK_RPC_MESSAGE" else EventKind.ALARM_CLEAR
    raw_ts = alarm.get("ackTs" if kind is EventKind.ALARM_ACK else "clearTs") or 0
    if isinstance(raw_ts, bool) or not isinstance(raw_ts, int):
        raise EventError(f"AlarmUpdateMsg ack/clear time is not an integer: {raw_ts!r}")
    ts = raw_ts or int(now_ms)
    return [WellEvent(kind, str(originator["id"]), ts, alarm, None, None, None, source,
                      {"entityType": "DEVICE", "ts": str(ts), "msgType": ALARM_ACTIONS[name]})]
