"""Writeback through the Edge protocol's uplink: ``UplinkMsg{entityData}`` on the transport's stream.

Attributes go as ``EntityDataProto{postAttributesMsg, postAttributeScope="SERVER_SCOPE"}``, time series
as ``postTelemetryMsg`` with one ``TsKvListProto`` per (possibly future) timestamp; the entity data of up
to ``wells_per_uplink`` wells travel in one ``UplinkMsg``, answered by ``UplinkResponseMsg{success,
uplinkMsgId}`` (``success=false`` dead-letters those wells). Writes are idempotent (attributes overwrite;
a point is keyed by entity, key and ts).

Alarms go as ``UplinkMsg{alarmUpdateMsg}`` (``AlarmUpdateMsg{msgType, idMSB, idLSB, entity}``, the entity
being ThingsBoard's Alarm JSON): ``ENTITY_CREATED_RPC_MESSAGE`` raises (or, for the same originator and
type, updates) the active alarm, ``ALARM_CLEAR_RPC_MESSAGE`` clears the alarm with that id
(BaseAlarmProcessor.processAlarmMsg in ThingsBoard's edge RPC service). The edge chooses the alarm's id, so
this writer remembers the id of each (device, type) it raised; an alarm raised by an earlier process is
not known after a restart and cannot be cleared over the uplink (REST can: it looks the active alarm up).
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from tb_bridge.transport import edge_codec
from tb_bridge.transport.edge import EdgeTransport, EdgeUnavailable
from tb_bridge.writeback.batching import BatchingWriteback, PermanentWriteError, TransientWriteError
from tb_bridge.writeback.outbox import WellBatch

log = logging.getLogger(__name__)


class EdgeWriteback(BatchingWriteback):
    """:class:`~tb_bridge.writeback.base.Writeback` over a connected :class:`EdgeTransport` (see
    :class:`BatchingWriteback` for batching, backoff and the bounded outbox)."""

    name = "grpc-edge"

    def __init__(self, transport: EdgeTransport, *, uplink_timeout_s: float = 10.0, wells_per_uplink: int = 100,
                 **batching: Any) -> None:
        super().__init__(**batching)
        self._wells_per_uplink = int(wells_per_uplink)
        self._transport = transport
        self._timeout_s = float(uplink_timeout_s)

    # --- alarms ------------------------------------------------------------------------------------------
    def create_alarm(self, entity_id: str, alarm_type: str, severity: str, details: dict[str, Any] | None = None,
                     start_ts_ms: int | None = None) -> None:
        """Raise (or update) the active alarm ``alarm_type`` on the device ``entity_id`` (sent at the next flush)."""
        key = (entity_id, alarm_type)
        with self._alarm_lock:
            alarm_id = self._alarm_ids.setdefault(key, str(uuid.uuid4()))
        ts = int(start_ts_ms) if start_ts_ms is not None else 0
        alarm = {"id": {"entityType": "ALARM", "id": alarm_id}, "originator": {"entityType": "DEVICE", "id": entity_id},
                 "type": alarm_type, "name": alarm_type, "severity": severity, "status": "ACTIVE_UNACK",
                 "acknowledged": False, "cleared": False, "startTs": ts, "endTs": ts, "ackTs": 0, "clearTs": 0,
                 "propagate": False, "details": dict(details or {})}
        self._alarm_ops.append(("ENTITY_CREATED_RPC_MESSAGE", alarm))

    def clear_alarm(self, entity_id: str, alarm_type: str, clear_ts_ms: int | None = None) -> None:
        """Clear the alarm this writer raised for (device, type); nothing when it raised none."""
        with self._alarm_lock:
            alarm_id = self._alarm_ids.pop((entity_id, alarm_type), None)
        if alarm_id is None:
            log.info("no alarm %r of %s raised by this process to clear", alarm_type, entity_id)
            return
        alarm = {"id": {"entityType": "ALARM", "id": alarm_id}, "originator": {"entityType": "DEVICE", "id": entity_id},
                 "type": alarm_type, "name": alarm_type, "status": "CLEARED_UNACK", "cleared": True,
                 "clearTs": int(clear_ts_ms) if clear_ts_ms is not None else 0}
        self._alarm_ops.append(("ALARM_CLEAR_RPC_MESSAGE", alarm))

    def _deliver_alarms(self) -> bool:
        """Send the queued alarm operations in order, up to ``wells_per_uplink`` per UplinkMsg; False when a
        transient failure kept some (retried at the next flush)."""
        edge_pb = self._transport.pb.edge_pb2
        while self._alarm_ops:
            ops = [self._alarm_ops[i] for i in range(min(self._wells_per_uplink, len(self._alarm_ops)))]
            try:
                self._transport.uplink([], timeout_s=self._timeout_s,
                                       alarm_updates=[edge_codec.alarm_update_msg(edge_pb, t, a) for t, a in ops])
            except EdgeUnavailable as exc:
                self.last_error = str(exc)
                log.warning("alarm uplink failed (%s); %d operations kept", exc, len(self._alarm_ops))
                return False
            except ValueError as exc:  # refused by ThingsBoard: dead-letter this uplink's operations
                log.error("alarm uplink refused, dead-lettered: %s", exc)
                self.alarm_dead_letters.extend((op, str(exc)) for op in ops)
            for _ in ops:
                self._alarm_ops.popleft()
        return True

    def _delete(self, op: tuple) -> None:
        """Attributes: ``EntityDataProto{attributeDeleteMsg{scope, attributeNames}}`` on the uplink. Time series:
        the Edge protocol carries no time-series delete, so such a request is refused (dead-lettered, logged):
        use the REST writeback where projected points must be removed."""
        if op[0] != "attributes":
            raise PermanentWriteError("the Edge uplink has no time-series delete; set writeback = rest to delete "
                                      f"{', '.join(op[2])} of {op[1]}")
        edge_pb = self._transport.pb.edge_pb2
        msb, lsb = edge_codec.uuid_to_bits(op[1])
        data = edge_pb.EntityDataProto(entityIdMSB=msb, entityIdLSB=lsb, entityType="DEVICE")
        data.attributeDeleteMsg.scope = op[3]
        data.attributeDeleteMsg.attributeNames.extend(op[2])
        try:
            self._transport.uplink([data], timeout_s=self._timeout_s)
        except EdgeUnavailable as exc:
            raise TransientWriteError(str(exc)) from None
        except ValueError as exc:
            raise PermanentWriteError(str(exc)) from None

    def _deliver_round(self, batches: list[WellBatch]) -> list[Exception | None]:
        """All wells of the round in ``UplinkMsg``s of at most ``wells_per_uplink`` wells each."""
        outcomes: list[Exception | None] = []
        for start in range(0, len(batches), self._wells_per_uplink):
            chunk = batches[start:start + self._wells_per_uplink]
            try:
                self._deliver_many(chunk)
                outcomes.extend([None] * len(chunk))
            except Exception as exc:
                outcomes.extend([exc] * len(chunk))
                rest = len(batches) - len(outcomes)
                outcomes.extend([TransientWriteError("not tried: an earlier uplink of this round failed")] * rest)
                break
        return outcomes

    def _deliver(self, batch: WellBatch) -> None:
        self._deliver_many([batch])

    def _deliver_many(self, batches: list[WellBatch]) -> None:
        edge_pb, queue_pb = self._transport.pb.edge_pb2, self._transport.pb.queue_pb2
        data = []
        try:
            for batch in batches:
                data.extend(edge_codec.attributes_entity_data(edge_pb, queue_pb, batch.entity_id, values, scope)
                            for scope, values in batch.attributes.items() if values)
                if batch.points:
                    data.append(edge_codec.telemetry_entity_data(edge_pb, queue_pb, batch.entity_id,
                                                                 sorted(batch.points.items())))
        except ValueError as exc:
            raise PermanentWriteError(str(exc)) from None
        if not data:
            return
        try:
            self._transport.uplink(data, timeout_s=self._timeout_s)
        except EdgeUnavailable as exc:
            raise TransientWriteError(str(exc)) from None
        except ValueError as exc:
            raise PermanentWriteError(str(exc)) from None
        for batch in batches:
            batch.attributes.clear()
            batch.points.clear()
