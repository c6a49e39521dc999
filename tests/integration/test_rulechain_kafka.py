"""The rule chain's Kafka branch, installed by `atilax tb setup --transport kafka`, run by the stand-in's rule engine
against a real Kafka-protocol broker, and read back with a plain confluent-kafka consumer: each lift type's telemetry
on its topic, attribute updates on the events topic, the device id as the key, a value that parses into the right
WellEvent, and the partition Kafka's Java producer (ThingsBoard's TbKafkaNode) would choose: murmur2 of the key."""
from __future__ import annotations

import json
import uuid

import pytest

from tb_bridge.events import EventKind
from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD, StandIn
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, run_setup
from tb_bridge.transport.mqtt_envelope import parse_envelope

pytestmark = pytest.mark.integration

PROFILES = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GasLift", "natural_flow": "NaturalFlow"}
TS = 1_700_000_000_000


def java_murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2 (the Java producer's default partitioner), as a signed 32-bit int."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = len(data) % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: str, partitions: int) -> int:
    """BuiltInPartitioner.partitionForKey: Utils.toPositive(Utils.murmur2(key bytes)) % partitions."""
    return (java_murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


def test_java_murmur2_matches_kafkas_own_test_vectors():
    # apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
    assert java_murmur2(b"21") == -973932308
    assert java_murmur2(b"foobar") == -790332482
    assert java_murmur2(b"a-little-bit-long-string") == -985981536
    assert java_murmur2(b"a-little-bit-longer-string") == -1486304829
    assert java_murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert java_murmur2(b"abc") == 479470107


def consume(bootstrap: str, partitions: dict[str, int], expected: int, timeout_s: float = 30.0) -> list:
    """Every record of ``partitions`` (topic -> partition count) from the beginning, by a plain consumer."""
    import time

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, n in partitions.items() for p in range(n)])
    records = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            record = consumer.poll(0.2)
            if record is None:
                continue
            assert record.error() is None, record.error()
            records.append(record)
        time.sleep(0.5)  # nothing beyond what was sent
        records += [r for r in consumer.consume(100, 0.5) if r.error() is None]
    finally:
        consumer.close()
    return records


@pytest.fixture()
def kafka_topics(kafka_bootstrap):
    """Topics of this test (a unique prefix on the session's broker), created with different partition counts."""
    from confluent_kafka.admin import AdminClient, NewTopic

    prefix = f"t{uuid.uuid4().hex[:8]}"
    telemetry = {lift: f"{prefix}.telemetry.{lift}" for lift in PROFILES}
    events = f"{prefix}.events"
    counts = {topic: n for topic, n in zip([*telemetry.values(), events], (6, 5, 7, 4, 3, 12))}
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})  # kept alive until the futures resolve
    futures = admin.create_topics([NewTopic(topic, num_partitions=n, replication_factor=1) for topic, n in counts.items()])
    for future in futures.values():
        future.result(15)
    return telemetry, events, counts


def test_the_chain_publishes_each_well_to_its_lift_types_topic_keyed_and_partitioned_like_thingsboard(
        kafka_bootstrap, kafka_topics):
    telemetry, events, counts = kafka_topics
    tb = StandIn()
    url = tb.start_http()
    wells = {lift: [tb.create_device(f"{profile}-{i}", profile) for i in range(4)] for lift, profile in PROFILES.items()}
    field_id = tb.create_asset("North field", "Field")
    with TbClient(url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        run_setup(client, SetupOptions(transport="kafka", make_root=True, service_user=False,
                                       kafka_bootstrap=kafka_bootstrap, kafka_telemetry_topics=telemetry,
                                       kafka_events_topic=events))
        chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(client).items()}
    bridge = StandInRuleEngine(tb, RuleEngine(chains, StandInOutputs(tb)))  # the real producer (confluent-kafka)
    try:
        for lift, devices in wells.items():
            for i, (_device_id, token) in enumerate(devices):
                tb.post_device_telemetry(token, {"ts": TS + i, "values": {"flow_rate_bpd": 100.0 + i}})
        esp_id = wells["esp"][0][0]
        tb.save_attributes(esp_id, "SERVER_SCOPE", {"pump_depth_ft": 7200.0})
        tb.save_attributes(field_id, "SERVER_SCOPE", {"placement_run_requested": True})
        assert tb.wait_idle(30)
        steps = [s for _msg, trace in bridge.traces for s in trace if s.node == "Publish to Atilax (Kafka)"]
    finally:
        bridge.stop()
        tb.stop()
    assert len(steps) == 22 and all(s.relations == ("Success",) for s in steps), [s.error for s in steps]
    records = consume(kafka_bootstrap, counts, expected=22)
    assert len(records) == 22

    by_key: dict[str, list] = {}
    for record in records:
        key = record.key().decode("utf-8")
        # Kafka's Java default partitioner: the partition is a function of the key alone
        assert record.partition() == java_partition(key, counts[record.topic()]), (record.topic(), key)
        by_key.setdefault(key, []).append((record.topic(), parse_envelope(record.value(), source="kafka")))
    # the chain's Success metadata names the partition and offset the broker gave the record
    sent = {(s.msg.metadata["topic"], int(s.msg.metadata["partition"]), int(s.msg.metadata["offset"])) for s in steps}
    assert sent == {(r.topic(), r.partition(), r.offset()) for r in records}

    for lift, devices in wells.items():
        for i, (device_id, _token) in enumerate(devices):
            received = by_key.pop(device_id)
            telemetry_records = [(t, e) for t, e in received if e.kind is EventKind.TELEMETRY]
            assert [(t, e.well_id, e.ts_ms, dict(e.values), e.device_type, e.well_name, e.source)
                    for t, e in telemetry_records] == [
                (telemetry[lift], device_id, TS + i, {"flow_rate_bpd": 100.0 + i}, PROFILES[lift], f"{PROFILES[lift]}-{i}",
                 "kafka")]
            if device_id == esp_id:  # the configuration change: the events topic, the same key
                (update,) = [(t, e) for t, e in received if e.kind is EventKind.ATTRIBUTES_UPDATED]
                assert (update[0], update[1].well_id, dict(update[1].values), update[1].scope) == (
                    events, esp_id, {"pump_depth_ft": 7200.0}, "SERVER_SCOPE")
            else:
                assert len(received) == 1
    ((topic, placement),) = by_key.pop(field_id)
    assert (topic, placement.kind, placement.well_id, dict(placement.values), placement.metadata["entityType"]) == (
        events, EventKind.ATTRIBUTES_UPDATED, field_id, {"placement_run_requested": True}, "ASSET")
    assert by_key == {}


def test_a_broker_that_does_not_answer_is_the_kafka_nodes_failure():
    """TbKafkaNode routes a record the producer could not deliver to Failure with the error in metadata."""
    from tb_bridge.rulechain_runner.engine import RecordingOutputs
    from tb_bridge.rulechain_runner.kafka_producer import KafkaNodeProducer
    from tb_bridge.standin.messages import TbMsg

    producer = KafkaNodeProducer()
    node = {"type": "org.thingsboard.rule.engine.kafka.TbKafkaNode", "name": "k", "configurationVersion": 1,
            "additionalInfo": {"layoutX": 0, "layoutY": 0},
            "configuration": {"topicPattern": "nowhere", "keyPattern": "k", "bootstrapServers": "127.0.0.1:1",
                              "acks": "-1", "otherProperties": {"delivery.timeout.ms": "1500"}}}
    chain = load_rule_chain({"ruleChain": {"name": "c", "root": True}, "metadata": {
        "firstNodeIndex": 0, "nodes": [node], "connections": []}})
    engine = RuleEngine({"c": chain}, RecordingOutputs(kafka_sender=producer.send))
    try:
        (step,) = engine.process(TbMsg("POST_TELEMETRY_REQUEST", "dev-1", {"ts": "1"}, json.dumps({"x": 1})))
    finally:
        producer.close(0.1)
    assert step.relations == ("Failure",)
    assert step.msg.metadata["error"].startswith("RuntimeError: Kafka refused the record to 'nowhere'")
