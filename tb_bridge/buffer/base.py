"""The telemetry buffer interface: a short, per-well window of recent samples.

A buffer keeps, for each well, the most recent samples bounded both by count (``max_points``; the
oldest are evicted) and by age (samples older than ``newest_ts_ms - window_s * 1000`` are dropped).
Samples are ``(well_id, ts_ms, {key: value})`` with numeric values; a sample whose timestamp is
already present merges its keys into the stored one (the later value of a key wins). Out-of-order
samples are placed by timestamp.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

DEFAULT_MAX_POINTS = 288
"""24 h of 5-minute samples."""
DEFAULT_WINDOW_S = 86_400
"""24 h."""

Sample = tuple[str, int, Mapping[str, float]]

GROUP_SEPARATOR = "\x1c"
FIELD_SEPARATOR = "\x1d"
RECORD_SEPARATOR = "\x1e"
UNIT_SEPARATOR = "\x1f"
"""ASCII separators used by the Redis encoding; telemetry keys must be printable, so never hold them."""


class BufferUnavailableError(ConnectionError):
    """The buffer's backend cannot be reached (e.g. Redis down); the sample or read may succeed later."""


@dataclass(frozen=True)
class BufferWindow:
    """The samples of one well, oldest first.

    Attributes:
        ts_ms: int64 epoch milliseconds, strictly ascending.
        values: telemetry key -> float64 array aligned with ``ts_ms`` (NaN where the key was absent).
    """

    ts_ms: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts_ms, dtype=np.int64)
        object.__setattr__(self, "ts_ms", ts)
        for key, arr in self.values.items():
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape != ts.shape:
                raise ValueError(f"values[{key!r}] has shape {arr.shape}, expected {ts.shape}")
            self.values[key] = arr

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def latest(self) -> dict[str, float]:
        """Last finite value of each key (keys without any finite value are omitted)."""
        out: dict[str, float] = {}
        for key, arr in self.values.items():
            finite = np.flatnonzero(np.isfinite(arr))
            if finite.size:
                out[key] = float(arr[finite[-1]])
        return out

    @classmethod
    def from_rows(cls, ts_ms: list[int], rows: list[Mapping[str, float]]) -> "BufferWindow":
        """Build from ascending timestamps and one ``{key: value}`` mapping per timestamp."""
        if rows and len(rows[0]) > 0:
            # Common case: every row holds the same keys (one telemetry message per timestamp). One C-level
            # itemgetter per row and one 2-D array instead of a lookup per key and row; same result.
            first = tuple(rows[0])
            getter = operator.itemgetter(*first) if len(first) > 1 else (lambda row: (row[first[0]],))
            try:
                if all(len(row) == len(first) for row in rows):
                    table = np.array([getter(row) for row in rows], dtype=np.float64).reshape(len(rows), len(first))
                    return cls(np.asarray(ts_ms, dtype=np.int64), {key: table[:, j].copy() for j, key in enumerate(first)})
            except KeyError:
                pass  # rows with different keys: the general path below
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        nan = math.nan
        values = {key: np.array([row.get(key, nan) for row in rows], dtype=np.float64) for key in keys}
        return cls(np.asarray(ts_ms, dtype=np.int64), values)


@runtime_checkable
class TelemetryBuffer(Protocol):
    """Per-well window of recent telemetry (see the module docstring for the semantics)."""

    max_points: int
    window_s: int

    def append(self, well_id: str, ts_ms: int, values: Mapping[str, float]) -> None:
        """Add one sample."""

    def append_many(self, samples: Iterable[Sample]) -> None:
        """Add many ``(well_id, ts_ms, values)`` samples (one round trip where the backend allows)."""

    def window(self, well_id: str, since_ms: int | None = None) -> BufferWindow:
        """The well's samples with ``ts_ms >= since_ms`` (all when ``None``); empty for unknown wells."""

    def wells(self) -> list[str]:
        """Sorted ids of the wells holding at least one sample."""

    def clear(self, well_id: str | None = None) -> None:
        """Forget one well, or every well when ``well_id`` is ``None``."""

    def close(self) -> None:
        """Release connections; the buffer must not be used afterwards."""


def validate_limits(max_points: int, window_s: int) -> tuple[int, int]:
    """Check the window bounds; returns them as ints."""
    if isinstance(max_points, bool) or int(max_points) != max_points or max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    if isinstance(window_s, bool) or int(window_s) != window_s or window_s < 1:
        raise ValueError(f"window_s must be a positive integer number of seconds, got {window_s!r}")
    return int(max_points), int(window_s)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def validate_sample(well_id: str, ts_ms: int, values: Mapping[str, float]) -> tuple[str, int, dict[str, float]]:
    """Check one sample; returns ``(well_id, ts_ms, values)`` with int timestamp and float values.

    Keys must be non-empty printable strings. NaN values mean "absent" and are dropped (a sample left without values is ignored by the
    buffers); infinite or non-numeric values raise ``ValueError``.
    """
    if not isinstance(well_id, str) or not well_id:
        raise ValueError(f"well_id must be a non-empty string, got {well_id!r}")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, (int, np.integer)):
        raise ValueError(f"ts_ms must be an integer (epoch milliseconds), got {ts_ms!r}")
    if not _INT64_MIN <= ts_ms <= _INT64_MAX:
        raise ValueError(f"ts_ms={ts_ms} is outside the 64-bit range of epoch milliseconds")
    if not isinstance(values, Mapping):
        raise ValueError(f"values must be a mapping of telemetry key -> number, got {type(values).__name__}")
    clean: dict[str, float] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or not key.isprintable():
            raise ValueError(f"telemetry keys must be non-empty printable strings, got {key!r}")
        kind = type(value)
        if kind is not float and kind is not int:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"telemetry value {key}={value!r} is not a number")
        number = float(value)
        if number - number != 0.0:  # NaN or infinite
            if math.isnan(number):
                continue
            raise ValueError(f"telemetry value {key}={value!r} is not finite")
        clean[key] = number
    return well_id, int(ts_ms), clean
