"""ThingsBoard's Kafka node (``org.thingsboard.rule.engine.kafka.TbKafkaNode``) as a confluent-kafka producer.

TbKafkaNode builds a Java ``KafkaProducer<String, String>`` (kafka/TbKafkaNode.java ``init``): key and value
StringSerializer (UTF-8), ``acks``, ``retries``, ``batch.size``, ``linger.ms``, ``buffer.memory`` from its
configuration, then ``otherProperties`` as they are. Kafka's Java default partitioner puts a keyed record in
partition ``toPositive(murmur2(key bytes)) % partitions``; librdkafka's ``murmur2_random`` partitioner is that
algorithm (random partition for a null key), so a well's records land where ThingsBoard would put them.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

#: ``acks`` values the Java producer accepts (ProducerConfig ACKS_CONFIG).
ACKS = frozenset({"all", "-1", "0", "1"})
#: ``otherProperties`` names that mean the same to the Java producer and to librdkafka; others are refused
#: (a Java-only name would be silently different here).
SHARED_PROPERTIES = frozenset({
    "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password", "compression.type",
    "enable.idempotence", "max.in.flight.requests.per.connection", "request.timeout.ms", "delivery.timeout.ms",
    "retry.backoff.ms", "client.id"})
#: How long one synchronous send waits for the broker's answer unless ``delivery.timeout.ms`` says otherwise
#: (the Java producer's default delivery timeout is 120 s; the stand-in runs a message's nodes in one thread).
DEFAULT_DELIVERY_TIMEOUT_MS = 30_000


class KafkaConfigError(ValueError):
    """A TbKafkaNode configuration the runner cannot reproduce with librdkafka."""


@dataclass(frozen=True, slots=True)
class KafkaDelivery:
    """What the broker answered for one record (TbKafkaNode puts these into the outbound metadata)."""

    topic: str
    partition: int
    offset: int


def producer_config(node_config: Mapping[str, Any], *, client_id: str = "producer-tb-kafka-node") -> dict[str, Any]:
    """The librdkafka configuration equivalent to a TbKafkaNode configuration (:class:`KafkaConfigError` for
    values it cannot reproduce)."""
    acks = str(node_config.get("acks") or "-1")
    if acks not in ACKS:
        raise KafkaConfigError(f"acks must be one of {sorted(ACKS)}, got {acks!r}")
    bootstrap = str(node_config.get("bootstrapServers") or "").strip()
    if not bootstrap:
        raise KafkaConfigError("bootstrapServers is empty")
    other = dict(node_config.get("otherProperties") or {})
    unknown = set(other) - SHARED_PROPERTIES
    if unknown:
        raise KafkaConfigError(f"otherProperties {sorted(unknown)} are not supported (supported: "
                               f"{sorted(SHARED_PROPERTIES)})")
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "partitioner": "murmur2_random",
        "acks": acks,
        "retries": int(node_config.get("retries") or 0),
        # Java batch.size 0 disables batching; librdkafka's smallest batch is 1 byte (one record per request)
        "batch.size": max(1, int(node_config.get("batchSize") or 0)),
        "linger.ms": int(node_config.get("linger") or 0),
        "queue.buffering.max.kbytes": max(1, int(node_config.get("bufferMemory") or 33_554_432) // 1024),
        "delivery.timeout.ms": DEFAULT_DELIVERY_TIMEOUT_MS,
    }
    config.update({k: str(v) for k, v in other.items()})
    return config


def record_headers(metadata: Mapping[str, str], charset: str | None) -> list[tuple[str, bytes]]:
    """TbKafkaNode's headers with ``addMetadataKeyValuesAsKafkaHeaders``: ``tb_msg_md_<key>`` = the metadata value
    encoded in ``kafkaHeadersCharset`` (default UTF-8)."""
    return [(f"tb_msg_md_{k}", str(v).encode(charset or "utf-8")) for k, v in metadata.items()]


class KafkaNodeProducer:
    """Sends records as TbKafkaNode does, synchronously: :meth:`send` returns the broker's partition and offset or
    raises (the node's ``Failure``). One producer per distinct configuration; :meth:`close` flushes them."""

    def __init__(self) -> None:
        self._producers: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def _producer(self, config: dict[str, Any]):
        from confluent_kafka import Producer

        key = tuple(sorted(config.items()))
        with self._lock:
            producer = self._producers.get(key)
            if producer is None:
                producer = self._producers[key] = Producer(config)
            return producer

    def send(self, node_config: Mapping[str, Any], topic: str, key: str | None, value: str,
             headers: list[tuple[str, bytes]] | None = None) -> KafkaDelivery:
        config = producer_config(node_config)
        producer = self._producer(config)
        done = threading.Event()
        result: dict[str, Any] = {}

        def delivered(err, record) -> None:
            result["err"], result["record"] = err, record
            done.set()

        producer.produce(topic, value=value.encode("utf-8"), key=None if key is None else key.encode("utf-8"),
                         headers=headers or None, on_delivery=delivered)
        deadline = time.monotonic() + float(config["delivery.timeout.ms"]) / 1000.0 + 5.0
        while not done.is_set() and time.monotonic() < deadline:
            producer.poll(0.05)
        if not done.is_set():
            raise TimeoutError(f"no answer from {config['bootstrap.servers']} for a record to {topic!r}")
        if result["err"] is not None:
            raise RuntimeError(f"Kafka refused the record to {topic!r}: {result['err']}")
        record = result["record"]
        return KafkaDelivery(record.topic(), record.partition(), record.offset())

    def close(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            producers, self._producers = list(self._producers.values()), {}
        for producer in producers:
            producer.flush(timeout_s)
