"""Kafka ingestion against a real Kafka-protocol broker (Tansu) and a real Redis: exact accounting of every record,
commits after buffering, the partitioner, two replicas splitting a field and handing state over, backpressure while
Redis is down, and a replica killed mid-stream losing nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from engines.fielddata import SyntheticField
from tb_bridge.buffer.redis_buffer import RedisBuffer
from tb_bridge.config import KAFKA_LIFT_TYPES, load_settings
from tb_bridge.faults.kafka_field import KafkaFieldPublisher, synthetic_wells
from tb_bridge.faults.servers import RedisServer
from tb_bridge.history.store import HistoryStore
from tb_bridge.ownership import partition_for_key
from tb_bridge.runner import build_kafka_transport
from tb_bridge.service import Service
from tb_bridge.well_state_store import RedisWellStateStore
from tests.doubles import RecordingWriteback
from tests.polling import wait_for

pytestmark = pytest.mark.integration
PARTITIONS = 4
STEPS = 12
SECRET = "kafka-test-state-secret"


def wait_until(predicate, timeout_s: float, what: str) -> None:
    assert wait_for(predicate, timeout_s=timeout_s, interval_s=0.05), f"timed out waiting for: {what}"


def _settings(bootstrap: str, prefix: str, tmp_path, instance: str = "r1", **kafka):
    topics = {t: f"{prefix}.telemetry.{t}" for t in KAFKA_LIFT_TYPES}
    return load_settings(transport="kafka", database_url=f"sqlite:///{tmp_path}/{instance}.db",
                         kafka={"bootstrap_servers": bootstrap, "group_id": f"{prefix}-group", "instance_name": instance,
                                "telemetry_topics": topics, "events_topic": f"{prefix}.events", "partitions": PARTITIONS,
                                "session_timeout_ms": 6000, **kafka})


def _replica(settings, buffer, state_store=None) -> tuple[Service, object, RecordingWriteback]:
    writeback = RecordingWriteback()
    service = Service(settings, writeback, buffer=buffer, history=HistoryStore(settings.database_url))
    service.state_store = state_store
    transport = build_kafka_transport(settings)
    service.attach(transport)
    return service, transport, writeback


def _publish_field(settings, wells, steps: int = STEPS, t_end_ms: int | None = None) -> list[tuple[str, int]]:
    """Configuration, then ``steps`` samples per well (recent timestamps); returns the (well, ts) sent."""
    from tb_bridge.transport.kafka import kafka_client_config

    publisher = KafkaFieldPublisher(kafka_client_config(settings.kafka.bootstrap_servers),
                                    settings.kafka.telemetry_topics, settings.kafka.events_topic)
    publisher.configure(wells)
    by_name = {w.name: w for w in wells}
    t_end_ms = t_end_ms or int(time.time() * 1000)
    field = SyntheticField(wells_per_lift_type=2, seed=0)
    sent = []
    for name, ts, values in field.samples(steps):
        stamp = t_end_ms - (steps * 300_000) + (ts - field.start_ms)
        publisher.telemetry(by_name[name], stamp, values)
        sent.append((by_name[name].well_id, stamp))
    assert publisher.flush() == 0 and publisher.failed == 0
    return sent, publisher


def _committed(settings, end_offsets) -> tuple[dict, dict]:
    """The group's committed offset of every partition the publishers wrote to the telemetry topics, and the offset
    after each partition's last acknowledged record (from the producers' delivery reports)."""
    telemetry = set(settings.kafka.telemetry_topics.values())
    ends = {k: v for k, v in end_offsets.items() if k[0] in telemetry}
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": settings.kafka.group_id,
                         "enable.auto.commit": False})
    try:
        parts = [TopicPartition(t, p) for t, p in ends]
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(parts, timeout=10)}
        return committed, ends
    finally:
        consumer.close()


def _all_committed(settings, end_offsets) -> bool:
    committed, ends = _committed(settings, end_offsets)
    return all(committed[k] == v for k, v in ends.items())


def _buffered(buffer, wells) -> set[tuple[str, int]]:
    return {(w.well_id, int(ts)) for w in wells for ts in buffer.window(w.well_id).ts_ms}


def test_every_record_is_buffered_or_dead_lettered_and_committed_after(kafka_bootstrap, redis_url, redis_prefix,
                                                                      tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = _settings(kafka_bootstrap, prefix, tmp_path)
    buffer = RedisBuffer(redis_url, key_prefix=redis_prefix)
    service, transport, _ = _replica(settings, buffer)
    try:
        assert transport.wait_assigned(30)
        wells = synthetic_wells(2)  # 2 per lift type: 8 wells
        sent, publisher = _publish_field(settings, wells)
        esp_topic = settings.kafka.telemetry_topics["esp"]
        poison = [b"not json", b'{"msgType": "POST_TELEMETRY_REQUEST"}', b"[" * 5000 + b"]" * 5000]
        for value in poison:
            publisher.raw(esp_topic, wells[0].well_id, value)
        assert publisher.flush() == 0
        total = len(sent) + len(poison) + len(wells)
        wait_until(lambda: transport.stats.records >= total, timeout_s=30, what="all records consumed")
        wait_until(lambda: _buffered(buffer, wells) == set(sent), timeout_s=10, what="all telemetry buffered")
        assert transport.stats.records == total and transport.stats.dead_lettered == 3
        assert len(service.registry.valid_wells()) == 8
        service.router.retry_pending()
        dead = [d for d in service.history.dead_letters(limit=100) if d.source == "kafka"]
        assert len(dead) == 3 and all(f"{esp_topic}[" in d.error for d in dead)
        wait_until(lambda: _all_committed(settings, publisher.end_offsets), timeout_s=15,
                   what="offsets committed up to the last record")
        assert all(service.owns(w.well_id) for w in wells) and transport.ownership.is_leader()
        report = service.run_tier("fast")
        assert report.wells_run == 8
    finally:
        service.close()

    # the producer's partitioner (librdkafka murmur2_random) put every record where our murmur2 says it is
    checker = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{prefix}-check",
                        "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
    checker.subscribe(list(settings.kafka.telemetry_topics.values()))
    seen = 0
    deadline = time.monotonic() + 20
    while seen < len(sent) + 3 and time.monotonic() < deadline:
        for record in checker.consume(500, 0.5):
            assert record.partition() == partition_for_key(record.key(), PARTITIONS)
            seen += 1
    checker.close()
    assert seen == len(sent) + 3


def test_two_replicas_split_the_field_and_hand_state_over(kafka_bootstrap, redis_url, redis_prefix, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    a_settings = _settings(kafka_bootstrap, prefix, tmp_path, "a")
    b_settings = _settings(kafka_bootstrap, prefix, tmp_path, "b")
    store = RedisWellStateStore.from_url(redis_url, SECRET.encode(), key_prefix=redis_prefix)
    a, a_transport, a_writes = _replica(a_settings, RedisBuffer(redis_url, key_prefix=redis_prefix), store)
    b, b_transport, b_writes = _replica(b_settings, RedisBuffer(redis_url, key_prefix=redis_prefix),
                                        RedisWellStateStore.from_url(redis_url, SECRET.encode(), key_prefix=redis_prefix))
    all_parts = {(t, p) for t in a_settings.kafka.telemetry_topics.values() for p in range(PARTITIONS)}
    try:
        wait_until(lambda: a_transport.ownership.assigned() | b_transport.ownership.assigned() == all_parts
                   and a_transport.ownership.assigned() and b_transport.ownership.assigned()
                   and not a_transport.ownership.assigned() & b_transport.ownership.assigned(),
                   timeout_s=40, what="the two replicas split the partitions")
        wells = synthetic_wells(2)
        sent, _ = _publish_field(a_settings, wells)
        wait_until(lambda: _buffered(a.buffer, wells) == set(sent), timeout_s=30, what="all telemetry buffered")
        wait_until(lambda: len(a.registry.valid_wells()) == 8 and len(b.registry.valid_wells()) == 8, timeout_s=15,
                   what="both replicas hold every well's configuration")
        a_owned = {w.well_id for w in wells if a.owns(w.well_id)}
        b_owned = {w.well_id for w in wells if b.owns(w.well_id)}
        assert a_owned.isdisjoint(b_owned) and a_owned | b_owned == {w.well_id for w in wells}
        assert a.ownership.is_leader() != b.ownership.is_leader()
        ra, rb = a.run_tier("fast"), b.run_tier("fast")
        assert (ra.wells_run, rb.wells_run) == (len(a_owned), len(b_owned))
        assert {e for e, _ in a_writes.attributes} == a_owned and {e for e, _ in b_writes.attributes} == b_owned
        if not b_owned:
            pytest.fail("replica b owns no well of this field: pick another seed")
        states_b = {w: dict(b._well_state[w]) for w in b_owned}
        assert all(states_b.values())  # the fast tier left state behind

        b.close()  # leaves the group: its partitions (and its wells' states) go to a
        wait_until(lambda: a_transport.ownership.assigned() == all_parts, timeout_s=30, what="a owns every partition")
        for well_id, state in states_b.items():
            assert well_id not in a._well_state
            taken = a._state_of(well_id)
            assert set(taken) == set(state)  # the same steps' state, as b left it
        assert a.run_tier("fast").wells_run == 8

        # a state signed with another secret is refused, not unpickled
        intruder = RedisWellStateStore.from_url(redis_url, b"another-secret-of-16+", key_prefix=redis_prefix)
        well = next(iter(b_owned))
        intruder.save({well: {"x": 1}})
        assert store.load(well) is None and store.refused == 1
    finally:
        a.close()
        b.close()


def test_buffer_down_pauses_consumption_and_loses_nothing(kafka_bootstrap, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = _settings(kafka_bootstrap, prefix, tmp_path)
    with RedisServer() as redis_server:
        url = redis_server.url
        buffer = RedisBuffer(url, key_prefix="bp:")
        service, transport, _ = _replica(settings, buffer)
        try:
            assert transport.wait_assigned(30)
            wells = synthetic_wells(2)
            first, _ = _publish_field(settings, wells, steps=4, t_end_ms=int(time.time() * 1000) - 3_600_000)
            wait_until(lambda: _buffered(buffer, wells) == set(first), timeout_s=30, what="first samples buffered")
            redis_server.kill()
            second, publisher = _publish_field(settings, wells, steps=6)
            wait_until(lambda: transport.stats.paused >= 1, timeout_s=30, what="consumption paused")
            committed, ends = _committed(settings, publisher.end_offsets)
            assert any(committed[k] < v for k, v in ends.items())  # what the router holds is not committed
            redis_server.start()
            wait_until(lambda: _buffered(buffer, wells) == set(first) | set(second), timeout_s=60,
                       what="everything buffered after Redis came back")
            wait_until(lambda: _all_committed(settings, publisher.end_offsets), timeout_s=30,
                       what="offsets committed once the backlog was appended")
            assert service.router.pending["samples"] == 0
        finally:
            service.close()


def _start_replica(bootstrap, redis_url, key_prefix, instance, topic_prefix):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "tb_bridge.faults.kafka_replica", "--bootstrap", bootstrap,
                             "--redis-url", redis_url, "--key-prefix", key_prefix, "--instance", instance,
                             "--group", f"{topic_prefix}-group", "--topic-prefix", topic_prefix,
                             "--partitions", str(PARTITIONS), "--session-timeout-ms", "6000",
                             "--buffer-points", "1000", "--status-interval-s", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def _last_status(proc, until) -> dict:
    """Read the replica's status lines until ``until(status)`` holds (or it exits)."""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("replica exited")
        status = json.loads(line)
        if until(status):
            return status


def test_a_replica_killed_mid_stream_loses_nothing(kafka_bootstrap, redis_url, redis_prefix, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = _settings(kafka_bootstrap, prefix, tmp_path)
    n_parts = PARTITIONS * len(KAFKA_LIFT_TYPES)
    first = _start_replica(kafka_bootstrap, redis_url, redis_prefix, "r1", prefix)
    second = _start_replica(kafka_bootstrap, redis_url, redis_prefix, "r2", prefix)
    try:
        _last_status(first, lambda s: 0 < len(s["partitions"]) < n_parts)
        _last_status(second, lambda s: 0 < len(s["partitions"]) < n_parts)
        wells = synthetic_wells(3)
        from tb_bridge.transport.kafka import kafka_client_config

        publisher = KafkaFieldPublisher(kafka_client_config(kafka_bootstrap), settings.kafka.telemetry_topics,
                                        settings.kafka.events_topic, linger_ms=1)
        publisher.configure(wells)
        sent = []
        t0 = int(time.time() * 1000) - 600_000
        killed_at = None
        for step in range(150):  # 12 wells x 150 steps, ~3 s
            for i, well in enumerate(wells):
                ts = t0 + step * 1000 + i
                publisher.telemetry(well, ts, {"flow_rate_bpd": 100.0 + step})
                sent.append((well.well_id, ts))
            if step == 50:
                second.send_signal(signal.SIGKILL)  # mid-stream, with uncommitted records in flight
                killed_at = time.monotonic()
            time.sleep(0.02)
        assert publisher.flush() == 0 and publisher.failed == 0
        status = _last_status(first, lambda s: len(s["partitions"]) == n_parts)
        takeover_s = time.monotonic() - killed_at
        assert takeover_s < 6.0 + 10.0  # within the session timeout (plus the rebalance and the stream's own time)
        buffer = RedisBuffer(redis_url, key_prefix=redis_prefix, max_points=1000)
        wait_until(lambda: _buffered(buffer, wells) >= set(sent), timeout_s=30, what="every sent sample buffered")
        assert _buffered(buffer, wells) == set(sent)  # nothing lost, nothing invented
        assert status["dead_lettered"] == 0
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
