"""Kafka transport: consumes what our rule chain's Kafka node (ThingsBoard's ``TbKafkaNode``) publishes.

Topics: one per lift type for telemetry (``kafka.telemetry_topics``, default ``atilax.telemetry.<lift type>``),
keyed by the device id so a well's events stay ordered in one partition, and ``kafka.events_topic`` for attribute
updates and alarm actions. Each record's value is the JSON envelope of :mod:`tb_bridge.transport.mqtt_envelope`.

- **Telemetry** is read by the replicas' consumer group (``kafka.group_id``): the group's partition assignment is
  the ownership of wells (:class:`tb_bridge.ownership.PartitionOwnership`); a rebalance hands wells over.
- **Events** are read by every replica in full (its own group ``<group_id>.events.<instance_name>``): each replica
  keeps every well's configuration; only the owner acts on an event's side effects.
- **Batches**: one poll returns up to ``batch_max_events`` records; their events go to the router together
  (telemetry in one buffer append), and only then are the offsets committed: at-least-once, a replica that dies
  before the commit has its batch redelivered to the next owner (duplicates are harmless: the buffer merges a
  sample by its timestamp).
- **Poison records** (not an envelope, bad JSON, too deep) are dead-lettered with their reason and skipped: they
  never block a partition.
- **Backpressure**: while the buffer is unreachable the router holds samples in memory; the transport then stops
  committing and pauses its partitions, retries the router's backlog with a doubling delay, and resumes once it is
  appended. A replica that dies meanwhile loses nothing: the uncommitted records are read again.
confluent-kafka (librdkafka) reconnects by itself; the consumer threads never let an exception escape.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from tb_bridge.events import EventError, WellEvent
from tb_bridge.log_rate import RateLimitedLog
from tb_bridge.ownership import PartitionOwnership
from tb_bridge.transport.base import EventSink, RawDeadLetterSink
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.mqtt_envelope import parse_envelope

log = logging.getLogger(__name__)
_bad_input_log = RateLimitedLog(log)

#: Delays between backlog retries while the buffer is unreachable [s] (doubling, capped).
BACKPRESSURE_FIRST_S, BACKPRESSURE_MAX_S = 0.2, 5.0


@dataclass
class KafkaStats:
    """Counters of one transport (read by tests and the load harness)."""

    records: int = 0
    events: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    paused: int = 0
    rebalances: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def kafka_client_config(bootstrap_servers: str, *, security_protocol: str = "PLAINTEXT",
                        sasl_mechanism: str | None = None, sasl_username: str | None = None,
                        sasl_password: str | None = None, ssl_ca_file: str | None = None,
                        ssl_cert_file: str | None = None, ssl_key_file: str | None = None) -> dict[str, Any]:
    """librdkafka settings shared by the consumers, the admin client and the producers of tests and benches."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "security.protocol": security_protocol}
    for key, value in (("sasl.mechanism", sasl_mechanism), ("sasl.username", sasl_username),
                       ("sasl.password", sasl_password), ("ssl.ca.location", ssl_ca_file),
                       ("ssl.certificate.location", ssl_cert_file), ("ssl.key.location", ssl_key_file)):
        if value:
            config[key] = value
    return config


def ensure_topics(client_config: Mapping[str, Any], partitions_by_topic: Mapping[str, int],
                  replication_factor: int = 1, timeout_s: float = 15.0) -> dict[str, int]:
    """Create the topics that do not exist yet; returns every topic's partition count as the broker has it."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(dict(client_config))
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [NewTopic(topic, num_partitions=int(n), replication_factor=int(replication_factor))
               for topic, n in partitions_by_topic.items() if topic not in existing]
    if missing:
        for topic, future in admin.create_topics(missing, operation_timeout=timeout_s).items():
            try:
                future.result()
                log.info("created Kafka topic %s", topic)
            except Exception as exc:  # created meanwhile by another replica: fine
                if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    return partition_counts(admin, partitions_by_topic, timeout_s)


def partition_counts(admin: Any, topics: Sequence[str] | Mapping[str, Any], timeout_s: float = 15.0) -> dict[str, int]:
    """Partition count of each topic (0 when the broker does not know it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        counts = {t: len(metadata[t].partitions) if t in metadata and metadata[t].error is None else 0 for t in topics}
        if all(counts.values()) or time.monotonic() >= deadline:
            return counts
        time.sleep(0.1)


class KafkaTransport:
    """Consumes the telemetry topics in the replicas' group and the events topic in full; see the module doc.

    ``telemetry_topics``: lift type -> topic; ``partitions_by_topic``: the partitions of topics it creates when
    missing (``create_topics``); ``client_config``: :func:`kafka_client_config` (bootstrap, security)."""

    name = "kafka"

    def __init__(self, client_config: Mapping[str, Any], *, group_id: str, instance_name: str,
                 telemetry_topics: Mapping[str, str], events_topic: str,
                 partitions_by_topic: Mapping[str, int] | None = None, create_topics: bool = True,
                 replication_factor: int = 1, batch_max_events: int = 5_000, poll_timeout_s: float = 0.05,
                 session_timeout_ms: int = 10_000, auto_offset_reset: str = "earliest",
                 loop_guard: LoopGuard | None = None) -> None:
        if batch_max_events < 1:
            raise ValueError("batch_max_events must be >= 1")
        self.client_config = dict(client_config)
        self.group_id = group_id
        self.instance_name = instance_name
        self.telemetry_topics = dict(telemetry_topics)
        self.events_topic = events_topic
        topics = [*dict.fromkeys(self.telemetry_topics.values()), events_topic]
        self.partitions_by_topic = {t: int((partitions_by_topic or {}).get(t, 12)) for t in topics}
        self.create_topics = create_topics
        self.replication_factor = replication_factor
        self.batch_max_events = int(batch_max_events)
        self.poll_timeout_s = float(poll_timeout_s)
        self.session_timeout_ms = int(session_timeout_ms)
        self.auto_offset_reset = auto_offset_reset
        self.loop_guard = loop_guard
        self.client_id = f"atilax-{instance_name}-{socket.gethostname()}"
        #: which wells this replica owns (the telemetry group's assignment)
        self.ownership = PartitionOwnership(self.telemetry_topics)
        self.stats = KafkaStats()
        self._sink: EventSink | None = None
        self._batch_sink: Callable[[Sequence[WellEvent]], None] | None = None
        self._backlog: Callable[[], int] | None = None
        self._retry: Callable[[], None] | None = None
        self._dead_letter: RawDeadLetterSink | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = {"telemetry": threading.Event(), "events": threading.Event()}
        self._lock = threading.Lock()

    # --- wiring ------------------------------------------------------------------------------------
    def bind_router(self, *, batch_sink: Callable[[Sequence[WellEvent]], None], backlog: Callable[[], int],
                    retry: Callable[[], None]) -> None:
        """The router's batch entry, its count of samples held for the buffer, and its retry of them (the service
        calls this before :meth:`start`)."""
        self._batch_sink, self._backlog, self._retry = batch_sink, backlog, retry

    def start(self, sink: EventSink, dead_letter: RawDeadLetterSink | None = None) -> None:
        if self._threads:
            raise RuntimeError("transport already started")
        self._sink, self._dead_letter = sink, dead_letter
        if self.create_topics:
            counts = ensure_topics(self.client_config, self.partitions_by_topic, self.replication_factor)
        else:
            from confluent_kafka.admin import AdminClient

            counts = partition_counts(AdminClient(dict(self.client_config)), self.partitions_by_topic)
        self.ownership.set_partition_counts({t: n for t, n in counts.items() if n})
        self._stop.clear()
        for role, topics, group in (("telemetry", sorted(set(self.telemetry_topics.values())), self.group_id),
                                    ("events", [self.events_topic], f"{self.group_id}.events.{self.instance_name}")):
            thread = threading.Thread(target=self._consume_loop, args=(role, topics, group),
                                      name=f"kafka-{role}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Commit what was handed to the router, leave the group (its partitions move at once) and close."""
        if not self._threads:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def wait_assigned(self, timeout_s: float = 30.0) -> bool:
        """True once both consumers have joined their groups (an assignment, possibly empty, was received)."""
        deadline = time.monotonic() + timeout_s
        return all(event.wait(max(0.0, deadline - time.monotonic())) for event in self._ready.values())

    # --- consumer threads -----------------------------------------------------------------------------
    def _consumer(self, group: str) -> Any:
        from confluent_kafka import Consumer

        config = dict(self.client_config)
        config.update({
            "group.id": group, "client.id": self.client_id, "enable.auto.commit": False,
            "auto.offset.reset": self.auto_offset_reset, "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.session_timeout_ms // 5),
            "partition.assignment.strategy": "cooperative-sticky", "enable.partition.eof": False,
            "fetch.wait.max.ms": 10,
        })
        return Consumer(config)

    def _consume_loop(self, role: str, topics: list[str], group: str) -> None:
        """One consumer's life; nothing escapes (a crash here would silently stop the ingestion)."""
        consumer = None
        while not self._stop.is_set():
            try:
                consumer = self._consumer(group)
                self._run(consumer, role, topics)
                break
            except Exception:
                log.exception("Kafka %s consumer failed; restarting it in 1 s", role)
                self._close(consumer, role)
                consumer = None
                self._stop.wait(1.0)
        self._close(consumer, role)

    def _run(self, consumer: Any, role: str, topics: list[str]) -> None:
        ready = self._ready[role]
        owns_wells = role == "telemetry"

        def on_assign(c, partitions) -> None:
            ready.set()
            with self._lock:
                self.stats.rebalances += 1
            if owns_wells:
                self.ownership.assign((p.topic, p.partition) for p in partitions)
            if partitions:
                log.info("Kafka %s: assigned %s", role, _describe(partitions))

        def on_revoke(c, partitions) -> None:
            with self._lock:
                self.stats.rebalances += 1
            self._commit(c, role)  # what was handed to the router is done: the next owner starts after it
            if owns_wells:
                self.ownership.revoke((p.topic, p.partition) for p in partitions)
            if partitions:
                log.info("Kafka %s: revoked %s", role, _describe(partitions))

        def on_lost(c, partitions) -> None:  # no commit: the group has moved on; the others read them again
            if owns_wells:
                self.ownership.revoke((p.topic, p.partition) for p in partitions)
            log.warning("Kafka %s: lost %s (session timed out)", role, _describe(partitions))

        consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
        while not self._stop.is_set():
            # wait for the first record only, then take what else is there: a batch under load, no added delay
            # when quiet (consume(n, timeout) would wait out its timeout for a batch that is not full)
            first = consumer.poll(self.poll_timeout_s)
            if first is None:
                continue
            records = [first]
            if self.batch_max_events > 1:
                records.extend(consumer.consume(self.batch_max_events - 1, 0))
            self._deliver(records)
            if self._backlog is not None and self._backlog() > 0:
                self._wait_for_buffer(consumer, role)
            self._commit(consumer, role, asynchronous=True)

    def _deliver(self, records: Sequence[Any]) -> None:
        """Parse a poll's records; events go to the router as one batch, poison records to the dead letters."""
        events: list[WellEvent] = []
        for record in records:
            error = record.error()
            if error is not None:
                log.warning("Kafka consumer error: %s", error)
                continue
            topic = record.topic()
            with self._lock:
                self.stats.records += 1
                self.stats.by_topic[topic] = self.stats.by_topic.get(topic, 0) + 1
            payload = record.value() or b""
            try:
                event = parse_envelope(payload, source=self.name)
            except Exception as exc:  # EventError, or a parser bug: the record is kept either way
                reason = str(exc) if isinstance(exc, EventError) else f"internal error: {type(exc).__name__}: {exc}"
                self._reject(topic, record.partition(), record.offset(), payload, reason)
                continue
            if event is None or (self.loop_guard is not None and not self.loop_guard.admit(event)):
                continue
            events.append(event)
        if not events:
            return
        with self._lock:
            self.stats.events += len(events)
            self.stats.batches += 1
        try:
            if self._batch_sink is not None:
                self._batch_sink(events)
            elif self._sink is not None:
                for event in events:
                    self._sink(event)
        except Exception:  # the router never raises for bad input; a bug must not stop the consumer
            log.exception("event sink failed on a batch of %d events", len(events))

    def _wait_for_buffer(self, consumer: Any, role: str) -> None:
        """Backpressure: pause the partitions and retry the router's backlog until the buffer took it."""
        assignment = consumer.assignment()
        if assignment:
            consumer.pause(assignment)
        with self._lock:
            self.stats.paused += 1
        log.warning("Kafka %s: buffer unreachable, %d samples held; consumption paused", role, self._backlog())
        delay = BACKPRESSURE_FIRST_S
        while not self._stop.is_set() and self._backlog() > 0:
            self._stop.wait(delay)
            try:
                if self._retry is not None:
                    self._retry()
            except Exception:
                log.exception("retrying the held telemetry failed")
            # keeps the group membership (callbacks, heartbeats) while paused; records of partitions assigned
            # meanwhile (not paused) go to the router, which holds them behind the backlog
            more = consumer.consume(self.batch_max_events, 0)
            if more:
                self._deliver(more)
            delay = min(BACKPRESSURE_MAX_S, delay * 2)
        assignment = consumer.assignment()
        if assignment:
            consumer.resume(assignment)
        log.info("Kafka %s: buffer reachable again; consumption resumed", role)

    def _commit(self, consumer: Any, role: str, asynchronous: bool = False) -> None:
        """Commit the positions of the records handed to the router, unless the router still holds some for the
        buffer (then they are read again after a crash)."""
        if self._backlog is not None and self._backlog() > 0:
            return
        try:
            consumer.commit(asynchronous=asynchronous)
            with self._lock:
                self.stats.commits += 1
        except Exception as exc:  # nothing to commit yet (_NO_OFFSET), or the group is rebalancing
            if "NO_OFFSET" not in str(exc):
                log.debug("Kafka %s commit failed: %s", role, exc)

    def _close(self, consumer: Any, role: str) -> None:
        if consumer is None:
            return
        try:
            self._commit(consumer, role)
            consumer.close()  # leaves the group: its partitions move to the others at once
        except Exception:
            log.debug("Kafka %s consumer close failed", role, exc_info=True)

    def _reject(self, topic: str, partition: int, offset: int, payload: bytes, reason: str) -> None:
        with self._lock:
            self.stats.dead_lettered += 1
        _bad_input_log.warning("kafka", "Kafka record %s[%d]@%d dead-lettered: %s", topic, partition, offset, reason)
        if self._dead_letter is not None:
            try:
                self._dead_letter(self.name, bytes(payload), f"{topic}[{partition}]@{offset}: {reason}")
            except Exception:
                log.exception("dead-letter sink failed")


def _describe(partitions: Sequence[Any]) -> str:
    by_topic: dict[str, list[int]] = {}
    for p in partitions:
        by_topic.setdefault(p.topic, []).append(p.partition)
    return ", ".join(f"{t}{sorted(ps)}" for t, ps in sorted(by_topic.items()))
