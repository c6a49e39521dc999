"""Which wells this replica runs the tiers for: the consumer group's partition assignment is the ownership.

A well's telemetry goes to the topic of its lift type, keyed by its device id; Kafka's default partitioner (the Java
producer's, which ThingsBoard's ``TbKafkaNode`` uses, and ``murmur2_random`` in librdkafka) puts the key in
partition ``murmur2(key) & 0x7fffffff % partitions`` [1]. The replica whose assignment holds that partition owns the
well: it buffers the well's telemetry, runs its tiers, and handles its operator actions (alarm acks, setpoint
approvals, what-if sessions). Every replica keeps every well's configuration (the events topic is read by all).
The field-wide reviews (weekly summary, monthly audit) run on one replica, the *leader*: the owner of partition 0
of the first telemetry topic.

References:
    [1] Apache Kafka, ``org.apache.kafka.common.utils.Utils.murmur2`` and ``BuiltInPartitioner.partitionForKey``
        (MurmurHash2 by Austin Appleby, 32-bit, seed 0x9747b28c).
"""
from __future__ import annotations

import threading
from typing import Callable, Iterable, Mapping

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit MurmurHash2 of ``data`` as a signed Java int (``Utils.murmur2``)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end = length - length % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record: ``(murmur2(key) & 0x7fffffff) % partitions``."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    return (murmur2(raw) & 0x7FFFFFFF) % partitions


class PartitionOwnership:
    """The wells of the partitions assigned to this replica (updated by the consumer's rebalance callbacks).

    ``topic_of_lift_type``: lift type -> telemetry topic; ``partitions_of``: topic -> partition count (from the
    broker's metadata). Thread-safe: the consumer thread updates, tier threads and the router ask."""

    def __init__(self, topic_of_lift_type: Mapping[str, str], leader_topic: str | None = None) -> None:
        self.topic_of_lift_type = dict(topic_of_lift_type)
        self.leader_topic = leader_topic or next(iter(self.topic_of_lift_type.values()))
        self._lock = threading.Lock()
        self._assigned: set[tuple[str, int]] = set()
        self._partitions: dict[str, int] = {}
        self._cache: dict[tuple[str, str], int] = {}
        #: called with the (topic, partition) pairs this replica lost / gained (after the change)
        self.on_revoked: list[Callable[[set[tuple[str, int]]], None]] = []
        self.on_assigned: list[Callable[[set[tuple[str, int]]], None]] = []

    # -- updated by the transport ------------------------------------------------------------------------
    def set_partition_counts(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            if any(self._partitions.get(t) != n for t, n in counts.items()):
                self._cache.clear()
            self._partitions.update(counts)

    def assign(self, pairs: Iterable[tuple[str, int]]) -> None:
        added = set(pairs)
        with self._lock:
            added -= self._assigned
            self._assigned |= added
        if added:
            for callback in self.on_assigned:
                callback(added)

    def revoke(self, pairs: Iterable[tuple[str, int]]) -> None:
        removed = set(pairs)
        with self._lock:
            removed &= self._assigned
            self._assigned -= removed
        if removed:
            for callback in self.on_revoked:
                callback(removed)

    # -- asked by the service ----------------------------------------------------------------------------
    def partition_of(self, well_id: str, lift_type: str) -> tuple[str, int] | None:
        """(topic, partition) of a well's telemetry; None when its topic's partition count is not known yet."""
        topic = self.topic_of_lift_type.get(lift_type)
        if topic is None:
            return None
        with self._lock:
            count = self._partitions.get(topic)
            if not count:
                return None
            cached = self._cache.get((topic, well_id))
            if cached is None:
                cached = self._cache[(topic, well_id)] = partition_for_key(well_id, count)
            return topic, cached

    def owns(self, well_id: str, lift_type: str) -> bool:
        """True when this replica holds the partition of the well's telemetry."""
        where = self.partition_of(well_id, lift_type)
        if where is None:
            return False
        with self._lock:
            return where in self._assigned

    def is_leader(self) -> bool:
        """True on the replica that holds partition 0 of the leader topic (runs the field-wide reviews)."""
        with self._lock:
            return (self.leader_topic, 0) in self._assigned

    def assigned(self) -> set[tuple[str, int]]:
        with self._lock:
            return set(self._assigned)
