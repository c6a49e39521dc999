"""One service replica on the Kafka transport as a child process (load harness, failover test).

    python -m tb_bridge.faults.kafka_replica --bootstrap HOST:PORT --redis-url URL --key-prefix P --instance r1

A real :class:`~tb_bridge.service.Service` (router, Redis buffer, ownership by partition, signed state handover)
behind :class:`~tb_bridge.transport.kafka.KafkaTransport`, with a writeback that only counts (ThingsBoard is not
what this measures). Every ``--status-interval-s`` it prints one JSON line: the partitions it owns, records,
events and commits so far, the publish→buffered latency percentiles of telemetry whose ``ts`` is its publish time
(the load harness stamps it so), and its CPU seconds and resident memory. ``--run-tier TIER`` (repeatable) runs
those tiers every ``--tier-every-s`` and prints their durations. A SIGKILL mid-stream is the failover scenario.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Mapping, Sequence

import numpy as np


class CountingWriteback:
    """A writeback that counts what it is given (the replica's results have nowhere to go)."""

    def __init__(self) -> None:
        self.attributes = 0
        self.timeseries = 0

    def write_attributes(self, entity_id: str, attributes: Mapping[str, Any], scope: str = "SERVER_SCOPE") -> None:
        self.attributes += 1

    def write_timeseries(self, entity_id: str, points: Sequence[Any]) -> None:
        self.timeseries += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class LatencyProbe:
    """Publish→buffered latency of telemetry events whose ``ts_ms`` is their publish time [ms]."""

    def __init__(self, keep: int = 500_000) -> None:
        self._lock = threading.Lock()
        self._values = np.empty(keep, dtype=np.float64)
        self._n = 0
        self.count = 0
        self.first_ms: float | None = None  # wall clock of the first and the last buffered telemetry
        self.last_ms: float | None = None

    def observe(self, events: Sequence[Any], done_ms: float) -> None:
        lat = [done_ms - e.ts_ms for e in events if e.kind.value == "telemetry"]
        with self._lock:
            if lat:
                self.first_ms = done_ms if self.first_ms is None else self.first_ms
                self.last_ms = done_ms
            self.count += len(lat)
            room = self._values.size - self._n
            if lat and room > 0:
                take = lat[:room]
                self._values[self._n:self._n + len(take)] = take
                self._n += len(take)

    def percentiles(self) -> dict[str, float | None]:
        with self._lock:
            values = self._values[:self._n].copy()
        if values.size == 0:
            return {"p50_ms": None, "p99_ms": None}
        return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2)}


def rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--key-prefix", required=True, help="Redis key prefix of the shared buffer and states")
    parser.add_argument("--instance", required=True)
    parser.add_argument("--group", default="atilax")
    parser.add_argument("--topic-prefix", default="atilax", help="topics <prefix>.telemetry.<lift type>, <prefix>.events")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--batch-max-events", type=int, default=5000)
    parser.add_argument("--buffer-points", type=int, default=288)
    parser.add_argument("--state-secret", default="atilax-test-state-secret")
    parser.add_argument("--status-interval-s", type=float, default=0.5)
    parser.add_argument("--transport", choices=["kafka", "mqtt"], default="kafka")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--mqtt-shared-group", default=None, help="MQTT 5 shared subscription of the replicas")
    parser.add_argument("--bare", action="store_true", help="the anchor: a plain confluent-kafka consumer of the same "
                        "topics and group that only reads each record's ts (no service, no buffer)")
    parser.add_argument("--run-tier", action="append", default=[], choices=["fast", "hourly", "daily"])
    parser.add_argument("--tier-every-s", type=float, default=0.0, help="0: run the tiers once, when asked on stdin")
    args = parser.parse_args(argv)
    if args.bare:
        return bare_consumer(args)

    from tb_bridge.buffer.redis_buffer import RedisBuffer
    from tb_bridge.config import KAFKA_LIFT_TYPES, load_settings
    from tb_bridge.history.store import HistoryStore
    from tb_bridge.runner import build_kafka_transport, build_state_store
    from tb_bridge.service import Service

    workdir = tempfile.mkdtemp(prefix=f"atilax-replica-{args.instance}-")
    topics = {t: f"{args.topic_prefix}.telemetry.{t}" for t in KAFKA_LIFT_TYPES}
    settings = load_settings(
        transport="kafka", redis_url=args.redis_url, database_url=f"sqlite:///{workdir}/history.db",
        limits={"buffer_points": args.buffer_points, "event_max_age_s": 10 * 365.25 * 86_400},
        kafka={"bootstrap_servers": args.bootstrap, "group_id": args.group, "instance_name": args.instance,
               "telemetry_topics": topics, "events_topic": f"{args.topic_prefix}.events",
               "partitions": args.partitions, "session_timeout_ms": args.session_timeout_ms,
               "batch_max_events": args.batch_max_events, "state_secret": args.state_secret})
    buffer = RedisBuffer(args.redis_url, key_prefix=args.key_prefix, max_points=args.buffer_points)
    writeback = CountingWriteback()
    service = Service(settings, writeback, buffer=buffer, history=HistoryStore(settings.database_url))
    store = build_state_store(settings)
    if store is not None:
        store.key_prefix = args.key_prefix
    service.state_store = store
    probe = LatencyProbe()
    if args.transport == "kafka":
        transport = build_kafka_transport(settings)

        def batch_sink(events) -> None:
            service.router.handle_batch(events)
            probe.observe(events, time.time() * 1000.0)

        transport.bind_router(batch_sink=batch_sink, backlog=lambda: service.router.pending["samples"],
                              retry=service.router.retry_pending)
        service.use_ownership(transport.ownership)
        transport.start(service.handle, service.router.handle_raw_dead_letter)
    else:  # one event at a time, as the MQTT transport delivers
        from tb_bridge.transport.mqtt import MqttTransport

        transport = MqttTransport("127.0.0.1", args.mqtt_port, topic_filters=(f"{args.topic_prefix}/v1/+/+",),
                                  shared_group=args.mqtt_shared_group, client_id=f"bench-{args.instance}",
                                  session_expiry_s=0, clean_start=True)

        def sink(event) -> None:
            service.handle(event)
            probe.observe((event,), time.time() * 1000.0)

        transport.start(sink, service.router.handle_raw_dead_letter)
        transport.wait_subscribed(30)
    tier_durations: dict[str, list[float]] = {}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def run_tiers() -> None:
        for tier in args.run_tier:
            report = service.run_tier(tier)
            tier_durations.setdefault(tier, []).append(round(report.duration_s, 3))
            errors = sorted({e[:160] for errs in report.errors.values() for e in errs})
            print(json.dumps({"tier": tier, "wells_run": report.wells_run, "wells_failed": report.wells_failed,
                              "duration_s": round(report.duration_s, 3), "errors": errors[:5]}), flush=True)

    def tier_loop() -> None:
        if args.tier_every_s > 0:
            while not stop.wait(args.tier_every_s):
                run_tiers()
        else:
            for line in sys.stdin:  # "tiers" on stdin: run them once now
                if line.strip() == "tiers":
                    run_tiers()

    if args.run_tier:
        threading.Thread(target=tier_loop, daemon=True, name="tiers").start()
    started = time.time()
    while not stop.wait(args.status_interval_s):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if args.transport == "kafka":
            stats = transport.stats
            counts = {"partitions": sorted(f"{t}:{p}" for t, p in transport.ownership.assigned()),
                      "records": stats.records, "events": stats.events, "dead_lettered": stats.dead_lettered,
                      "commits": stats.commits}
        else:
            counts = {"partitions": ["mqtt"] if transport.wait_subscribed(0) else [], "records": transport.received,
                      "events": transport.events_delivered, "dead_lettered": transport.dead_lettered, "commits": 0}
        status = {"instance": args.instance, "t": round(time.time() - started, 3), **counts,
                  "buffered_telemetry": probe.count, **probe.percentiles(),
                  "first_buffered_ms": probe.first_ms, "last_buffered_ms": probe.last_ms,
                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "rss_mb": rss_mb(),
                  "pending": service.router.pending["samples"], "wells_valid": len(service.registry.valid_wells())}
        print(json.dumps(status), flush=True)
    transport.stop()
    service.close()
    return 0


def bare_consumer(args: argparse.Namespace) -> int:
    """The anchor row of the load harness: the same topics, group and batching as the transport, nothing else."""
    from confluent_kafka import Consumer

    from tb_bridge.config import KAFKA_LIFT_TYPES

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"{args.group}", "client.id": args.instance,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": args.session_timeout_ms, "fetch.wait.max.ms": 10,
                         "partition.assignment.strategy": "cooperative-sticky"})
    from tb_bridge.transport.kafka import ensure_topics, kafka_client_config

    topics = [f"{args.topic_prefix}.telemetry.{t}" for t in KAFKA_LIFT_TYPES]
    ensure_topics(kafka_client_config(args.bootstrap), {t: args.partitions for t in topics})
    consumer.subscribe(topics)
    probe, stop, started = LatencyProbe(), threading.Event(), time.time()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    class _Stamp:  # what LatencyProbe reads of an event
        class kind:
            value = "telemetry"

        def __init__(self, ts_ms: int) -> None:
            self.ts_ms = ts_ms

    next_status = 0.0
    while not stop.is_set():
        first = consumer.poll(0.05)
        if first is not None:
            records = [first, *consumer.consume(args.batch_max_events - 1, 0)]
            stamps = [_Stamp(int(json.loads(r.value())["ts"])) for r in records if r.error() is None]
            probe.observe(stamps, time.time() * 1000.0)
            consumer.commit(asynchronous=True)
        if time.time() >= next_status:
            next_status = time.time() + args.status_interval_s
            usage = resource.getrusage(resource.RUSAGE_SELF)
            print(json.dumps({"instance": args.instance, "t": round(time.time() - started, 3),
                              "partitions": [f"{p.topic}:{p.partition}" for p in consumer.assignment()],
                              "records": probe.count, "events": probe.count, "dead_lettered": 0, "commits": 0,
                              "buffered_telemetry": probe.count, **probe.percentiles(),
                              "first_buffered_ms": probe.first_ms, "last_buffered_ms": probe.last_ms,
                              "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "rss_mb": rss_mb(), "pending": 0}),
                  flush=True)
    consumer.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
