"""In-process telemetry buffer (the embedded default): one sorted ring of samples per well."""
from __future__ import annotations

import bisect
import threading
from typing import Iterable, Mapping

from tb_bridge.buffer.base import (
    DEFAULT_MAX_POINTS,
    DEFAULT_WINDOW_S,
    BufferWindow,
    Sample,
    validate_limits,
    validate_sample,
)


class _WellRing:
    """Ascending timestamps plus ``ts -> {key: value}``; trimmed by count and age after each write. ``last_value`` /
    ``last_ts`` keep each key's newest value in the ring and its timestamp (values are finite: NaN is dropped
    before), so the latest values are read without a pass over the samples."""

    __slots__ = ("ts", "rows", "last_value", "last_ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.rows: dict[int, dict[str, float]] = {}
        self.last_value: dict[str, float] = {}
        self.last_ts: dict[str, int] = {}

    def put(self, ts_ms: int, values: dict[str, float]) -> None:
        newest = not self.ts or ts_ms >= self.ts[-1]
        if newest:  # the usual case: every key's newest value (C-level updates)
            self.last_value.update(values)
            self.last_ts.update(dict.fromkeys(values, ts_ms))
        else:
            for key, value in values.items():
                if ts_ms >= self.last_ts.get(key, ts_ms):
                    self.last_value[key] = value
                    self.last_ts[key] = ts_ms
        row = self.rows.get(ts_ms)
        if row is not None:
            row.update(values)
            return
        if newest:
            self.ts.append(ts_ms)
        else:
            bisect.insort(self.ts, ts_ms)
        self.rows[ts_ms] = dict(values)

    def trim(self, max_points: int, window_ms: int) -> None:
        cutoff = self.ts[-1] - window_ms
        n_old = bisect.bisect_left(self.ts, cutoff)
        n_drop = max(n_old, len(self.ts) - max_points)
        if n_drop > 0:
            last_ts = self.last_ts
            oldest_newest = min(last_ts.values()) if last_ts else None
            for ts in self.ts[:n_drop]:
                row = self.rows.pop(ts)
                if oldest_newest is not None and ts >= oldest_newest:  # some key may have its newest sample here
                    for key in row:
                        if last_ts.get(key) == ts:  # its newest sample leaves: so did all its others
                            del last_ts[key]
                            del self.last_value[key]
            del self.ts[:n_drop]


class MemoryBuffer:
    """Thread-safe in-process :class:`~tb_bridge.buffer.base.TelemetryBuffer`.

    Args:
        max_points: most samples kept per well (oldest evicted first).
        window_s: samples older than the well's newest timestamp minus ``window_s`` seconds are dropped.
    """

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, window_s: int = DEFAULT_WINDOW_S) -> None:
        self.max_points, self.window_s = validate_limits(max_points, window_s)
        self._wells: dict[str, _WellRing] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("buffer is closed")

    def _put(self, well_id: str, ts_ms: int, values: dict[str, float]) -> None:
        ring = self._wells.get(well_id)
        if ring is None:
            ring = self._wells[well_id] = _WellRing()
        ring.put(ts_ms, values)
        ring.trim(self.max_points, self.window_s * 1000)

    def append(self, well_id: str, ts_ms: int, values: Mapping[str, float]) -> None:
        well_id, ts_ms, clean = validate_sample(well_id, ts_ms, values)
        if not clean:
            return
        with self._lock:
            self._check_open()
            self._put(well_id, ts_ms, clean)

    def append_many(self, samples: Iterable[Sample]) -> None:
        checked = [validate_sample(*sample) for sample in samples]
        with self._lock:
            self._check_open()
            for well_id, ts_ms, clean in checked:
                if clean:
                    self._put(well_id, ts_ms, clean)

    def window(self, well_id: str, since_ms: int | None = None) -> BufferWindow:
        with self._lock:
            self._check_open()
            ring = self._wells.get(well_id)
            if ring is None:
                return BufferWindow.from_rows([], [])
            start = 0 if since_ms is None else bisect.bisect_left(ring.ts, int(since_ms))
            ts = ring.ts[start:]
            rows = [ring.rows[t] for t in ts]
            return BufferWindow.from_rows(ts, rows)

    def latest(self, well_id: str) -> tuple[int | None, int, dict[str, float]]:
        """``(newest timestamp, samples held, last value of each key)`` of one well without building its window:
        what ``window(well_id)`` gives as ``ts_ms[-1]``, ``len`` and ``latest()`` (the HTTP API's well answer)."""
        with self._lock:
            self._check_open()
            ring = self._wells.get(well_id)
            if ring is None or not ring.ts:
                return None, 0, {}
            return ring.ts[-1], len(ring.ts), dict(ring.last_value)

    def wells(self) -> list[str]:
        with self._lock:
            self._check_open()
            return sorted(self._wells)

    def clear(self, well_id: str | None = None) -> None:
        with self._lock:
            self._check_open()
            if well_id is None:
                self._wells.clear()
            else:
                self._wells.pop(well_id, None)

    def close(self) -> None:
        with self._lock:
            self._wells.clear()
            self._closed = True

    def __enter__(self) -> "MemoryBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
