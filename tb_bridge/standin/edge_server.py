"""The Edge side of ThingsBoard in the stand-in: edges, push-to-edge, and the ``EdgeRpcService`` server.

Behaviour follows ThingsBoard CE's edge service (application/src/main/java/org/thingsboard/server/service/edge/rpc/
EdgeGrpcService.java and EdgeGrpcSession.java, Apache-2.0):
- the first request must be ``CONNECT_RPC_MESSAGE`` with the edge's routing key and secret; the answer is
  ``ConnectResponseMsg{ACCEPTED, configuration}`` or ``{BAD_CREDENTIALS, errorMsg}`` (then the stream ends);
- ``SYNC_REQUEST_RPC_MESSAGE`` makes the server send the edge's devices (``DeviceUpdateMsg``) and their
  server/shared attributes, then ``DownlinkMsg{syncCompletedMsg}``;
- edge events (what the push-to-edge node queued for this edge) go out as ``DownlinkMsg``s in packs; the
  server waits until every ``downlinkMsgId`` of a pack is acknowledged by a ``DownlinkResponseMsg`` and
  resends the pack after ``ack_timeout_s``; the queue position only moves past acknowledged events, so a
  dropped session or a restarted server loses nothing (at-least-once, as ThingsBoard's persisted
  ``edge_event`` table with its per-edge ``queueStartTs``/seqId);
- ``UplinkMsg{entityData, alarmUpdateMsg}`` is applied to the store and answered by
  ``UplinkResponseMsg{success, uplinkMsgId}``; an ``AlarmUpdateMsg`` creates (or, same originator and type,
  updates) the active alarm with the edge's alarm id, acknowledges or clears the alarm with that id
  (BaseAlarmProcessor.processAlarmMsg);
- alarm actions taken in ThingsBoard on a device of the edge (ALARM_ACK, ALARM_CLEAR) go to the edge as
  ``DownlinkMsg{alarmUpdateMsg}`` with the Alarm JSON (AlarmEdgeProcessor: ThingsBoard notifies the edges of
  the alarm's originator; the push-to-edge node does the same for these message types);
- attribute updates of an asset assigned to the edge go as ``EntityDataProto{entityType: "ASSET"}``.
"""
from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
import uuid
from collections import deque
from concurrent import futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from tb_bridge.standin.auth import NULL_UUID
from tb_bridge.standin.messages import (
    ALARM_ACK,
    ALARM_CLEAR,
    ATTRIBUTES_DELETED,
    ATTRIBUTES_UPDATED,
    POST_ATTRIBUTES_REQUEST,
    POST_TELEMETRY_REQUEST,
    TbMsg,
)
from tb_bridge.transport import edge_codec
from tb_bridge.transport.edge_proto import load as load_protos

if TYPE_CHECKING:
    from tb_bridge.standin.core import StandIn

log = logging.getLogger(__name__)

#: Message types the stand-in's root rule chain pushes to edges (the ``push to edge`` node after a
#: message-type switch on these types, as in ThingsBoard's default edge-aware root rule chain).
PUSHED_TYPES = frozenset({POST_TELEMETRY_REQUEST, ATTRIBUTES_UPDATED, POST_ATTRIBUTES_REQUEST, ATTRIBUTES_DELETED,
                          ALARM_ACK, ALARM_CLEAR})
#: ``UpdateMsgType`` of the alarm-action downlinks.
_ALARM_UPDATE_TYPES = {ALARM_ACK: "ALARM_ACK_RPC_MESSAGE", ALARM_CLEAR: "ALARM_CLEAR_RPC_MESSAGE"}


@dataclass
class Edge:
    """An edge entity: the outside process that connects with ``routing_key`` and ``secret``."""

    id: str
    name: str
    routing_key: str
    secret: str
    type: str = "default"
    events: "EdgeEventQueue" = field(default_factory=lambda: EdgeEventQueue())


class EdgeEventQueue:
    """One edge's pending downlinks (serialized ``DownlinkMsg`` without id), in order, with a cursor that
    only moves past acknowledged events."""

    def __init__(self) -> None:
        self._events: deque[tuple[int, bytes]] = deque()
        self._next_seq = 1
        self._cond = threading.Condition()

    def append(self, payload: bytes) -> None:
        with self._cond:
            self._events.append((self._next_seq, payload))
            self._next_seq += 1
            self._cond.notify_all()

    def peek(self, limit: int, timeout_s: float) -> list[tuple[int, bytes]]:
        """Up to ``limit`` unacknowledged events, oldest first (waits up to ``timeout_s`` for one)."""
        with self._cond:
            if not self._events:
                self._cond.wait(timeout_s)
            return [self._events[i] for i in range(min(limit, len(self._events)))]

    def ack_through(self, seq: int) -> None:
        with self._cond:
            while self._events and self._events[0][0] <= seq:
                self._events.popleft()
            self._cond.notify_all()

    def wait_empty(self, timeout_s: float) -> bool:
        """Block until every queued event was acknowledged (True) or the timeout passes."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._events, timeout=timeout_s)

    def __len__(self) -> int:
        with self._cond:
            return len(self._events)


class EdgeHub:
    """Edges of the stand-in, the push-to-edge step, and uplink application."""

    def __init__(self, tb: "StandIn") -> None:
        self._tb = tb
        self.pb = load_protos()
        self._edges: dict[str, Edge] = {}
        self._lock = threading.Lock()
        self._unsubscribe = None
        #: push every pipeline message of PUSHED_TYPES to the edges (set False when a rule-chain runner
        #: attached to the pipeline calls :meth:`push_to_edge` from its push-to-edge nodes instead)
        self.auto_push = True
        #: devices created later are assigned to this edge (None: assign explicitly)
        self.auto_assign_edge_id: str | None = None
        self.server: "EdgeRpcServer | None" = None

    def create_edge(self, name: str, routing_key: str | None = None, secret: str | None = None) -> Edge:
        edge = Edge(str(uuid.uuid4()), name, routing_key or str(uuid.uuid4()), secret or secrets.token_urlsafe(15))
        with self._lock:
            if any(e.routing_key == edge.routing_key for e in self._edges.values()):
                raise ValueError("routing key already in use")
            self._edges[edge.id] = edge
            if self._unsubscribe is None:
                self._unsubscribe = self._tb.subscribe(self._auto_push)
        return edge

    @property
    def tenant_id(self) -> str:
        return self._tb.tenant_id

    def edge(self, edge_id: str) -> Edge:
        return self._edges[edge_id]

    def by_routing_key(self, routing_key: str) -> Edge | None:
        with self._lock:
            return next((e for e in self._edges.values() if e.routing_key == routing_key), None)

    def assign(self, device_id: str, edge_id: str) -> None:
        """Assign a device to an edge; a connected edge is told with a DeviceUpdateMsg (ASSIGNED_TO_EDGE)."""
        edge = self.edge(edge_id)
        self._tb.store.assign_to_edge(device_id, edge_id)
        downlink = self.pb.edge_pb2.DownlinkMsg()
        downlink.deviceUpdateMsg.append(self._device_update(device_id))
        edge.events.append(downlink.SerializeToString())

    def assign_asset(self, asset_id: str, edge_id: str) -> None:
        """Assign an asset to an edge (its attribute updates are then pushed to it)."""
        self.edge(edge_id)
        self._tb.store.assign_to_edge(asset_id, edge_id)

    def wait_acknowledged(self, timeout_s: float = 5.0) -> bool:
        """Block until every edge with a live session acknowledged all downlinks queued for it."""
        server = self.server
        connected = set(server.connected_edges()) if server is not None else set()
        deadline = time.monotonic() + timeout_s
        for edge_id in connected:
            if not self._edges[edge_id].events.wait_empty(max(0.0, deadline - time.monotonic())):
                return False
        return True

    # --- push to edge ------------------------------------------------------------------------------
    def _auto_push(self, msg: TbMsg) -> None:
        if self.auto_push:
            self.push_to_edge(msg)

    def push_to_edge(self, msg: TbMsg) -> None:
        """Queue ``msg`` for every edge its originator (device, or asset for attribute updates) is assigned to
        (not back to the edge it came from)."""
        if msg.type not in PUSHED_TYPES or msg.originator_type not in ("DEVICE", "ASSET"):
            return
        if msg.originator_type == "ASSET" and msg.type != ATTRIBUTES_UPDATED:
            return
        try:
            entity = self._tb.store.entity(msg.originator_id)
        except KeyError:
            return
        targets = [e for e in entity.edge_ids if e != msg.metadata.get("edgeId")]
        if not targets:
            return
        payload = self._downlink_for(msg).SerializeToString()
        for edge_id in targets:
            self._edges[edge_id].events.append(payload)

    def _downlink_for(self, msg: TbMsg):
        edge_pb, queue_pb = self.pb.edge_pb2, self.pb.queue_pb2
        data = msg.data_json()
        ts = int(msg.metadata.get("ts", msg.ts_ms))
        if msg.type in _ALARM_UPDATE_TYPES:
            downlink = edge_pb.DownlinkMsg()
            downlink.alarmUpdateMsg.append(edge_codec.alarm_update_msg(edge_pb, _ALARM_UPDATE_TYPES[msg.type], data))
            return downlink
        if msg.originator_type == "ASSET":
            entity = edge_codec.attributes_entity_data(edge_pb, queue_pb, msg.originator_id, data,
                                                       msg.metadata.get("scope", "SERVER_SCOPE"), updated=True,
                                                       ts_ms=ts, entity_type="ASSET")
        elif msg.type == POST_TELEMETRY_REQUEST:
            entity = edge_codec.telemetry_entity_data(edge_pb, queue_pb, msg.originator_id, [(ts, data)])
        elif msg.type == ATTRIBUTES_DELETED:
            msb, lsb = edge_codec.uuid_to_bits(msg.originator_id)
            entity = edge_pb.EntityDataProto(entityIdMSB=msb, entityIdLSB=lsb, entityType="DEVICE")
            entity.attributeDeleteMsg.scope = msg.metadata.get("scope", "")
            entity.attributeDeleteMsg.attributeNames.extend(data.get("attributes", []))
        else:
            scope = "CLIENT_SCOPE" if msg.type == POST_ATTRIBUTES_REQUEST else msg.metadata.get("scope", "SERVER_SCOPE")
            entity = edge_codec.attributes_entity_data(edge_pb, queue_pb, msg.originator_id, data, scope,
                                                       updated=msg.type == ATTRIBUTES_UPDATED, ts_ms=ts)
        downlink = edge_pb.DownlinkMsg()
        downlink.entityData.append(entity)
        return downlink

    def _device_update(self, device_id: str):
        device = self._tb.store.device(device_id)
        msb, lsb = edge_codec.uuid_to_bits(device.id)
        entity = {"id": {"entityType": "DEVICE", "id": device.id}, "name": device.name, "type": device.type,
                  "tenantId": {"entityType": "TENANT", "id": self._tb.tenant_id}}
        return self.pb.edge_pb2.DeviceUpdateMsg(msgType=self.pb.edge_pb2.ENTITY_CREATED_RPC_MESSAGE, idMSB=msb,
                                                idLSB=lsb, entity=json.dumps(entity))

    def sync_downlinks(self, edge: Edge) -> list:
        """The sync sequence for ``edge``: each assigned device, its server/shared attributes, then
        ``syncCompletedMsg``."""
        edge_pb, queue_pb = self.pb.edge_pb2, self.pb.queue_pb2
        out = []
        for device in self._tb.store.devices():
            if edge.id not in device.edge_ids:
                continue
            downlink = edge_pb.DownlinkMsg()
            downlink.deviceUpdateMsg.append(self._device_update(device.id))
            for scope in ("SERVER_SCOPE", "SHARED_SCOPE"):
                attrs = self._tb.store.get_attributes(device.id, scope)
                if attrs:
                    ts = max(t for _, t in attrs.values())
                    downlink.entityData.append(edge_codec.attributes_entity_data(
                        edge_pb, queue_pb, device.id, {k: v for k, (v, _) in attrs.items()}, scope,
                        updated=True, ts_ms=ts))
            out.append(downlink)
        done = edge_pb.DownlinkMsg()
        done.syncCompletedMsg.SetInParent()
        out.append(done)
        return out

    # --- uplink ------------------------------------------------------------------------------------
    def apply_uplink(self, edge: Edge, uplink) -> tuple[bool, str]:
        """Apply an ``UplinkMsg``'s entity data to the store; ``(success, errorMsg)``."""
        queue_pb = self.pb.queue_pb2
        try:
            for data in uplink.entityData:
                device_id = edge_codec.bits_to_uuid(data.entityIdMSB, data.entityIdLSB)
                device = self._tb.store.device(device_id)
                if data.HasField("postTelemetryMsg"):
                    entries = [(int(e.ts), edge_codec.kv_dict(queue_pb, e.kv)) for e in data.postTelemetryMsg.tsKvList]
                    self._tb.store.save_timeseries(device_id, entries)
                    for ts, values in entries:
                        self._tb.pipeline.publish(TbMsg(POST_TELEMETRY_REQUEST, device_id,
                                                        {"deviceName": device.name, "deviceType": device.type,
                                                         "ts": str(ts), "edgeId": edge.id}, json.dumps(values), ts_ms=ts))
                for field_name in ("postAttributesMsg", "attributesUpdatedMsg"):
                    if data.HasField(field_name):
                        scope = data.postAttributeScope or "SERVER_SCOPE"
                        values = edge_codec.kv_dict(queue_pb, getattr(data, field_name).kv)
                        now = self._tb.clock_ms()
                        self._tb.store.save_attributes(device_id, scope, values, now)
                        self._tb.pipeline.publish(TbMsg(ATTRIBUTES_UPDATED, device_id,
                                                        {"deviceName": device.name, "deviceType": device.type,
                                                         "scope": scope, "ts": str(now), "edgeId": edge.id},
                                                        json.dumps(values), ts_ms=now))
                if data.HasField("attributeDeleteMsg"):  # ThingsBoard's edge telemetry processor: delete attributes
                    msg = data.attributeDeleteMsg
                    self._tb.delete_attributes(device_id, msg.scope or "SERVER_SCOPE", list(msg.attributeNames))
            for update in uplink.alarmUpdateMsg:
                self._apply_alarm_update(update)
        except (KeyError, ValueError) as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, ""

    def _apply_alarm_update(self, update) -> None:
        edge_pb = self.pb.edge_pb2
        alarm_id = edge_codec.bits_to_uuid(update.idMSB, update.idLSB)
        alarm = json.loads(update.entity)
        kind = edge_pb.UpdateMsgType.Name(update.msgType)
        store = self._tb.store
        if kind in ("ENTITY_CREATED_RPC_MESSAGE", "ENTITY_UPDATED_RPC_MESSAGE"):
            originator = alarm.get("originator") or {}
            if not originator.get("id") or not alarm.get("type"):
                raise ValueError("alarm without originator or type")
            if alarm.get("severity") not in ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE"):
                raise ValueError(f"invalid alarm severity {alarm.get('severity')!r}")
            details = alarm.get("details") if isinstance(alarm.get("details"), dict) else {}
            store.create_alarm(originator["id"], str(alarm["type"]), alarm["severity"],
                               int(alarm.get("startTs") or self._tb.clock_ms()), details, alarm_id=alarm_id)
            return
        try:
            current = store.alarm(alarm_id)
        except KeyError:  # ThingsBoard ignores an ack/clear of an alarm it does not have
            return
        if kind == "ALARM_CLEAR_RPC_MESSAGE" and not current.status.startswith("CLEARED"):
            store.clear_alarm(alarm_id, int(alarm.get("clearTs") or self._tb.clock_ms()))
        elif kind == "ALARM_ACK_RPC_MESSAGE":
            store.ack_alarm(alarm_id, int(alarm.get("ackTs") or self._tb.clock_ms()))


class _Session:
    """One connected edge stream."""

    def __init__(self, hub: EdgeHub, server: "EdgeRpcServer") -> None:
        self.hub, self.server = hub, server
        self.pb = hub.pb.edge_pb2
        self.out: queue.Queue = queue.Queue()
        self.edge: Edge | None = None
        self.closed = threading.Event()
        self._sync_requested = threading.Event()
        self._acks: set[int] = set()
        self._ack_cond = threading.Condition()
        self._next_id = 1

    def read(self, requests) -> None:
        try:
            for request in requests:
                if self.closed.is_set():
                    break
                self._on_request(request)
        except grpc.RpcError:
            pass
        except Exception:
            log.exception("edge session reader failed")
        finally:
            self.close()

    def _on_request(self, request) -> None:
        pb = self.pb
        if self.edge is None:
            if request.msgType != pb.CONNECT_RPC_MESSAGE:
                self._reject("First message must be CONNECT_RPC_MESSAGE")
                return
            creds = request.connectRequestMsg
            edge = self.hub.by_routing_key(creds.edgeRoutingKey)
            if edge is None or not secrets.compare_digest(edge.secret, creds.edgeSecret):
                self._reject("Failed to validate the edge!")
                return
            self.edge = edge
            self.server.register(self)
            self.out.put(pb.ResponseMsg(connectResponseMsg=pb.ConnectResponseMsg(
                responseCode=pb.ACCEPTED, errorMsg="", configuration=self._configuration(edge))))
            threading.Thread(target=self._send_loop, name=f"edge-session-{edge.name}", daemon=True).start()
            return
        if request.msgType == pb.SYNC_REQUEST_RPC_MESSAGE:
            self._sync_requested.set()
        if request.HasField("downlinkResponseMsg"):
            with self._ack_cond:
                self._acks.add(request.downlinkResponseMsg.downlinkMsgId)
                self._ack_cond.notify_all()
        if request.HasField("uplinkMsg"):
            ok, error = self.hub.apply_uplink(self.edge, request.uplinkMsg)
            self.out.put(pb.ResponseMsg(uplinkResponseMsg=pb.UplinkResponseMsg(
                success=ok, errorMsg=error, uplinkMsgId=request.uplinkMsg.uplinkMsgId)))

    def _reject(self, message: str) -> None:
        pb = self.pb
        self.out.put(pb.ResponseMsg(connectResponseMsg=pb.ConnectResponseMsg(
            responseCode=pb.BAD_CREDENTIALS, errorMsg=message)))
        self.close()

    def _configuration(self, edge: Edge):
        msb, lsb = edge_codec.uuid_to_bits(edge.id)
        tmsb, tlsb = edge_codec.uuid_to_bits(self.hub.tenant_id)
        cmsb, clsb = edge_codec.uuid_to_bits(NULL_UUID)
        return self.pb.EdgeConfiguration(edgeIdMSB=msb, edgeIdLSB=lsb, tenantIdMSB=tmsb, tenantIdLSB=tlsb,
                                         customerIdMSB=cmsb, customerIdLSB=clsb, name=edge.name, type=edge.type,
                                         routingKey=edge.routing_key, secret=edge.secret, cloudType="CE")

    def _send_pack(self, downlinks: list) -> bool:
        """Send with fresh ids until every one is acknowledged; False when the session closed first."""
        while not self.closed.is_set():
            ids = []
            for downlink in downlinks:
                msg = self.pb.DownlinkMsg()
                msg.CopyFrom(downlink)
                msg.downlinkMsgId = self._next_id
                ids.append(self._next_id)
                self._next_id += 1
                self.out.put(self.pb.ResponseMsg(downlinkMsg=msg))
            deadline = time.monotonic() + self.server.ack_timeout_s
            with self._ack_cond:
                while not self.closed.is_set() and not self._acks.issuperset(ids):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._ack_cond.wait(min(remaining, 0.2))
                if self._acks.issuperset(ids):
                    self._acks.difference_update(ids)
                    return True
            if self.closed.is_set():
                return False
            log.warning("edge %s did not acknowledge %d downlinks in %.1f s; resending",
                        self.edge.name if self.edge else "?", len(ids), self.server.ack_timeout_s)
        return False

    def _send_loop(self) -> None:
        edge = self.edge
        assert edge is not None
        try:
            while not self.closed.is_set():
                if self._sync_requested.is_set():
                    self._sync_requested.clear()
                    if not self._send_pack(self.hub.sync_downlinks(edge)):
                        return
                    continue
                events = edge.events.peek(self.server.pack_size, timeout_s=0.1)
                if not events:
                    continue
                downlinks = []
                for _, payload in events:
                    downlink = self.pb.DownlinkMsg()
                    downlink.ParseFromString(payload)
                    downlinks.append(downlink)
                if not self._send_pack(downlinks):
                    return
                edge.events.ack_through(events[-1][0])
        except Exception:
            log.exception("edge session sender failed")
            self.close()

    def responses(self):
        while True:
            try:
                item = self.out.get(timeout=0.2)
            except queue.Empty:
                if self.closed.is_set():
                    return
                continue
            yield item

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.server.unregister(self)
            with self._ack_cond:
                self._ack_cond.notify_all()


class EdgeRpcServer:
    """ThingsBoard's ``edge.EdgeRpcService`` on a gRPC port (``edges.rpc.port``, default 7070)."""

    def __init__(self, hub: EdgeHub, *, pack_size: int = 100, ack_timeout_s: float = 10.0, max_workers: int = 32) -> None:
        self.hub = hub
        self.pack_size = int(pack_size)
        self.ack_timeout_s = float(ack_timeout_s)
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self._sessions: set[_Session] = set()
        self._lock = threading.Lock()
        self.port: int | None = None

    def handleMsgs(self, request_iterator, context):  # noqa: N802 - the gRPC method name
        session = _Session(self.hub, self)
        context.add_callback(session.close)
        threading.Thread(target=session.read, args=(request_iterator,), name="edge-session-reader", daemon=True).start()
        yield from session.responses()

    def register(self, session: _Session) -> None:
        with self._lock:
            for other in [s for s in self._sessions if s.edge is session.edge]:
                other.close()  # one session per edge, as ThingsBoard: a new connection replaces the old
            self._sessions.add(session)

    def unregister(self, session: _Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def connected_edges(self) -> list[str]:
        with self._lock:
            return [s.edge.id for s in self._sessions if s.edge is not None]

    def start(self, host: str = "127.0.0.1", port: int = 0, *, server_credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen; returns the bound port (a free one for ``port=0``)."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="edge-rpc"),
                             options=[("grpc.max_receive_message_length", 4 * 1024 * 1024)])
        self.hub.pb.edge_pb2_grpc.add_EdgeRpcServiceServicer_to_server(self, server)
        address = f"{host}:{port}"
        bound = server.add_secure_port(address, server_credentials) if server_credentials else server.add_insecure_port(address)
        if not bound:
            raise RuntimeError(f"cannot listen on {address}")
        server.start()
        self._server, self.port = server, bound
        return bound

    def stop(self, grace_s: float = 0.5) -> None:
        server, self._server = self._server, None
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()
        if server is not None:
            server.stop(grace_s).wait(grace_s + 5.0)
