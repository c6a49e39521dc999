"""The small interface every inbound transport implements (gRPC Edge, MQTT, in-process)."""
from __future__ import annotations

from typing import Callable, Protocol

from tb_bridge.events import WellEvent

#: Called by a transport for every event; must not raise for bad events (the router dead-letters them).
EventSink = Callable[[WellEvent], None]

#: Called by a transport for payloads it cannot even turn into a WellEvent: (source, raw payload, reason).
RawDeadLetterSink = Callable[[str, bytes | str, str], None]


class Transport(Protocol):
    """Receives ThingsBoard events and hands them to the sink. Reconnects, backoff and buffering
    live inside the transport, never in the callers."""

    name: str

    def start(self, sink: EventSink, dead_letter: RawDeadLetterSink | None = None) -> None:
        """Connect (in background threads) and start delivering events to ``sink``."""

    def stop(self) -> None:
        """Disconnect cleanly; idempotent."""
