"""gRPC transport: the service connects to ThingsBoard as an *edge* (ThingsBoard's open Edge protocol).

Protocol (proto/edge.proto, from ThingsBoard CE common/edge-api/src/main/proto/edge.proto; client flow as
ThingsBoard Edge's cloud manager, Apache-2.0): open ``EdgeRpcService.handleMsgs`` (a bidirectional
stream), send ``CONNECT_RPC_MESSAGE{edgeRoutingKey, edgeSecret, edgeVersion, maxInboundMessageSize}``,
expect ``ConnectResponseMsg``; on ``ACCEPTED`` send ``SYNC_REQUEST_RPC_MESSAGE``; then acknowledge every
``DownlinkMsg`` with ``UPLINK_RPC_MESSAGE{downlinkResponseMsg{success, downlinkMsgId}}`` (also the ones
we ignore), after the events it carried were handed to the sink (at-least-once). ``UplinkMsg`` (used by
:class:`~tb_bridge.writeback.edge.EdgeWriteback`) is answered by ``UplinkResponseMsg`` with the same id.

Telemetry and attribute updates reach the edge for devices assigned to it, through the rule chain's
``push to edge`` node, and so do asset attribute updates (field assets assigned to the edge: placement runs)
and the operator's alarm actions (``DownlinkMsg.alarmUpdateMsg`` with ALARM_ACK / ALARM_CLEAR). The device
names and types come from the ``DeviceUpdateMsg`` downlinks of the sync (and of later assignments).
Reconnects use exponential backoff with full jitter.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Sequence

import grpc

from tb_bridge.events import EventError, WellEvent
from tb_bridge.log_rate import RateLimitedLog
from tb_bridge.transport import edge_codec
from tb_bridge.transport.base import EventSink, RawDeadLetterSink
from tb_bridge.transport.edge_proto import load as load_protos
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.untrusted_json import loads_untrusted

log = logging.getLogger(__name__)
#: one line per rejected payload, at most 20 per 10 s: a sender cannot flood the log
_bad_input_log = RateLimitedLog(log)

_STOP = object()


class EdgeAuthError(RuntimeError):
    """ThingsBoard answered BAD_CREDENTIALS: wrong edge routing key or secret."""


class EdgeUnavailable(RuntimeError):
    """No accepted Edge session right now (or it dropped before the answer came)."""


@dataclass(frozen=True)
class EdgeTls:
    """TLS for the Edge channel: PEM bytes of the CA (None: system roots), and of a client key and chain
    for mutual TLS; ``server_name`` overrides the name checked against the server certificate."""

    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    server_name: str | None = None


class EdgeTransport:
    """Receives ThingsBoard events as an edge and pushes uplinks on the same stream.

    ``host``/``port``: ThingsBoard's edge RPC endpoint (``edges.rpc.port``, default 7070).
    ``routing_key``/``secret``: the edge entity's credentials. ``tls``: :class:`EdgeTls` or None for
    plaintext. ``loop_guard``: drops echoes of our own writes. ``edge_version``: an ``EdgeVersion`` name.
    """

    name = "grpc-edge"

    def __init__(self, host: str, port: int, routing_key: str, secret: str, *, tls: EdgeTls | None = None,
                 loop_guard: LoopGuard | None = None, edge_version: str = "V_4_0_0",
                 max_inbound_message_size: int = 4 * 1024 * 1024, sync: bool = True,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 30.0, seed: int | None = None,
                 keepalive_s: float = 10.0) -> None:
        self.pb = load_protos()
        self.target = f"{host}:{port}"
        self._routing_key, self._secret = routing_key, secret
        self._tls = tls
        self.loop_guard = loop_guard
        self._edge_version = self.pb.edge_pb2.EdgeVersion.Value(edge_version)
        self._max_inbound = int(max_inbound_message_size)
        self._sync = sync
        self._backoff_initial_s, self._backoff_max_s = float(backoff_initial_s), float(backoff_max_s)
        self._keepalive_ms = int(keepalive_s * 1000)
        self._rng = random.Random(seed)
        self._sink: EventSink | None = None
        self._dead_letter: RawDeadLetterSink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._state = threading.Condition()
        self._outq: queue.Queue | None = None
        self._call = None
        self._uplinks: dict[int, Future] = {}
        self._next_uplink_id = 1
        self.devices: dict[str, tuple[str, str]] = {}
        self.configuration = None
        self.auth_error: str | None = None
        self.sync_completed = threading.Event()
        self.connects = 0
        self.downlinks = 0
        self.events_delivered = 0

    # --- Transport protocol ---------------------------------------------------------------------------
    def start(self, sink: EventSink, dead_letter: RawDeadLetterSink | None = None) -> None:
        if self._thread is not None:
            raise RuntimeError("transport already started")
        self._sink, self._dead_letter = sink, dead_letter
        self._thread = threading.Thread(target=self._run, name="edge-transport", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        call = self._call
        if call is not None:
            call.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Block until an accepted session exists; :class:`EdgeAuthError` on bad credentials,
        :class:`TimeoutError` otherwise."""
        deadline = time.monotonic() + timeout_s
        with self._state:
            while not self._connected.is_set():
                if self.auth_error:
                    raise EdgeAuthError(self.auth_error)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no Edge session with {self.target} after {timeout_s} s")
                self._state.wait(min(remaining, 0.1))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- uplink --------------------------------------------------------------------------------------
    def uplink(self, entity_data: Sequence[Any], timeout_s: float = 10.0, *, alarm_updates: Sequence[Any] = ()) -> None:
        """Send ``UplinkMsg{entityData, alarmUpdateMsg}`` and wait for its ``UplinkResponseMsg``. Raises
        :class:`EdgeUnavailable` (not connected / session lost / no answer in time) or
        ``ValueError`` when ThingsBoard answered ``success=false``."""
        with self._state:
            outq = self._outq if self._connected.is_set() else None
            if outq is None:
                raise EdgeUnavailable(f"no Edge session with {self.target}")
            uplink_id = self._next_uplink_id
            self._next_uplink_id = (self._next_uplink_id % 2_000_000_000) + 1
            future: Future = Future()
            self._uplinks[uplink_id] = future
        edge_pb = self.pb.edge_pb2
        request = edge_pb.RequestMsg(msgType=edge_pb.UPLINK_RPC_MESSAGE,
                                     uplinkMsg=edge_pb.UplinkMsg(uplinkMsgId=uplink_id, entityData=list(entity_data),
                                                                 alarmUpdateMsg=list(alarm_updates)))
        outq.put(request)
        try:
            response = future.result(timeout=timeout_s)
        except TimeoutError:
            raise EdgeUnavailable(f"no UplinkResponseMsg for uplink {uplink_id} in {timeout_s} s") from None
        finally:
            with self._state:
                self._uplinks.pop(uplink_id, None)
        if not response.success:
            raise ValueError(f"ThingsBoard refused uplink {uplink_id}: {response.errorMsg}")

    # --- session -------------------------------------------------------------------------------------
    def _channel(self) -> grpc.Channel:
        options = [("grpc.max_receive_message_length", self._max_inbound),
                   ("grpc.keepalive_time_ms", self._keepalive_ms),
                   ("grpc.keepalive_permit_without_calls", 1)]
        if self._tls is None:
            return grpc.insecure_channel(self.target, options=options)
        if self._tls.server_name:
            options.append(("grpc.ssl_target_name_override", self._tls.server_name))
        credentials = grpc.ssl_channel_credentials(self._tls.root_certificates, self._tls.private_key,
                                                   self._tls.certificate_chain)
        return grpc.secure_channel(self.target, credentials, options=options)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            accepted = self._session()
            if self._stopping.is_set():
                return
            backoff = self._backoff_initial_s if accepted else min(self._backoff_max_s, max(self._backoff_initial_s, 2 * backoff))
            self._stopping.wait(self._rng.uniform(0.5 * backoff, backoff))

    def _session(self) -> bool:
        """One connection; returns whether it was accepted."""
        edge_pb = self.pb.edge_pb2
        outq: queue.Queue = queue.Queue()
        outq.put(edge_pb.RequestMsg(msgType=edge_pb.CONNECT_RPC_MESSAGE, connectRequestMsg=edge_pb.ConnectRequestMsg(
            edgeRoutingKey=self._routing_key, edgeSecret=self._secret, edgeVersion=self._edge_version,
            maxInboundMessageSize=self._max_inbound)))
        channel = self._channel()
        accepted = False
        try:
            stub = self.pb.edge_pb2_grpc.EdgeRpcServiceStub(channel)
            self._call = stub.handleMsgs(iter(outq.get, _STOP))
            if self._stopping.is_set():
                self._call.cancel()
            for response in self._call:
                if response.HasField("connectResponseMsg"):
                    accepted = self._on_connect(response.connectResponseMsg, outq)
                    if not accepted:
                        break
                if response.HasField("uplinkResponseMsg"):
                    with self._state:
                        future = self._uplinks.get(response.uplinkResponseMsg.uplinkMsgId)
                    if future is not None and not future.done():
                        future.set_result(response.uplinkResponseMsg)
                if response.HasField("downlinkMsg"):
                    self._on_downlink(response.downlinkMsg, outq)
                if response.HasField("edgeUpdateMsg"):
                    self.configuration = response.edgeUpdateMsg.configuration
        except grpc.RpcError as exc:
            if not self._stopping.is_set():
                log.warning("Edge session with %s ended: %s", self.target, exc.code() if hasattr(exc, "code") else exc)
        finally:
            with self._state:
                self._connected.clear()
                self._outq = None
                pending, self._uplinks = self._uplinks, {}
                self._state.notify_all()
            for future in pending.values():
                if not future.done():
                    future.set_exception(EdgeUnavailable("Edge session lost before the uplink was answered"))
            outq.put(_STOP)
            if self._call is not None:
                self._call.cancel()
            self._call = None
            channel.close()
        return accepted

    def _on_connect(self, response, outq: queue.Queue) -> bool:
        edge_pb = self.pb.edge_pb2
        if response.responseCode != edge_pb.ACCEPTED:
            reason = edge_pb.ConnectResponseCode.Name(response.responseCode)
            message = f"ThingsBoard refused the edge connection ({reason}): {response.errorMsg or 'no detail'}"
            if response.responseCode == edge_pb.BAD_CREDENTIALS:
                message += " - check the edge routing key and secret"
                log.error(message)
                with self._state:
                    self.auth_error = message
                    self._state.notify_all()
            else:
                log.warning(message)
            return False
        self.configuration = response.configuration
        self.connects += 1
        self.sync_completed.clear()
        if self._sync:
            outq.put(edge_pb.RequestMsg(msgType=edge_pb.SYNC_REQUEST_RPC_MESSAGE,
                                        syncRequestMsg=edge_pb.SyncRequestMsg(fullSync=True)))
        with self._state:
            self.auth_error = None
            self._outq = outq
            self._connected.set()
            self._state.notify_all()
        log.info("Edge session with %s accepted (edge %s)", self.target, response.configuration.name)
        return True

    def _deliver(self, event: WellEvent) -> None:
        if self._sink is None:
            return
        self.events_delivered += 1
        try:
            self._sink(event)
        except Exception:  # the sink must not raise; never let it end the stream
            log.exception("event sink failed for %s", event.well_id)

    def _dead_letter_raw(self, what: str, downlink_id: int, message, reason: str) -> None:
        _bad_input_log.warning("grpc", "%s %d dead-lettered: %s", what, downlink_id, reason)
        if self._dead_letter is not None:
            try:
                self._dead_letter(self.name, message.SerializeToString(), reason)
            except Exception:
                log.exception("dead-letter sink failed")

    def _on_downlink(self, downlink, outq: queue.Queue) -> None:
        self.downlinks += 1
        success, error = True, ""
        for update in downlink.deviceUpdateMsg:
            try:
                entity = loads_untrusted(update.entity, what="DeviceUpdateMsg entity") if update.entity else {}
            except EventError:
                entity = {}
            if not isinstance(entity, dict):
                entity = {}
            device_id = edge_codec.bits_to_uuid(update.idMSB, update.idLSB)
            if update.msgType == self.pb.edge_pb2.ENTITY_DELETED_RPC_MESSAGE:
                self.devices.pop(device_id, None)
            elif entity.get("name"):
                self.devices[device_id] = (entity["name"], entity.get("type", ""))
        now_ms = int(time.time() * 1000)
        for data in downlink.entityData:
            try:
                events = edge_codec.events_from_entity_data(self.pb.queue_pb2, data, now_ms=now_ms,
                                                            devices=self.devices, source=self.name)
            except Exception as exc:  # EventError, or anything a malformed message may raise: never escape
                success, error = False, _reason(exc)
                self._dead_letter_raw("Edge downlink", downlink.downlinkMsgId, data, error)
                continue
            for event in events:
                if self.loop_guard is not None and not self.loop_guard.admit(event):
                    continue
                self._deliver(event)
        for update in downlink.alarmUpdateMsg:  # operator alarm actions (ack / clear) on our devices
            try:
                events = edge_codec.events_from_alarm_update(self.pb.edge_pb2, update, now_ms=now_ms, source=self.name)
            except Exception as exc:
                success, error = False, _reason(exc)
                self._dead_letter_raw("Edge alarm downlink", downlink.downlinkMsgId, update, error)
                continue
            for event in events:
                self._deliver(event)
        if downlink.HasField("syncCompletedMsg"):
            self.sync_completed.set()
        edge_pb = self.pb.edge_pb2
        outq.put(edge_pb.RequestMsg(msgType=edge_pb.UPLINK_RPC_MESSAGE, downlinkResponseMsg=edge_pb.DownlinkResponseMsg(
            success=success, errorMsg=error, downlinkMsgId=downlink.downlinkMsgId)))


def _reason(exc: BaseException) -> str:
    """Dead-letter reason: the message of a bad-input error, the type and message of anything else."""
    return str(exc) if isinstance(exc, EventError) else f"malformed message ({type(exc).__name__}: {exc})"
