"""The stand-in's two MQTT parts, both on a real broker.

- :class:`MqttPublishStep`: what our rule chain does for the MQTT transport: the transform node wraps
  the message in the envelope (:func:`tb_bridge.transport.mqtt_envelope.build_envelope`) and the
  external MQTT node (``TbMqttNode``: ``topicPattern`` with ``${metadataKey}`` substitution, QoS 1,
  body only, MQTT 3.1.1 and clean session as in rulechains/well_optimization.json) publishes it.
- :class:`MqttGatewayIngress`: ThingsBoard's MQTT *gateway* device API as the device-side ingress
  (topics ``v1/gateway/connect`` ``{"device", "type"}``, ``v1/gateway/telemetry``
  ``{"<device name>": [{"ts", "values"}] | {...}}``, ``v1/gateway/attributes`` ``{"<device name>": {...}}``;
  ThingsBoard docs "Gateway MQTT API"). On a shared broker the gateway API (device named in the payload)
  is the form that identifies devices without ThingsBoard's own MQTT server doing the authentication;
  ``topic_prefix`` keeps parallel test runs apart.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from typing import TYPE_CHECKING, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tb_bridge.standin.json_telemetry import JsonBodyError, attribute_values, telemetry_entries
from tb_bridge.standin.messages import ATTRIBUTES_UPDATED, POST_ATTRIBUTES_REQUEST, POST_TELEMETRY_REQUEST, TbMsg
from tb_bridge.transport.mqtt_envelope import build_envelope

if TYPE_CHECKING:
    from tb_bridge.standin.core import StandIn

log = logging.getLogger(__name__)

_PATTERN = re.compile(r"\$\{([^}]+)\}")
PUBLISHED_TYPES = frozenset({POST_TELEMETRY_REQUEST, ATTRIBUTES_UPDATED, POST_ATTRIBUTES_REQUEST})


def substitute(pattern: str, metadata: dict[str, str]) -> str:
    """``${key}`` -> metadata value (kept verbatim when the key is absent, as TbNodeUtils.processPattern)."""
    return _PATTERN.sub(lambda m: metadata.get(m.group(1), m.group(0)), pattern)


class MqttPublishStep:
    """Publishes pipeline messages of ``types`` to ``topic_pattern`` at QoS 1 (paho queues while the
    broker is away and sends the queue after reconnecting)."""

    def __init__(self, tb: "StandIn", host: str, port: int, *, topic_pattern: str = "atilax/v1/${deviceType}/${deviceName}",
                 client_id: str = "tb-atilax", types: Iterable[str] = PUBLISHED_TYPES) -> None:
        self._tb = tb
        self.topic_pattern = topic_pattern
        self.types = frozenset(types)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv311, clean_session=True)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(1000)
        self._client.reconnect_delay_set(0.1, 2.0)
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()
        self._unsubscribe = tb.subscribe(self._publish)
        self.published = 0

    def _publish(self, msg: TbMsg) -> None:
        if msg.type not in self.types or msg.originator_type != "DEVICE":
            return
        envelope = build_envelope(msg.type, msg.originator_id, dict(msg.metadata), msg.data_json())
        topic = substitute(self.topic_pattern, dict(msg.metadata))
        self._client.publish(topic, json.dumps(envelope, separators=(",", ":")), qos=1)
        self.published += 1

    def stop(self) -> None:
        self._unsubscribe()
        self._client.disconnect()
        self._client.loop_stop()


class MqttGatewayIngress:
    """Device telemetry/attributes from the MQTT gateway API into the stand-in."""

    def __init__(self, tb: "StandIn", host: str, port: int, *, topic_prefix: str = "") -> None:
        self._tb = tb
        self.topics = {f"{topic_prefix}v1/gateway/{name}": name for name in ("connect", "telemetry", "attributes")}
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tb-gateway-api-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv311, clean_session=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self.subscribed.set()
        self._client.reconnect_delay_set(0.1, 2.0)
        self.subscribed = threading.Event()
        self.rejected = 0
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            self.subscribed.clear()
            client.subscribe([(topic, 1) for topic in self.topics])

    def _on_message(self, client, userdata, message) -> None:
        kind = self.topics.get(message.topic)
        try:
            body = json.loads(message.payload)
            if not isinstance(body, dict):
                raise JsonBodyError("gateway payload must be a JSON object")
            if kind == "connect":
                self._device(str(body["device"]), str(body.get("type") or "ESP"))
            elif kind == "telemetry":
                for name, entries in body.items():
                    device = self._device(name, None)
                    self._tb.post_device_telemetry(device.token, entries)
            elif kind == "attributes":
                for name, values in body.items():
                    device = self._device(name, None)
                    self._tb.post_device_attributes(device.token, attribute_values(values))
        except (ValueError, KeyError, JsonBodyError) as exc:
            self.rejected += 1
            log.warning("gateway message on %s rejected: %s", message.topic, exc)

    def _device(self, name: str, profile: str | None):
        device = self._tb.store.device_by_name(name)
        if device is None:
            device_id, _ = self._tb.create_device(name, profile or "ESP")
            device = self._tb.store.device(device_id)
        return device

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
