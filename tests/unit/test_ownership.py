"""Well ownership by Kafka partition: Kafka's murmur2 partitioner and the assignment bookkeeping."""
from __future__ import annotations

import pytest

from tb_bridge.ownership import PartitionOwnership, murmur2, partition_for_key

# Apache Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2)
KAFKA_MURMUR2_CASES = [
    (b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829), (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (bytes([ord("a"), ord("b"), ord("c")]), 479470107),
]


@pytest.mark.parametrize("data, expected", KAFKA_MURMUR2_CASES)
def test_murmur2_matches_kafka(data, expected):
    assert murmur2(data) == expected


def test_partition_for_key_is_the_positive_hash_modulo_partitions():
    assert partition_for_key(b"foobar", 12) == (-790332482 & 0x7FFFFFFF) % 12 == 6
    assert partition_for_key("21", 7) == (-973932308 & 0x7FFFFFFF) % 7
    with pytest.raises(ValueError):
        partition_for_key("x", 0)


def test_ownership_follows_assignment_and_calls_back():
    own = PartitionOwnership({"esp": "t.esp", "srp": "t.srp"})
    own.set_partition_counts({"t.esp": 4, "t.srp": 2})
    wells = [f"well-{i}" for i in range(40)]
    revoked, assigned = [], []
    own.on_revoked.append(revoked.append)
    own.on_assigned.append(assigned.append)
    assert not any(own.owns(w, "esp") for w in wells) and not own.is_leader()
    own.assign([("t.esp", 0), ("t.esp", 1)])
    assert own.is_leader()  # partition 0 of the first topic
    expected = {w for w in wells if partition_for_key(w, 4) in (0, 1)}
    assert {w for w in wells if own.owns(w, "esp")} == expected and 0 < len(expected) < 40
    assert not own.owns("well-1", "natural_flow")  # no topic for it here
    own.assign([("t.esp", 1), ("t.esp", 2)])  # only (t.esp, 2) is new
    own.revoke([("t.esp", 0), ("t.srp", 1)])  # only (t.esp, 0) was held
    assert assigned == [{("t.esp", 0), ("t.esp", 1)}, {("t.esp", 2)}] and revoked == [{("t.esp", 0)}]
    assert own.assigned() == {("t.esp", 1), ("t.esp", 2)} and not own.is_leader()
    assert own.partition_of("well-3", "srp") == ("t.srp", partition_for_key("well-3", 2))


def test_topics_the_service_creates_and_the_state_store_it_needs():
    from tb_bridge.config import load_settings
    from tb_bridge.runner import build_state_store, kafka_partitions_by_topic

    plain = kafka_partitions_by_topic(load_settings(transport="kafka", kafka={"partitions": 6}))
    assert plain == {"atilax.telemetry.esp": 6, "atilax.telemetry.srp": 6, "atilax.telemetry.pcp": 6,
                     "atilax.telemetry.gas_lift": 6, "atilax.telemetry.natural_flow": 6, "atilax.events": 6}
    # a limited lift-gas budget keeps every gas-lift well on one replica: the allocation stays field-wide
    limited = kafka_partitions_by_topic(load_settings(transport="kafka", lift_gas_available_mscfd=5000.0))
    assert limited["atilax.telemetry.gas_lift"] == 1 and limited["atilax.telemetry.esp"] == 12
    assert build_state_store(load_settings(transport="kafka", redis_url="redis://127.0.0.1:6379/0")) is None
    assert build_state_store(load_settings(transport="mqtt", redis_url="redis://127.0.0.1:6379/0",
                                           kafka={"state_secret": "0123456789abcdef"})) is None
    with pytest.raises(ValueError, match="at least 16"):
        load_settings(kafka={"state_secret": "short"})
