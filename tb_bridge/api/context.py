"""What every route module gets: the service, the API settings, and the small helpers they share."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from fastapi import HTTPException

from tb_bridge.config import Settings
from tb_bridge.wells.model import WellConfig
from tb_bridge.wells.registry import WellEntry


@dataclass
class ApiContext:
    """The service behind the API (:class:`tb_bridge.service.Service`) and its settings."""

    service: Any
    settings: Settings
    #: configuration-only curves (lift scans, GLPCs) reused between requests, bounded LRU
    curves: "CurveCache" = field(default_factory=lambda: CurveCache())
    #: the LSTM-AE training run of POST /train-lstm-ae (``tb_bridge.ml_training.LstmAeTraining``), made at first use
    training: Any = None
    #: the lift adapters' curve cache, shared by the API's threads
    lift_cache: "SharedLiftCache" = field(default_factory=lambda: SharedLiftCache())
    #: the last well clustering per requested k: ``{k: (computed at (UTC datetime), answer)}``, recomputed weekly
    clusters: dict = field(default_factory=dict)

    async def window(self, well_id: str, since_ms: int | None = None) -> Any:
        """The well's buffered telemetry window, read off the event loop unless the buffer is the in-process
        one (a Redis read is network I/O; the in-process ring a short locked copy, cheaper than a thread hop)."""
        from starlette.concurrency import run_in_threadpool

        from tb_bridge.buffer.memory import MemoryBuffer

        buffer = self.service.buffer
        if isinstance(buffer, MemoryBuffer):
            return buffer.window(well_id, since_ms)
        return await run_in_threadpool(buffer.window, well_id, since_ms)

    async def latest(self, well_id: str) -> tuple[int | None, int, dict[str, float]]:
        """``(newest timestamp, samples held, last finite value of each key)`` of the well's buffer window; the
        in-process buffer answers without building the window."""
        from tb_bridge.buffer.memory import MemoryBuffer

        if isinstance(self.service.buffer, MemoryBuffer):
            return self.service.buffer.latest(well_id)
        window = await self.window(well_id)
        return (int(window.ts_ms[-1]) if len(window) else None), len(window), window.latest()

    def entry(self, well_id: str) -> WellEntry:
        """The registry's entry of ``well_id`` (404 when the service does not know the well)."""
        entry = self.service.registry.get(well_id)
        if entry is None:
            raise HTTPException(404, f"unknown well {well_id!r}")
        return entry

    def config(self, well_id: str) -> WellConfig:
        """The well's valid configuration (404 unknown, 409 while its configuration is invalid)."""
        entry = self.entry(well_id)
        if entry.config is None:
            raise HTTPException(409, f"well {well_id!r} has no valid configuration: {entry.error}")
        return entry.config


class _LockedLru:
    """A bounded LRU for the API's threads: lookups and insertions under a lock, builds outside it (two threads may
    build one value once each)."""

    def __init__(self, max_entries: int) -> None:
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def _get(self, key: tuple, build: Any) -> Any:
        """The value under ``key``, else ``build()`` stored under it (the least recently used beyond the bound
        dropped)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return value


class CurveCache(_LockedLru):
    """A small thread-safe LRU of values computed from a well's configuration alone (keyed by the config)."""

    def __init__(self, max_entries: int = 512) -> None:
        super().__init__(max_entries)

    def get(self, key: tuple, build: Any) -> Any:
        return self._get(key, build)


class SharedLiftCache(_LockedLru):
    """:class:`tb_bridge.adapters.lift.LiftCache`'s interface (``get(well, what, build)``) for the API's threads:
    lookups and insertions under a lock, builds outside it (two threads may build one curve once each)."""

    def __init__(self, max_entries: int = 256) -> None:
        super().__init__(max_entries)

    def get(self, well: WellConfig, what: str, build: Any) -> Any:
        return self._get((what, well.model_dump_json(exclude={"entity_id", "name"})), build)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_answer(record: Mapping[str, Any] | Any) -> dict[str, Any]:
    """A stored run (``RunRecord``) or a just-run record (dict) as the API's run body."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name, None)
    return {"id": get("id"), "well_id": get("well_id"), "lift_type": get("lift_type"), "tier": get("tier"),
            "engine": get("engine") or "", "started_at": iso(get("started_at")), "finished_at": iso(get("finished_at")),
            "status": get("status"), "error": get("error"), "results": jsonable(get("results") or {}),
            "units": dict(get("units") or {})}


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as None and NumPy scalars/arrays as plain JSON."""
    import math

    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
