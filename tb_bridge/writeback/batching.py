"""The delivery engine shared by every writeback: per-well outbox, one sender thread, backoff, flush.

A subclass implements :meth:`BatchingWriteback._deliver` for one well's batch (removing from the batch
what was delivered, so a retry resends only the rest) and raises :class:`TransientWriteError` (kept,
retried with exponential backoff and full jitter) or :class:`PermanentWriteError` (dead-lettered).
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from typing import Any, Callable, Mapping, Sequence

from tb_bridge.writeback.outbox import Outbox, OutboxSpill, WellBatch

log = logging.getLogger(__name__)


class TransientWriteError(Exception):
    """Worth retrying later (ThingsBoard 5xx/408/429, timeouts, connection lost, not connected)."""


class PermanentWriteError(Exception):
    """Retrying cannot help (the request itself is refused); the batch is dead-lettered."""


class BatchingWriteback:
    """:class:`~tb_bridge.writeback.base.Writeback` machinery.

    Writes are merged per well in a bounded :class:`Outbox` and sent by one background thread that waits
    ``linger_s`` to gather a burst and sends up to ``wells_per_round`` wells per round. On a transient
    failure everything is kept and retried after ``uniform(b/2, b)`` seconds, ``b`` doubling from
    ``backoff_initial_s`` to ``backoff_max_s``.
    """

    name = "batching"

    def __init__(self, *, linger_s: float = 0.005, wells_per_round: int = 256, max_outbox_items: int = 100_000,
                 spill: OutboxSpill | None = None, backoff_initial_s: float = 0.2, backoff_max_s: float = 10.0,
                 seed: int | None = None, on_delivered: Callable[[WellBatch], None] | None = None) -> None:
        if linger_s < 0 or wells_per_round < 1 or backoff_initial_s <= 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("need linger_s >= 0, wells_per_round >= 1, 0 < backoff_initial_s <= backoff_max_s")
        self._linger_s = float(linger_s)
        self._wells_per_round = int(wells_per_round)
        self._backoff_initial_s, self._backoff_max_s = float(backoff_initial_s), float(backoff_max_s)
        self._rng = random.Random(seed)
        self.outbox = Outbox(max_outbox_items, spill)
        self.dead_letters: deque[tuple[WellBatch, str]] = deque(maxlen=1000)
        self._cond = threading.Condition()
        self._stopping = False
        self._in_flight = 0
        self._in_flight_items = 0
        self._failures = 0
        self._round = 0
        self._last_failed_round = 0
        self._next_try = 0.0
        self._backoff = 0.0
        self._thread: threading.Thread | None = None
        self.batches_sent = 0
        self.last_error: str | None = None
        #: called with a copy of each batch once ThingsBoard confirmed it (metrics, benchmarks)
        self.on_delivered = on_delivered
        # alarm operations (create / clear), queued in order by a subclass's create_alarm / clear_alarm and sent
        # by its _deliver_alarms at every flush; ids of the alarms this process raised; refused operations
        self._alarm_ops: deque[tuple] = deque()
        self._alarm_lock = threading.Lock()
        self._alarm_ids: dict[tuple[str, str], str] = {}
        self.alarm_dead_letters: deque[tuple] = deque(maxlen=1000)
        # delete operations ("attributes", entity_id, keys, scope) / ("timeseries", entity_id, keys, start_ts, end_ts),
        # in order; sent by the subclass's _delete after the writes made before them (see delete_attributes)
        self._delete_ops: deque[tuple] = deque()
        self._delete_lock = threading.Lock()
        self.delete_dead_letters: deque[tuple] = deque(maxlen=1000)

    # --- Writeback protocol --------------------------------------------------------------------------
    def write_attributes(self, entity_id: str, attributes: Mapping[str, Any], scope: str = "SERVER_SCOPE") -> None:
        if not attributes:
            return
        self.outbox.add_attributes(entity_id, scope, attributes)
        self._wake()

    def write_timeseries(self, entity_id: str, points: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        points = [(int(ts), dict(values)) for ts, values in points if values]
        if not points:
            return
        self.outbox.add_points(entity_id, points)
        self._wake()

    def delete_attributes(self, entity_id: str, keys: Sequence[str], scope: str = "SERVER_SCOPE",
                          timeout_s: float = 30.0) -> bool:
        """Delete attributes ``keys`` of ``entity_id``: the writes made before are delivered first (a flush bounded
        by ``timeout_s``), then the delete is sent; True when it was delivered, False when it is kept for the next
        flush (ThingsBoard unreachable). Idempotent: deleting an absent key is no error."""
        keys = [str(k) for k in dict.fromkeys(keys)]
        if not keys:
            return True
        return self._queue_delete(("attributes", entity_id, keys, scope), timeout_s)

    def delete_timeseries(self, entity_id: str, keys: Sequence[str], start_ts: int, end_ts: int,
                          timeout_s: float = 30.0) -> bool:
        """Delete the points of ``keys`` with ``start_ts <= ts < end_ts`` (ms), after the writes made before (as
        :meth:`delete_attributes`). ThingsBoard's ``deleteAllDataForKeys`` ends at its own clock, so points stamped in
        the future need an explicit ``end_ts`` beyond them."""
        keys = [str(k) for k in dict.fromkeys(keys)]
        if not keys:
            return True
        if int(end_ts) <= int(start_ts):
            raise ValueError(f"end_ts ({end_ts}) must be after start_ts ({start_ts})")
        return self._queue_delete(("timeseries", entity_id, keys, int(start_ts), int(end_ts)), timeout_s)

    def _queue_delete(self, op: tuple, timeout_s: float) -> bool:
        self._flush_outbox(timeout_s)
        with self._delete_lock:
            self._delete_ops.append(op)
        return self._deliver_deletes()

    def _deliver_deletes(self) -> bool:
        """Send the queued delete operations in order; False when a transient failure kept some."""
        with self._delete_lock:
            while self._delete_ops:
                op = self._delete_ops[0]
                try:
                    self._delete(op)
                except PermanentWriteError as exc:
                    log.error("%s delete of %s on %s refused, dead-lettered: %s", self.name, op[2], op[1], exc)
                    self.delete_dead_letters.append((op, str(exc)))
                except Exception as exc:  # transient: keep, retry at the next flush
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("%s delete failed (%s); %d operations kept", self.name, self.last_error,
                                len(self._delete_ops))
                    return False
                self._delete_ops.popleft()
            return True

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Send everything now (queued deletes, values, then queued alarm operations); True when all was delivered,
        False when a failed attempt (begun after this call) left the rest in the outbox, the delete or the alarm
        queue, or the timeout passed."""
        deleted = self._deliver_deletes()
        delivered = self._flush_outbox(timeout_s)
        return self._deliver_alarms() and delivered and deleted

    def _flush_outbox(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            round_at_start = self._round  # a round already under way when flush was called does not count
            self._next_try = 0.0
            self._ensure_thread()
            self._cond.notify_all()
            while True:
                if self.outbox.pending_items() == 0 and self._in_flight == 0:
                    return True
                if self._last_failed_round > round_at_start:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush (bounded by ``timeout_s``), stop the sender; what is left stays in the outbox/spill."""
        self.flush(timeout_s=timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s + 5.0)
        left = self.outbox.pending_items()
        if left:
            log.error("%s writeback closed with %d values undelivered", self.name, left)
        self.outbox.close()
        self._release()

    def pending_items(self) -> int:
        """Values, alarm and delete operations not yet confirmed by ThingsBoard (outbox, spilled, in flight, queued)."""
        with self._cond:
            return self.outbox.pending_items() + self._in_flight_items + len(self._alarm_ops) + len(self._delete_ops)

    def stats(self) -> dict[str, Any]:
        return {"pending_items": self.pending_items(), "memory_items": self.outbox.memory_items,
                "spilled_batches": self.outbox.spilled_batches, "batches_sent": self.batches_sent,
                "failures": self._failures, "dead_letters": len(self.dead_letters), "last_error": self.last_error}

    # --- subclass hooks --------------------------------------------------------------------------------
    def _deliver(self, batch: WellBatch) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _delete(self, op: tuple) -> None:
        """Send one delete operation (:meth:`delete_attributes`, :meth:`delete_timeseries`); raise
        :class:`TransientWriteError` to keep it or :class:`PermanentWriteError` to dead-letter it."""
        raise PermanentWriteError(f"{type(self).__name__} cannot delete {op[0]}")

    def _deliver_alarms(self) -> bool:
        """Send the queued alarm operations in order; False when a transient failure kept some. Writebacks that
        queue none need not override it."""
        return not self._alarm_ops

    def _release(self) -> None:
        """Release connections (called once by :meth:`close`)."""

    # --- worker --------------------------------------------------------------------------------------
    def _wake(self) -> None:
        with self._cond:
            self._ensure_thread()
            self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._stopping:
            raise RuntimeError(f"{type(self).__name__} is closed")
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=f"{self.name}-writeback", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (self.outbox.pending_items() == 0 or time.monotonic() < self._next_try):
                    wait = None if self.outbox.pending_items() == 0 else self._next_try - time.monotonic()
                    self._cond.wait(wait)
                if self._stopping:
                    return
            if self._linger_s > 0:
                time.sleep(self._linger_s)
            batches = self.outbox.take(self._wells_per_round)
            with self._cond:
                self._round += 1
                this_round = self._round
                self._in_flight = len(batches)
                self._in_flight_items = sum(b.size() for b in batches)
            failed = self._send_all(batches)
            with self._cond:
                self._in_flight = 0
                self._in_flight_items = 0
                if not failed:
                    self._backoff = 0.0
                    self._next_try = 0.0
                else:
                    self._failures += 1
                    self._last_failed_round = this_round
                    self._backoff = min(self._backoff_max_s, max(self._backoff_initial_s, 2 * self._backoff))
                    self._next_try = time.monotonic() + self._rng.uniform(0.5 * self._backoff, self._backoff)
                self._cond.notify_all()

    def _send_all(self, batches: list[WellBatch]) -> bool:
        """Deliver one round; put back what failed transiently; True when something failed."""
        if not batches:
            return False
        snapshots = [WellBatch(b.entity_id, {k: dict(v) for k, v in b.attributes.items()}, dict(b.points))
                     for b in batches] if self.on_delivered is not None else None
        outcomes = self._deliver_round(batches)
        kept: list[WellBatch] = []
        for i, (batch, error) in enumerate(zip(batches, outcomes)):
            if error is None:
                self.batches_sent += 1
                if snapshots is not None:
                    self.on_delivered(snapshots[i])
            elif isinstance(error, PermanentWriteError):
                log.error("%s writeback to %s refused, dead-lettered: %s", self.name, batch.entity_id, error)
                self.dead_letters.append((batch, str(error)))
            else:  # transient, bad credentials (may be fixed), or unexpected: keep, retry
                self.last_error = str(error) if isinstance(error, TransientWriteError) else f"{type(error).__name__}: {error}"
                kept.append(batch)
        if kept:
            log.warning("%s writeback failed (%s); %d wells kept for retry", self.name, self.last_error, len(kept))
            self.outbox.put_back(kept)
        return bool(kept)

    def _deliver_round(self, batches: list[WellBatch]) -> list[Exception | None]:
        """Deliver a round's batches (one per well); the outcome of each. Default: in order, and after the
        first transient failure the rest are not tried (they are kept for the retry)."""
        outcomes: list[Exception | None] = []
        for batch in batches:
            if outcomes and isinstance(outcomes[-1], Exception) and not isinstance(outcomes[-1], PermanentWriteError):
                outcomes.append(TransientWriteError("not tried: an earlier delivery of this round failed"))
                continue
            try:
                self._deliver(batch)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
