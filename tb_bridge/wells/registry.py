"""The well registry: typed configuration per ThingsBoard device, fed from attribute events.

ThingsBoard sends attribute updates one key set at a time, so the registry keeps each well's raw
attribute map, merges updates into it, and re-validates. A well whose attributes are invalid keeps its
last error (reported as ``opt_error``) and is skipped by the tiers; the other wells keep running.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from tb_bridge.wells.model import WellConfig, WellConfigError, parse_well_config


@dataclass
class WellEntry:
    """What the registry knows about one device."""

    entity_id: str
    name: str
    raw_attributes: dict[str, Any] = field(default_factory=dict)
    config: WellConfig | None = None
    error: WellConfigError | None = None


class WellRegistry:
    """Thread-safe map of entity id -> :class:`WellEntry`."""

    def __init__(self) -> None:
        self._entries: dict[str, WellEntry] = {}
        self._lock = threading.Lock()

    def update(self, entity_id: str, attributes: Mapping[str, Any], name: str | None = None,
               device_type: str | None = None, replace: bool = False, keep_last_good: bool = False) -> WellConfig:
        """Merge ``attributes`` into the well's raw map and re-validate.

        ``replace=True`` (an attribute snapshot) starts from an empty map. Returns the new config or
        raises :class:`WellConfigError`. On that error the previous valid config is dropped, unless
        ``keep_last_good`` (a live change made in ThingsBoard): then the well keeps running on its last
        valid config while ``error`` names the rejected change (the merged raw map is kept, so a later
        update that completes the change validates)."""
        with self._lock:
            entry = self._entries.get(entity_id)
            if entry is None:
                entry = WellEntry(entity_id=entity_id, name=name or entity_id)
                self._entries[entity_id] = entry
            if name:
                entry.name = name
            if replace:
                entry.raw_attributes = {}
            entry.raw_attributes.update(attributes)
            if device_type and "lift_type" not in entry.raw_attributes:
                entry.raw_attributes["device_type"] = device_type
            try:
                entry.config = parse_well_config(entity_id, entry.name, entry.raw_attributes)
                entry.error = None
                return entry.config
            except WellConfigError as exc:
                if not keep_last_good:
                    entry.config = None
                entry.error = exc
                raise

    def remove(self, entity_id: str) -> None:
        with self._lock:
            self._entries.pop(entity_id, None)

    def get(self, entity_id: str) -> WellEntry | None:
        with self._lock:
            return self._entries.get(entity_id)

    def config(self, entity_id: str) -> WellConfig | None:
        entry = self.get(entity_id)
        return entry.config if entry else None

    def valid_wells(self, lift_type: str | None = None) -> list[WellConfig]:
        """Configs of the wells that validate, optionally of one lift type, ordered by name."""
        with self._lock:
            configs = [e.config for e in self._entries.values() if e.config is not None]
        if lift_type is not None:
            configs = [c for c in configs if c.lift_type == lift_type]
        return sorted(configs, key=lambda c: c.name)

    def invalid_wells(self) -> list[WellEntry]:
        with self._lock:
            return [e for e in self._entries.values() if e.error is not None]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
