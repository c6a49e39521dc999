"""The writeback outbox: pending writes merged per well, bounded in memory, spilled when full.

Writes to one well are merged into one :class:`WellBatch` (later values win, per attribute key and per
``(ts, key)`` point), so a burst of results for a well becomes one request per scope plus one time-series
request. When the items held in memory exceed ``max_items``, the oldest wells' batches are spilled to an
:class:`OutboxSpill` (SQLite by default, or the history store) and brought back as room frees, so an
outage loses nothing while memory stays bounded.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence


@dataclass
class WellBatch:
    """Pending writes of one well: ``attributes[scope][key]`` and ``points[ts_ms][key]``."""

    entity_id: str
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: dict[int, dict[str, Any]] = field(default_factory=dict)

    def size(self) -> int:
        """Number of values held (attribute keys plus point values)."""
        return sum(map(len, self.attributes.values())) + sum(map(len, self.points.values()))

    def add_attributes(self, scope: str, values: Mapping[str, Any]) -> None:
        self.attributes.setdefault(scope, {}).update(values)

    def add_points(self, points: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        for ts_ms, values in points:
            self.points.setdefault(int(ts_ms), {}).update(values)

    def merge_under(self, newer: "WellBatch") -> "WellBatch":
        """A batch holding this (older) batch's writes overridden by ``newer``'s."""
        merged = WellBatch(self.entity_id, {s: dict(v) for s, v in self.attributes.items()},
                           {t: dict(v) for t, v in self.points.items()})
        for scope, values in newer.attributes.items():
            merged.add_attributes(scope, values)
        merged.add_points(list(newer.points.items()))
        return merged

    def to_json(self) -> str:
        return json.dumps({"entity_id": self.entity_id, "attributes": self.attributes,
                           "points": [[ts, v] for ts, v in sorted(self.points.items())]})

    @classmethod
    def from_json(cls, text: str) -> "WellBatch":
        obj = json.loads(text)
        return cls(obj["entity_id"], obj["attributes"], {int(ts): v for ts, v in obj["points"]})


class OutboxSpill(Protocol):
    """Durable overflow storage for outbox batches (FIFO)."""

    def push(self, batch: WellBatch) -> None: ...

    def pop_oldest(self, max_items: int) -> list[WellBatch]:
        """Remove and return the oldest batches holding at most ``max_items`` values (at least one batch
        when any is stored)."""

    def pop_entity(self, entity_id: str) -> list[WellBatch]:
        """Remove and return every stored batch of one well, oldest first."""

    def item_count(self) -> int: ...

    def close(self) -> None: ...


class SqliteOutboxSpill:
    """:class:`OutboxSpill` in a SQLite file (a private temporary file when ``path`` is None)."""

    def __init__(self, path: str | None = None) -> None:
        self._owned = path is None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="atilax-outbox-", suffix=".sqlite")
            os.close(fd)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "entity_id TEXT NOT NULL, n_items INTEGER NOT NULL, batch TEXT NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_entity ON outbox (entity_id)")
        self._lock = threading.Lock()

    def push(self, batch: WellBatch) -> None:
        with self._lock:
            self._db.execute("INSERT INTO outbox (entity_id, n_items, batch) VALUES (?, ?, ?)",
                             (batch.entity_id, batch.size(), batch.to_json()))

    def pop_oldest(self, max_items: int) -> list[WellBatch]:
        with self._lock:
            rows = self._db.execute("SELECT id, n_items, batch FROM outbox ORDER BY id LIMIT 256").fetchall()
            taken, total = [], 0
            for row_id, n_items, text in rows:
                if taken and total + n_items > max_items:
                    break
                taken.append((row_id, text))
                total += n_items
            if taken:
                self._db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(taken))})",
                                 [row_id for row_id, _ in taken])
            return [WellBatch.from_json(text) for _, text in taken]

    def pop_entity(self, entity_id: str) -> list[WellBatch]:
        with self._lock:
            rows = self._db.execute("SELECT id, batch FROM outbox WHERE entity_id = ? ORDER BY id", (entity_id,)).fetchall()
            self._db.execute("DELETE FROM outbox WHERE entity_id = ?", (entity_id,))
            return [WellBatch.from_json(text) for _, text in rows]

    def item_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(n_items), 0) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._owned:
            try:
                os.unlink(self.path)
            except OSError:
                pass


class Outbox:
    """Thread-safe per-well outbox with a memory bound of ``max_items`` values."""

    def __init__(self, max_items: int = 100_000, spill: OutboxSpill | None = None) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.max_items = int(max_items)
        self._spill = spill
        self._wells: "OrderedDict[str, WellBatch]" = OrderedDict()
        self._items = 0
        self._spilled_items = 0
        self.spilled_batches = 0
        self._spilled_wells: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def memory_items(self) -> int:
        """Values held in memory (a consistent reading: not the moment between an add and its spill)."""
        with self._lock:
            return self._items

    def pending_items(self) -> int:
        """Values waiting, in memory and spilled."""
        with self._lock:
            return self._items + self._spilled_items

    def add_attributes(self, entity_id: str, scope: str, values: Mapping[str, Any]) -> None:
        with self._lock:
            batch = self._batch(entity_id)
            before = batch.size()
            batch.add_attributes(scope, values)
            self._items += batch.size() - before
            self._enforce_bound()

    def add_points(self, entity_id: str, points: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        with self._lock:
            batch = self._batch(entity_id)
            before = batch.size()
            batch.add_points(points)
            self._items += batch.size() - before
            self._enforce_bound()

    def take(self, max_wells: int) -> list[WellBatch]:
        """Remove and return up to ``max_wells`` batches, oldest first (spilled ones before memory).

        A well that still has batches in the spill is held back, so that its writes reach ThingsBoard
        in the order they were made (an older spilled value never overwrites a newer one)."""
        with self._lock:
            self._restore()
            out = []
            for entity_id in list(self._wells):
                if len(out) >= max_wells:
                    break
                if self._spilled_wells.get(entity_id):
                    continue
                batch = self._wells.pop(entity_id)
                self._items -= batch.size()
                out.append(batch)
            return out

    def put_back(self, batches: Sequence[WellBatch]) -> None:
        """Return undelivered batches; writes queued meanwhile for the same well stay newer."""
        with self._lock:
            for batch in reversed(batches):
                merged = batch
                if self._spilled_wells.pop(batch.entity_id, 0):
                    # spilled while this batch was in flight: those writes are newer than it
                    for spilled in self._spill.pop_entity(batch.entity_id):
                        self._spilled_items -= spilled.size()
                        merged = merged.merge_under(spilled)
                newer = self._wells.pop(batch.entity_id, None)
                merged = merged if newer is None else merged.merge_under(newer)
                if newer is not None:
                    self._items -= newer.size()
                self._wells[batch.entity_id] = merged
                self._wells.move_to_end(batch.entity_id, last=False)
                self._items += merged.size()
            self._enforce_bound()

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()

    def _batch(self, entity_id: str) -> WellBatch:
        batch = self._wells.get(entity_id)
        if batch is None:
            batch = self._wells[entity_id] = WellBatch(entity_id)
        return batch

    def _enforce_bound(self) -> None:
        if self._items <= self.max_items:
            return
        if self._spill is None:
            self._spill = SqliteOutboxSpill()
        while self._items > self.max_items and self._wells:
            _, batch = self._wells.popitem(last=False)
            size = batch.size()
            self._spill.push(batch)
            self._items -= size
            self._spilled_items += size
            self.spilled_batches += 1
            self._spilled_wells[batch.entity_id] = self._spilled_wells.get(batch.entity_id, 0) + 1

    def _restore(self) -> None:
        """Bring the oldest spilled batches back into memory. Every spilled batch of a restored well comes
        back with it (merged oldest to newest, under the well's in-memory writes, which are newer still),
        so a well's writes are never split between memory and spill in the wrong order."""
        if self._spill is None or self._spilled_items == 0:
            return
        # at least the oldest spilled batch comes back (momentarily above the bound) so a memory full of
        # wells held back behind their spilled batches can never stall delivery
        oldest = self._spill.pop_oldest(max(self.max_items - self._items, 1))
        chains: dict[str, list[WellBatch]] = {}
        for batch in oldest:
            chains.setdefault(batch.entity_id, []).append(batch)
        for entity_id, chain in reversed(list(chains.items())):
            chain.extend(self._spill.pop_entity(entity_id))
            self._spilled_wells.pop(entity_id, None)
            merged = chain[0]
            self._spilled_items -= merged.size()
            for newer_spilled in chain[1:]:
                self._spilled_items -= newer_spilled.size()
                merged = merged.merge_under(newer_spilled)
            newer = self._wells.pop(entity_id, None)
            if newer is not None:
                self._items -= newer.size()
                merged = merged.merge_under(newer)
            self._wells[entity_id] = merged
            self._wells.move_to_end(entity_id, last=False)
            self._items += merged.size()
