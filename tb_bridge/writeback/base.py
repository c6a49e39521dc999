"""The interface through which results go back to ThingsBoard (REST, gRPC uplink, or memory)."""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence


class Writeback(Protocol):
    """Writes server attributes and (future-stamped) time series for a well.

    Implementations batch per well, retry with backoff, are idempotent, and keep a bounded
    outbox so a ThingsBoard outage loses nothing."""

    def write_attributes(self, entity_id: str, attributes: Mapping[str, Any], scope: str = "SERVER_SCOPE") -> None:
        """Save attributes on the device ``entity_id`` (scope SERVER_SCOPE by default)."""

    def write_timeseries(self, entity_id: str, points: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Save time-series points ``(ts_ms, {key: value})``; timestamps may be in the future."""

    def delete_attributes(self, entity_id: str, keys: Sequence[str], scope: str = "SERVER_SCOPE") -> None:
        """Delete attributes ``keys`` of ``entity_id`` in ``scope``, after every write made before this call."""

    def delete_timeseries(self, entity_id: str, keys: Sequence[str], start_ts: int, end_ts: int) -> None:
        """Delete the points of ``keys`` with ``start_ts <= ts < end_ts`` (ms; future points need an ``end_ts``
        beyond them: ThingsBoard's ``deleteAllDataForKeys`` ends at its clock), after every earlier write."""

    def flush(self) -> None:
        """Deliver everything pending (blocks until done or the outbox holds it)."""

    def close(self) -> None:
        """Flush and release connections."""
