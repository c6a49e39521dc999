"""The one event type every transport produces and the router consumes."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


class EventKind(str, Enum):
    """What happened to the well in ThingsBoard."""

    TELEMETRY = "telemetry"  #: POST_TELEMETRY_REQUEST: time-series values at ``ts_ms``
    ATTRIBUTES_UPDATED = "attributes_updated"  #: ATTRIBUTES_UPDATED: some attributes changed
    ATTRIBUTES_SNAPSHOT = "attributes_snapshot"  #: the full attribute set (start-up sync, registry load)
    #: ALARM_ACK / ALARM_CLEAR: an alarm of the well acknowledged or cleared in ThingsBoard; ``values`` is
    #: ThingsBoard's Alarm JSON (``id``, ``type``, ``severity``, ``status``, ``ackTs``, ``clearTs``, ``details``)
    ALARM_ACK = "alarm_ack"
    ALARM_CLEAR = "alarm_clear"


class EventError(ValueError):
    """An event that cannot be processed (malformed, NaN, unknown well); it is dead-lettered."""


@dataclass(frozen=True, slots=True)
class WellEvent:
    """One ThingsBoard event about one well.

    ``well_id`` is the ThingsBoard entity id (UUID string); ``values`` maps key -> value (numbers,
    strings, booleans or JSON-compatible objects). ``metadata`` carries ThingsBoard message metadata
    such as ``userId`` (who saved the attributes; used for loop protection) or ``scope``.
    """

    kind: EventKind
    well_id: str
    ts_ms: int
    values: Mapping[str, Any]
    well_name: str | None = None
    device_type: str | None = None
    scope: str | None = None
    source: str = "unknown"
    metadata: Mapping[str, str] = field(default_factory=dict)

    def numeric_values(self) -> dict[str, float]:
        """Values that are finite numbers (booleans excluded); raises :class:`EventError` on NaN/inf."""
        out: dict[str, float] = {}
        for key, value in self.values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            number = float(value)
            if not math.isfinite(number):
                raise EventError(f"{key} is not a finite number ({value!r})")
            out[key] = number
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (dead-letter table, logs)."""
        return {
            "kind": self.kind.value,
            "well_id": self.well_id,
            "ts_ms": self.ts_ms,
            "values": dict(self.values),
            "well_name": self.well_name,
            "device_type": self.device_type,
            "scope": self.scope,
            "source": self.source,
            "metadata": dict(self.metadata),
        }
