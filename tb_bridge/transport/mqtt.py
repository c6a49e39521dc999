"""MQTT transport: receives what our rule chain's external MQTT node publishes.

paho-mqtt 2 client, MQTT 5 by default, QoS 1. With ``shared_group`` set, the subscription is the MQTT 5
shared subscription ``$share/<group>/<filter>`` so several service replicas split the messages (the
broker delivers each message to one member of the group). Subscriptions are (re)made in ``on_connect``,
so every reconnect resubscribes; paho reconnects by itself with a delay doubling from
``reconnect_min_s`` to ``reconnect_max_s``. With a stable ``client_id`` the session is persistent
(``clean_start=False``, ``session_expiry_s``): a broker with persistence on keeps the subscription and the
QoS 1 messages while the service is away, and across its own restart (Mosquitto: ``persistence true``, a
``persistence_location`` that survives, a short ``autosave_interval`` and a ``max_queued_messages`` sized
for the longest outage; its default of 1000 drops the rest; Mosquitto 2.0 saves plain subscriptions only,
not shared ones). paho sends the PUBACK after ``on_message`` returned, i.e. after the sink took the event
(buffered or dead-lettered): a service that dies before that gets the message again from its session.
At-least-once; duplicates are harmless downstream.
Payloads that do not follow the envelope schema (:mod:`tb_bridge.transport.mqtt_envelope`) go to the
dead-letter sink with the reason and a log line; they never stop the transport.
"""
from __future__ import annotations

import logging
import socket
import ssl
import threading
import uuid
from typing import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from tb_bridge.events import EventError
from tb_bridge.log_rate import RateLimitedLog
from tb_bridge.transport.base import EventSink, RawDeadLetterSink
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.mqtt_envelope import DEFAULT_TOPIC_FILTER, parse_envelope

log = logging.getLogger(__name__)
#: one line per rejected payload, at most 20 per 10 s: a sender cannot flood the log
_bad_input_log = RateLimitedLog(log)

#: Session expiry of a persistent session when none is given (one day; ``mqtt.session_expiry_s``).
DEFAULT_SESSION_EXPIRY_S = 86_400


class MqttTransport:
    """Subscribes to the rule chain's topics on an MQTT broker and hands WellEvents to the sink.

    ``topic_filters``: e.g. ``("atilax/v1/+/+",)``; ``shared_group``: MQTT 5 shared-subscription group
    (None: every replica gets every message); ``client_id``: give each replica a stable id to get a
    persistent session (``clean_start=False``, ``session_expiry_s`` :data:`DEFAULT_SESSION_EXPIRY_S` unless
    set), without one the id is random and the session ends with the connection (the service passes
    ``MqttSettings.session_client_id()``); ``end_session_on_stop`` (default: when in a
    shared group) ends the session on a clean :meth:`stop`, so the group's other members take over its
    share; ``tls``: an ``ssl.SSLContext`` (None: plaintext).
    """

    name = "mqtt"

    def __init__(self, host: str, port: int = 1883, *, topic_filters: Sequence[str] = (DEFAULT_TOPIC_FILTER,),
                 shared_group: str | None = None, client_id: str | None = None, qos: int = 1,
                 username: str | None = None, password: str | None = None, tls: ssl.SSLContext | None = None,
                 loop_guard: LoopGuard | None = None, keepalive_s: int = 30, clean_start: bool | None = None,
                 session_expiry_s: int | None = None, end_session_on_stop: bool | None = None,
                 reconnect_min_s: float = 0.1, reconnect_max_s: float = 30.0, protocol: int = mqtt.MQTTv5) -> None:
        if qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")
        if shared_group is not None and ("/" in shared_group or "+" in shared_group or "#" in shared_group or not shared_group):
            raise ValueError("shared_group must be a non-empty name without '/', '+', '#'")
        self.host, self.port = host, int(port)
        self.topic_filters = tuple(topic_filters)
        self.shared_group = shared_group
        self.qos = qos
        self.loop_guard = loop_guard
        # A persistent session needs a stable client id; with a random one every restart would leave an
        # orphan session behind (and in a shared group the broker keeps handing it its share of messages).
        persistent = client_id is not None
        self._clean_start = (not persistent) if clean_start is None else clean_start
        self._session_expiry_s = ((DEFAULT_SESSION_EXPIRY_S if persistent else 0) if session_expiry_s is None
                                  else int(session_expiry_s))
        # leaving a shared group on a clean stop hands this replica's share to the others at once
        self._end_session_on_stop = (shared_group is not None) if end_session_on_stop is None else end_session_on_stop
        self._keepalive_s = int(keepalive_s)
        self._protocol = protocol
        self.client_id = client_id or f"atilax-{uuid.uuid4().hex[:12]}"
        # MQTT 3.1.1 has no clean start/session expiry: its clean-session flag is set here instead
        session = {} if protocol == mqtt.MQTTv5 else {"clean_session": self._clean_start}
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol,
                                   reconnect_on_failure=True, **session)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._tls = tls
        if tls is not None:
            self._client.tls_set_context(tls)
        self._client.on_connect_fail = self._on_connect_fail
        self._failing = False
        self.connect_failures = 0  # TCP or TLS failures (paho keeps retrying with its reconnect delay)
        self._client.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._sink: EventSink | None = None
        self._dead_letter: RawDeadLetterSink | None = None
        self._subscribed = threading.Event()
        self._started = False
        self.connects = 0
        self.received = 0
        self.dead_lettered = 0
        self.events_delivered = 0

    def subscriptions(self) -> list[str]:
        """The topic filters actually subscribed (with the ``$share/<group>/`` prefix when shared)."""
        if self.shared_group is None:
            return list(self.topic_filters)
        return [f"$share/{self.shared_group}/{t}" for t in self.topic_filters]

    # --- Transport protocol ---------------------------------------------------------------------------
    def start(self, sink: EventSink, dead_letter: RawDeadLetterSink | None = None) -> None:
        if self._started:
            raise RuntimeError("transport already started")
        self._sink, self._dead_letter = sink, dead_letter
        properties = None
        kwargs = {}
        if self._protocol == mqtt.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self._session_expiry_s
            kwargs = {"clean_start": self._clean_start, "properties": properties}
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive_s, **kwargs)
        self._client.loop_start()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        properties = None
        if self._protocol == mqtt.MQTTv5 and self._end_session_on_stop and self._session_expiry_s > 0:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0  # MQTT 5 §3.14.2.2.2: the broker discards the session now
        self._client.disconnect(properties=properties)
        self._client.loop_stop()

    def wait_subscribed(self, timeout_s: float = 10.0) -> bool:
        """True once the broker acknowledged the subscriptions of the current connection."""
        return self._subscribed.wait(timeout_s)

    # --- paho callbacks ------------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason_code)
            return
        self.connects += 1
        self._failing = False
        self._subscribed.clear()
        client.subscribe([(topic, self.qos) for topic in self.subscriptions()])
        log.info("MQTT connected to %s:%d (session present: %s), subscribing %s", self.host, self.port,
                 getattr(flags, "session_present", None), self.subscriptions())

    def _on_connect_fail(self, client, userdata) -> None:
        self.connect_failures += 1
        if self._failing:  # one warning per outage; the reason is probed once
            return
        self._failing = True
        log.warning("MQTT connection to %s:%d failed%s; retrying", self.host, self.port, self._failure_reason())

    def _failure_reason(self) -> str:
        """Why a connection fails (paho does not say): one TCP connect and, with TLS, one handshake."""
        try:
            with socket.create_connection((self.host, self.port), timeout=5.0) as sock:
                if self._tls is not None:
                    with self._tls.wrap_socket(sock, server_hostname=self.host):
                        pass
        except OSError as exc:
            return f": {exc}"
        return ""

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("MQTT subscription refused: %s", failed)
            return
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._subscribed.clear()
        if self._started:
            log.warning("MQTT disconnected from %s:%d (%s); reconnecting", self.host, self.port, reason_code)

    def _on_message(self, client, userdata, message) -> None:
        """paho's network thread: nothing may escape from here (an exception would end the thread and with it
        every later delivery). Every payload that does not become an event is dead-lettered with its reason."""
        self.received += 1
        try:
            event = parse_envelope(message.payload, source=self.name, topic=message.topic)
        except Exception as exc:  # EventError, or a parser bug: the payload is kept either way
            reason = str(exc) if isinstance(exc, EventError) else f"internal error: {type(exc).__name__}: {exc}"
            self._reject(message, reason)
            return
        if event is None:
            return
        try:
            if self.loop_guard is not None and not self.loop_guard.admit(event):
                return
            if self._sink is not None:
                self.events_delivered += 1
                self._sink(event)
        except Exception:  # the sink must not raise; never let it kill the network loop
            log.exception("event sink failed on %s", message.topic)

    def _reject(self, message, reason: str) -> None:
        self.dead_lettered += 1
        _bad_input_log.warning("mqtt", "MQTT payload on %s dead-lettered: %s", message.topic, reason)
        if self._dead_letter is not None:
            try:
                self._dead_letter(self.name, bytes(message.payload), reason)
            except Exception:
                log.exception("dead-letter sink failed")
