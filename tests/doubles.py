"""Test doubles of the service's outer parts (where ThingsBoard itself is not what a test checks)."""
from __future__ import annotations

from typing import Any, Mapping


class RecordingWriteback:
    """A :class:`tb_bridge.writeback.base.Writeback` that keeps what it is given.

    ``attributes``: every attribute write in order, as ``(entity_id, attributes)``; ``latest``: the last value
    of each key per entity; ``timeseries``: every time-series write, as ``(entity_id, points)``."""

    def __init__(self) -> None:
        self.attributes: list[tuple[str, dict[str, Any]]] = []
        self.latest: dict[str, dict[str, Any]] = {}
        self.timeseries: list[tuple[str, list[Any]]] = []

    def write_attributes(self, entity_id: str, attributes: Mapping[str, Any], scope: str = "SERVER_SCOPE") -> None:
        self.attributes.append((entity_id, dict(attributes)))
        self.latest.setdefault(entity_id, {}).update(attributes)

    def write_timeseries(self, entity_id: str, points: Any) -> None:
        self.timeseries.append((entity_id, list(points)))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
