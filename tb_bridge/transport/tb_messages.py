"""ThingsBoard rule-engine messages -> :class:`~tb_bridge.events.WellEvent`.

Shared by every transport: the in-process pipeline, the MQTT body our rule chain publishes (the message
type and metadata put into the body by a script node), and the Edge protocol after decoding. Message type
names are ThingsBoard's ``TbMsgType`` (common/message/src/main/java/org/thingsboard/server/common/msg/TbMsgType.java).
"""
from __future__ import annotations

from typing import Any, Mapping

from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.transport.untrusted_json import check_depth, loads_untrusted

_KINDS = {
    "POST_TELEMETRY_REQUEST": EventKind.TELEMETRY,
    "ATTRIBUTES_UPDATED": EventKind.ATTRIBUTES_UPDATED,
    "POST_ATTRIBUTES_REQUEST": EventKind.ATTRIBUTES_UPDATED,
    # alarm actions (AlarmController ack/clear -> EntityActionService: originator = the alarm's originator,
    # data = the Alarm JSON, metadata userId/userName of the operator)
    "ALARM_ACK": EventKind.ALARM_ACK,
    "ALARM_CLEAR": EventKind.ALARM_CLEAR,
}


def is_forwarded_type(msg_type: str) -> bool:
    """Whether a message of this type becomes a WellEvent (others are acknowledged and ignored)."""
    return msg_type in _KINDS


def event_from_tb_message(msg_type: str, entity_id: str, metadata: Mapping[str, Any], data: Any,
                          *, source: str, default_ts_ms: int | None = None, depth_checked: bool = False) -> WellEvent:
    """Build the event for one forwarded message.

    ``data`` is the message body (JSON text or an already-decoded object): ``{key: value}`` (for
    ALARM_ACK / ALARM_CLEAR the Alarm JSON); ``depth_checked``: a decoded ``data`` came from
    :func:`~tb_bridge.transport.untrusted_json.loads_untrusted` (its nesting is checked already).
    The timestamp is metadata ``ts`` (ms), else ``default_ts_ms``; POST_ATTRIBUTES_REQUEST (device
    client attributes) gets scope CLIENT_SCOPE. Raises :class:`EventError` when malformed.
    """
    kind = _KINDS.get(msg_type)
    if kind is None:
        raise EventError(f"unsupported message type {msg_type!r}")
    if not entity_id:
        raise EventError("message without originator id")
    if isinstance(data, (str, bytes, bytearray)):
        data = loads_untrusted(data, what="message data")
    elif not depth_checked:  # the caller parsed it with loads_untrusted already
        check_depth(data, what="message data")
    if not isinstance(data, dict):
        raise EventError("message data must be a JSON object of key -> value")
    meta = {str(k): str(v) for k, v in metadata.items() if v is not None}
    raw_ts = meta.get("ts")
    if raw_ts is not None:
        try:
            ts_ms = int(raw_ts)
        except ValueError:
            raise EventError(f"metadata ts is not an integer: {raw_ts!r}") from None
    elif default_ts_ms is not None:
        ts_ms = int(default_ts_ms)
    else:
        raise EventError("message without ts")
    scope = meta.get("scope")
    if msg_type == "POST_ATTRIBUTES_REQUEST":
        scope = "CLIENT_SCOPE"
    return WellEvent(kind=kind, well_id=str(entity_id), ts_ms=ts_ms, values=dict(data),
                     well_name=meta.get("deviceName"), device_type=meta.get("deviceType"),
                     scope=scope, source=source, metadata=meta)
