"""A synthetic field published to Kafka the way our rule chain's Kafka node does (tests and ``bench/bench_load.py``).

Each well gets a device id (UUID); its configuration goes to the events topic as an ``ATTRIBUTES_UPDATED``
envelope, its telemetry to the topic of its lift type as ``POST_TELEMETRY_REQUEST`` envelopes, every record keyed by
the device id with Kafka's default (murmur2) partitioner, as ThingsBoard's Java ``TbKafkaNode`` producer does.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from tb_bridge.transport.mqtt_envelope import build_envelope
from tb_bridge.wells.model import DEVICE_PROFILE_BY_LIFT_TYPE


@dataclass(frozen=True)
class FieldWell:
    well_id: str
    name: str
    lift_type: str
    attributes: Mapping[str, Any]


def synthetic_wells(wells_per_lift_type: int | Mapping[str, int], seed: int = 0) -> list[FieldWell]:
    """Wells of :class:`engines.fielddata.SyntheticField` with stable device ids (uuid5 of their names)."""
    from engines.fielddata import SyntheticField

    field = SyntheticField(wells_per_lift_type=wells_per_lift_type, seed=seed)
    return [FieldWell(str(uuid.uuid5(uuid.NAMESPACE_URL, f"atilax-test/{seed}/{w.name}")), w.name, w.lift_type,
                      dict(w.attributes)) for w in field.wells]


def telemetry_record(well: FieldWell, ts_ms: int, values: Mapping[str, Any]) -> bytes:
    """The JSON value of one telemetry record."""
    meta = {"deviceName": well.name, "deviceType": DEVICE_PROFILE_BY_LIFT_TYPE[well.lift_type], "ts": str(ts_ms)}
    return json.dumps(build_envelope("POST_TELEMETRY_REQUEST", well.well_id, meta, dict(values)),
                      separators=(",", ":")).encode()


def attributes_record(well: FieldWell, ts_ms: int, values: Mapping[str, Any] | None = None) -> bytes:
    """The JSON value of one server-attribute update (the well's configuration by default)."""
    meta = {"deviceName": well.name, "deviceType": DEVICE_PROFILE_BY_LIFT_TYPE[well.lift_type], "ts": str(ts_ms),
            "scope": "SERVER_SCOPE"}
    return json.dumps(build_envelope("ATTRIBUTES_UPDATED", well.well_id, meta,
                                     dict(well.attributes if values is None else values)),
                      separators=(",", ":")).encode()


class KafkaFieldPublisher:
    """Publishes a field's configuration and telemetry; :meth:`flush` waits for the broker's acknowledgements."""

    def __init__(self, client_config: Mapping[str, Any], telemetry_topics: Mapping[str, str], events_topic: str,
                 linger_ms: int = 5) -> None:
        from confluent_kafka import Producer

        config = dict(client_config)
        config.update({"partitioner": "murmur2_random", "acks": "all", "linger.ms": linger_ms,
                       "enable.idempotence": False, "queue.buffering.max.messages": 1_000_000})
        self._producer = Producer(config)
        self.telemetry_topics = dict(telemetry_topics)
        self.events_topic = events_topic
        self.sent = 0
        self.failed = 0
        #: (topic, partition) -> offset after the last acknowledged record (what a consumer commits at the end)
        self.end_offsets: dict[tuple[str, int], int] = {}

    def _on_delivery(self, error, message) -> None:
        if error is not None:
            self.failed += 1
            return
        key = (message.topic(), message.partition())
        self.end_offsets[key] = max(self.end_offsets.get(key, 0), message.offset() + 1)

    def produce(self, topic: str, key: str, value: bytes, timestamp_ms: int | None = None) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value, on_delivery=self._on_delivery,
                                       **({"timestamp": timestamp_ms} if timestamp_ms else {}))
                break
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(0.05)
        self.sent += 1
        if self.sent % 1000 == 0:
            self._producer.poll(0)

    def configure(self, wells: Iterable[FieldWell], ts_ms: int | None = None) -> None:
        ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
        for well in wells:
            self.produce(self.events_topic, well.well_id, attributes_record(well, ts_ms))

    def telemetry(self, well: FieldWell, ts_ms: int, values: Mapping[str, Any]) -> None:
        self.produce(self.telemetry_topics[well.lift_type], well.well_id, telemetry_record(well, ts_ms, values),
                     timestamp_ms=int(time.time() * 1000))

    def raw(self, topic: str, key: str, value: bytes) -> None:
        self.produce(topic, key, value)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait for every acknowledgement; returns how many records are still unacknowledged (0 when done)."""
        return self._producer.flush(timeout_s)


def telemetry_values(lift_type: str, step: int, well_index: int) -> dict[str, float]:
    """A plausible, deterministic sample of a lift type's main keys (load tests: the values do not matter)."""
    base = {"esp": {"flow_rate_bpd": 1500.0, "intake_pressure_psi": 900.0, "motor_current_a": 40.0,
                    "frequency_hz": 55.0, "motor_temperature_f": 220.0},
            "srp": {"flow_rate_bpd": 220.0, "spm": 8.0, "motor_current_a": 30.0},
            "pcp": {"flow_rate_bpd": 200.0, "rpm": 250.0, "motor_current_a": 25.0},
            "gas_lift": {"flow_rate_bpd": 1000.0, "injection_rate_mscfd": 600.0, "tubing_pressure_psi": 250.0},
            "natural_flow": {"flow_rate_bpd": 800.0, "tubing_pressure_psi": 300.0}}[lift_type]
    wobble = ((step * 7 + well_index * 13) % 11 - 5) / 500.0
    return {k: round(v * (1.0 + wobble), 3) for k, v in base.items()}


def field_keys(wells: Sequence[FieldWell]) -> dict[str, FieldWell]:
    return {w.well_id: w for w in wells}
