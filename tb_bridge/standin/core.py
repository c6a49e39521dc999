"""The ThingsBoard stand-in: one tenant, devices, attributes, time series, a message pipeline and the
servers (REST, Edge gRPC, MQTT device API) that expose them with ThingsBoard's wire protocols."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from tb_bridge.standin.auth import Authenticator, User
from tb_bridge.standin.json_telemetry import attribute_values, parse_json_body, telemetry_entries
from tb_bridge.standin.messages import (
    ALARM_ACK,
    ALARM_CLEAR,
    ATTRIBUTES_DELETED,
    ATTRIBUTES_UPDATED,
    POST_ATTRIBUTES_REQUEST,
    POST_TELEMETRY_REQUEST,
    TIMESERIES_DELETED,
    TIMESERIES_UPDATED,
    TbMsg,
)
from tb_bridge.standin.pipeline import MessagePipeline
from tb_bridge.standin.store import Alarm, Asset, Device, EntityStore

TENANT_ADMIN_EMAIL = "tenant@thingsboard.org"
TENANT_ADMIN_PASSWORD = "tenant"


class DeviceAuthError(PermissionError):
    """Unknown device access token (HTTP 401 on the device API)."""


@dataclass(frozen=True, slots=True)
class HttpFault:
    """An injected REST fault: answer ``status`` (or pass through when None) after ``delay_s`` seconds,
    for requests whose path starts with ``path_prefix``."""

    status: int | None = 500
    delay_s: float = 0.0
    path_prefix: str = "/api/"


def _now_ms() -> int:
    return int(time.time() * 1000)


class StandIn:
    """An in-process ThingsBoard for tests and the demo.

    >>> tb = StandIn()
    >>> device_id, token = tb.create_device("W-1", "ESP")
    >>> tb.post_device_telemetry(token, {"ts": 1700000000000, "values": {"flow_rate_bpd": 812.5}})
    >>> tb.get_timeseries(device_id, ["flow_rate_bpd"], 0, 2**62)
    {'flow_rate_bpd': [(1700000000000, 812.5)]}

    ``start_http`` serves ThingsBoard's REST subset; ``start_edge`` (see :mod:`tb_bridge.standin.edge_server`)
    the Edge gRPC service; ``start_mqtt_device_api`` the MQTT device API on a real broker.
    """

    def __init__(self, *, access_ttl_s: float = 9000.0, refresh_ttl_s: float = 604800.0,
                 clock_ms: Callable[[], int] = _now_ms) -> None:
        self.tenant_id = str(uuid.uuid4())
        self.store = EntityStore()
        self.pipeline = MessagePipeline()
        self.auth = Authenticator(self.tenant_id, access_ttl_s, refresh_ttl_s)
        self.tenant_admin: User = self.auth.add_user(TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD, "TENANT_ADMIN",
                                                     first_name="Tenant", last_name="Admin")
        self.clock_ms = clock_ms
        self.http_fault: HttpFault | None = None
        self._http = None
        self._edge_hub = None
        self._edge_server = None
        self._servers: list[Any] = []
        self._lock = threading.Lock()

    def create_user(self, email: str, password: str, authority: str = "TENANT_ADMIN", *,
                    additional_info: dict[str, Any] | None = None) -> User:
        """Add an activated user of this tenant (e.g. the service's own account, marked in ``additional_info`` as
        `atilax tb setup` marks it); returns it (``.id`` is its userId)."""
        return self.auth.add_user(email, password, authority, additional_info=additional_info)

    # --- devices --------------------------------------------------------------------------------
    def create_device(self, name: str, profile: str, token: str | None = None) -> tuple[str, str]:
        """Create a device with device profile ``profile`` (ESP, SRP, PCP, GasLift); ``(device_id, token)``."""
        device = self.store.create_device(name, profile, token)
        hub = self._edge_hub
        if hub is not None and hub.auto_assign_edge_id is not None:
            hub.assign(device.id, hub.auto_assign_edge_id)
        return device.id, device.token

    def device(self, device_id: str) -> Device:
        return self.store.device(device_id)

    # --- assets ---------------------------------------------------------------------------------
    def create_asset(self, name: str, asset_type: str = "default") -> str:
        """Create an asset (e.g. a field); returns its id. Attribute saves on it emit ATTRIBUTES_UPDATED
        with originator type ``ASSET`` (metadata ``assetName``, ``assetType``)."""
        return self.store.create_asset(name, asset_type).id

    # --- alarm actions of a user (AlarmController ack / clear) -------------------------------------
    def ack_alarm(self, alarm_id: str, user: User | None = None) -> Alarm:
        """Acknowledge an alarm as ``user`` (the tenant administrator when None) and emit ALARM_ACK: originator
        = the alarm's originator, data = the Alarm JSON, metadata = the user (DefaultTbAlarmService.ack ->
        EntityActionService.pushEntityActionToRuleEngine)."""
        alarm = self.store.ack_alarm(alarm_id, self.clock_ms())
        self._emit_alarm_action(ALARM_ACK, alarm, user)
        return alarm

    def clear_alarm(self, alarm_id: str, user: User | None = None) -> Alarm:
        """Clear an alarm as ``user`` and emit ALARM_CLEAR (as :meth:`ack_alarm`); an alarm already cleared
        is returned unchanged and nothing is emitted (ThingsBoard's clear of a cleared alarm is a no-op)."""
        current = self.store.alarm(alarm_id)
        if current.status.startswith("CLEARED"):
            return current
        alarm = self.store.clear_alarm(alarm_id, self.clock_ms())
        self._emit_alarm_action(ALARM_CLEAR, alarm, user)
        return alarm

    def _emit_alarm_action(self, msg_type: str, alarm: Alarm, user: User | None) -> None:
        user = user or self.tenant_admin
        now = self.clock_ms()
        device = self.store.device(alarm.originator_id)
        metadata = self._device_metadata(device, userId=user.id, userName=user.email, userFirstName=user.first_name,
                                         userLastName=user.last_name, entityName=alarm.type, entityType="DEVICE",
                                         ts=str(now))
        self.pipeline.publish(TbMsg(msg_type, alarm.originator_id, metadata, json.dumps(alarm.to_json()), ts_ms=now))

    # --- device API ingress (POST /api/v1/{token}/telemetry and /attributes) ----------------------
    def post_device_telemetry(self, token: str, payload: Any) -> int:
        """Device telemetry ingress: store the points and emit one POST_TELEMETRY_REQUEST per timestamp
        (as DefaultTransportService does for each TsKvListProto). ``payload`` is a JSON-compatible object,
        or JSON text/bytes. Returns the number of messages emitted."""
        device = self._device_for_token(token)
        body = parse_json_body(payload) if isinstance(payload, (str, bytes, bytearray)) else payload
        entries = telemetry_entries(body, self.clock_ms())
        self.store.save_timeseries(device.id, entries)
        for ts_ms, values in entries:
            self.pipeline.publish(TbMsg(POST_TELEMETRY_REQUEST, device.id,
                                        self._device_metadata(device, ts=str(ts_ms)),
                                        json.dumps(values), ts_ms=ts_ms))
        return len(entries)

    def post_device_attributes(self, token: str, payload: Any) -> None:
        """Device client-attribute ingress: store in CLIENT_SCOPE, emit POST_ATTRIBUTES_REQUEST."""
        device = self._device_for_token(token)
        body = parse_json_body(payload) if isinstance(payload, (str, bytes, bytearray)) else payload
        values = attribute_values(body)
        now = self.clock_ms()
        self.store.save_attributes(device.id, "CLIENT_SCOPE", values, now)
        self.pipeline.publish(TbMsg(POST_ATTRIBUTES_REQUEST, device.id,
                                    self._device_metadata(device, ts=str(now)), json.dumps(values), ts_ms=now))

    # --- server-side API (what TelemetryController does) ----------------------------------------
    def save_attributes(self, device_id: str, scope: str, mapping: Mapping[str, Any], user: User | None = None) -> None:
        """Save attributes and emit ATTRIBUTES_UPDATED with the saving user in the metadata (the tenant
        administrator when ``user`` is None, as if saved from the UI)."""
        values = attribute_values(dict(mapping))
        now = self.clock_ms()
        self.store.save_attributes(device_id, scope, values, now)
        self._emit_user_action(ATTRIBUTES_UPDATED, device_id, user, json.dumps(values), now, scope=scope)

    def delete_attributes(self, device_id: str, scope: str, keys: Iterable[str], user: User | None = None) -> list[str]:
        deleted = self.store.delete_attributes(device_id, scope, list(keys))
        now = self.clock_ms()
        self._emit_user_action(ATTRIBUTES_DELETED, device_id, user, json.dumps({"attributes": deleted}), now,
                               scope=scope)
        return deleted

    def save_timeseries(self, device_id: str, entries: Iterable[tuple[int, Mapping[str, Any]]],
                        user: User | None = None) -> int:
        """Save points (timestamps may be in the future) and emit TIMESERIES_UPDATED."""
        entries = [(int(ts), dict(values)) for ts, values in entries]
        count = self.store.save_timeseries(device_id, entries)
        now = self.clock_ms()
        body = {"timeseries": [{"ts": ts, "values": values} for ts, values in entries]}
        self._emit_user_action(TIMESERIES_UPDATED, device_id, user, json.dumps(body), now)
        return count

    def delete_timeseries(self, device_id: str, keys: Iterable[str], start_ms: int, end_ms: int, *,
                          delete_latest: bool = True, rewrite_latest: bool = True, user: User | None = None) -> int:
        keys = list(keys)
        removed = self.store.delete_timeseries(device_id, keys, start_ms, end_ms, delete_latest, rewrite_latest)
        body = {"timeseries": keys, "startTs": start_ms, "endTs": end_ms}
        self._emit_user_action(TIMESERIES_DELETED, device_id, user, json.dumps(body), self.clock_ms())
        return removed

    def get_attributes(self, device_id: str, scope: str) -> dict[str, Any]:
        """``{key: value}`` of one scope."""
        return {k: v for k, (v, _ts) in self.store.get_attributes(device_id, scope).items()}

    def get_timeseries(self, device_id: str, keys: Iterable[str], start_ts: int, end_ts: int) -> dict[str, list[tuple[int, Any]]]:
        """``{key: [(ts_ms, value), ...]}`` ascending, for ``start_ts <= ts < end_ts``."""
        return self.store.get_timeseries(device_id, keys, start_ts, end_ts)

    # --- pipeline --------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[TbMsg], None]) -> Callable[[], None]:
        """Receive every pipeline message (in order, on the pipeline thread); returns an unsubscribe function."""
        return self.pipeline.subscribe(callback)

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Block until the pipeline has dispatched everything published so far and every edge with a live
        session acknowledged what was pushed to it (so its transport's sink has run)."""
        deadline = time.monotonic() + timeout_s
        if not self.pipeline.wait_idle(timeout_s):
            return False
        hub = self._edge_hub
        return hub is None or hub.wait_acknowledged(max(0.0, deadline - time.monotonic()))

    # --- edges (Edge gRPC protocol) --------------------------------------------------------------
    @property
    def edges(self):
        """The :class:`~tb_bridge.standin.edge_server.EdgeHub` (created on first use)."""
        with self._lock:
            if self._edge_hub is None:
                from tb_bridge.standin.edge_server import EdgeHub

                self._edge_hub = EdgeHub(self)
            return self._edge_hub

    def create_edge(self, name: str, routing_key: str | None = None, secret: str | None = None):
        """Create an edge entity (random routing key and secret unless given); returns it."""
        return self.edges.create_edge(name, routing_key, secret)

    def assign_device_to_edge(self, device_id: str, edge_id: str) -> None:
        """Assign a device to an edge: its telemetry and attribute updates are pushed to that edge."""
        self.edges.assign(device_id, edge_id)

    def assign_asset_to_edge(self, asset_id: str, edge_id: str) -> None:
        """Assign an asset (a field) to an edge: its attribute updates are pushed to that edge."""
        self.edges.assign_asset(asset_id, edge_id)

    def start_edge_server(self, host: str = "127.0.0.1", port: int = 0, *, server_credentials=None,
                          pack_size: int = 100, ack_timeout_s: float = 10.0) -> int:
        """Serve ``edge.EdgeRpcService`` (gRPC); returns the port. ``server_credentials``: a
        ``grpc.ssl_server_credentials(...)`` for TLS, None for plaintext."""
        from tb_bridge.standin.edge_server import EdgeRpcServer

        self.stop_edge_server()
        server = EdgeRpcServer(self.edges, pack_size=pack_size, ack_timeout_s=ack_timeout_s)
        bound = server.start(host, port, server_credentials=server_credentials)
        with self._lock:
            self._edge_server = server
        self.edges.server = server
        return bound

    def stop_edge_server(self) -> None:
        with self._lock:
            server, self._edge_server = self._edge_server, None
        if server is not None:
            if self._edge_hub is not None:
                self._edge_hub.server = None
            server.stop()

    @property
    def edge_server(self):
        return self._edge_server

    # --- MQTT (real broker) ----------------------------------------------------------------------
    def start_mqtt_publisher(self, host: str, port: int, *, topic_pattern: str = "atilax/v1/${deviceType}/${deviceName}",
                             client_id: str = "tb-atilax"):
        """Publish telemetry/attribute updates to the broker like our rule chain's MQTT node; returns the step."""
        from tb_bridge.standin.mqtt_bridge import MqttPublishStep

        step = MqttPublishStep(self, host, port, topic_pattern=topic_pattern, client_id=client_id)
        self.add_server(step)
        return step

    def start_mqtt_device_api(self, host: str, port: int, *, topic_prefix: str = ""):
        """Accept device telemetry through the MQTT gateway API on the broker; returns the ingress."""
        from tb_bridge.standin.mqtt_bridge import MqttGatewayIngress

        ingress = MqttGatewayIngress(self, host, port, topic_prefix=topic_prefix)
        self.add_server(ingress)
        return ingress

    # --- faults (outage tests) -------------------------------------------------------------------
    def set_http_fault(self, status: int | None = 500, delay_s: float = 0.0, path_prefix: str = "/api/") -> None:
        """Make the REST server answer ``status`` (after ``delay_s``) for paths under ``path_prefix``
        (login included when the prefix covers it); ``status=None`` with a delay simulates timeouts."""
        self.http_fault = HttpFault(status, float(delay_s), path_prefix)

    def clear_http_fault(self) -> None:
        self.http_fault = None

    # --- servers ---------------------------------------------------------------------------------
    def start_http(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the REST subset (uvicorn in a background thread); returns ``http://host:port``."""
        from tb_bridge.standin.http_server import HttpServerThread
        from tb_bridge.standin.rest_api import build_app

        with self._lock:
            if self._http is not None:
                return self._http.base_url
            server = HttpServerThread(build_app(self), host, port)
            server.start()
            self._http = server
            return server.base_url

    def stop_http(self) -> None:
        with self._lock:
            server, self._http = self._http, None
        if server is not None:
            server.stop()

    @property
    def base_url(self) -> str | None:
        return self._http.base_url if self._http is not None else None

    def add_server(self, server: Any) -> None:
        """Register a server object (with ``stop()``) so :meth:`stop` stops it."""
        with self._lock:
            self._servers.append(server)

    def remove_server(self, server: Any) -> None:
        with self._lock:
            self._servers = [s for s in self._servers if s is not server]

    def stop(self) -> None:
        """Stop every server and the pipeline thread; idempotent."""
        self.stop_http()
        self.stop_edge_server()
        with self._lock:
            servers, self._servers = self._servers, []
        for server in reversed(servers):
            server.stop()
        self.pipeline.close()

    def __enter__(self) -> "StandIn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------------------------
    def _device_for_token(self, token: str) -> Device:
        device = self.store.device_by_token(token)
        if device is None:
            raise DeviceAuthError("Invalid device access token")
        return device

    @staticmethod
    def _device_metadata(device: Device, **extra: str) -> dict[str, str]:
        return {"deviceName": device.name, "deviceType": device.type, **extra}

    def _emit_user_action(self, msg_type: str, device_id: str, user: User | None, data: str, now_ms: int,
                          **extra: str) -> None:
        # EntityActionService.pushEntityActionToRuleEngine: userId, userName, userFirstName, userLastName,
        # scope for attribute actions, and the device's name/type
        # (application/src/main/java/org/thingsboard/server/service/action/EntityActionService.java).
        user = user or self.tenant_admin
        who = dict(userId=user.id, userName=user.email, userFirstName=user.first_name,
                   userLastName=user.last_name, ts=str(now_ms), **extra)
        entity = self.store.entity(device_id)
        if isinstance(entity, Asset):
            metadata = {"assetName": entity.name, "assetType": entity.type, **who}
            self.pipeline.publish(TbMsg(msg_type, device_id, metadata, data, originator_type="ASSET", ts_ms=now_ms))
            return
        metadata = self._device_metadata(entity, **who)
        self.pipeline.publish(TbMsg(msg_type, device_id, metadata, data, ts_ms=now_ms))
