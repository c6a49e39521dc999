"""Writeback through the Edge protocol's uplink: ``UplinkMsg{entityData}`` on the transport's stream.

Attributes go as ``EntityDataProto{postAttributesMsg, postAttributeScope="SERVER_SCOPE"}``, time series
as ``postTelemetryMsg`` with one ``TsKvListProto`` per (possibly future) timestamp; the entity data of up
to ``wells_per_uplink`` wells travel in one ``UplinkMsg``, answered by ``UplinkResponseMsg{success,
uplinkMsgId}`` (``success=false`` dead-letters those wells). Writes are idempotent (attributes overwrite;
a point is keyed by entity, key and ts).
"""
from __future__ import annotations

from typing import Any

from tb_bridge.transport import edge_codec
from tb_bridge.transport.edge import EdgeTransport, EdgeUnavailable
from tb_bridge.writeback.batching import BatchingWriteback, PermanentWriteError, TransientWriteError
from tb_bridge.writeback.outbox import WellBatch


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
