"""In-process transport: the stand-in's message pipeline delivered straight to the service.

Delivers what ThingsBoard's push-to-edge node would deliver for devices assigned to the edge
(``TbMsgPushToEdgeNode``: POST_TELEMETRY_REQUEST, ATTRIBUTES_UPDATED, POST_ATTRIBUTES_REQUEST), without
a network hop: for the demo and for tests of everything behind the transports.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Callable, Iterable

from tb_bridge.events import EventError
from tb_bridge.transport.base import EventSink, RawDeadLetterSink
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.tb_messages import event_from_tb_message, is_forwarded_type

if TYPE_CHECKING:
    from tb_bridge.standin import StandIn, TbMsg

log = logging.getLogger(__name__)


class InProcessTransport:
    """Subscribes to ``standin``'s pipeline and hands WellEvents to the sink.

    ``device_types``: only devices of these profiles (None: all). ``loop_guard``: drops echoes of the
    service's own writes (None: deliver everything).
    """

    name = "inprocess"

    def __init__(self, standin: "StandIn", *, loop_guard: LoopGuard | None = None,
                 device_types: Iterable[str] | None = None) -> None:
        self._standin = standin
        self.loop_guard = loop_guard
        self._device_types = frozenset(device_types) if device_types is not None else None
        self._unsubscribe: Callable[[], None] | None = None
        self._sink: EventSink | None = None
        self._dead_letter: RawDeadLetterSink | None = None
        self.delivered = 0

    def start(self, sink: EventSink, dead_letter: RawDeadLetterSink | None = None) -> None:
        if self._unsubscribe is not None:
            raise RuntimeError("transport already started")
        self._sink, self._dead_letter = sink, dead_letter
        self._unsubscribe = self._standin.subscribe(self._on_message)

    def stop(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _on_message(self, msg: "TbMsg") -> None:
        if msg.originator_type == "ASSET" and msg.type == "ATTRIBUTES_UPDATED":
            # fields (assets): attribute updates reach the router's asset hook (placement runs)
            msg = dataclasses.replace(msg, metadata={**msg.metadata, "entityType": "ASSET"})
        elif msg.originator_type != "DEVICE" or not is_forwarded_type(msg.type):
            return
        if (self._device_types is not None and msg.originator_type == "DEVICE"
                and msg.metadata.get("deviceType") not in self._device_types):
            return
        try:
            event = event_from_tb_message(msg.type, msg.originator_id, msg.metadata, msg.data,
                                          source=self.name, default_ts_ms=msg.ts_ms)
        except EventError as exc:
            log.warning("in-process message %s dead-lettered: %s", msg.id, exc)
            if self._dead_letter is not None:
                self._dead_letter(self.name, msg.data, str(exc))
            return
        if self.loop_guard is not None and not self.loop_guard.admit(event):
            return
        sink = self._sink
        if sink is not None:
            self.delivered += 1
            sink(event)
