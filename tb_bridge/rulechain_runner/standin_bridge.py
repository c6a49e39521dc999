"""Runs the rule engine inside the ThingsBoard stand-in, routing each pipeline message as ThingsBoard does:
to the default rule chain of its originator's profile when the profile names one, else to the root chain
(DefaultDeviceStateService / TbMsg ruleChainId: a device or asset profile's ``defaultRuleChainId``).

:class:`StandInOutputs` saves into the stand-in's store (without re-emitting pipeline messages, as
ThingsBoard's save nodes do not re-enter the root chain for device telemetry), keeps alarms in the store,
and hands push-to-edge, MQTT publishes, Kafka records and REST calls to the callables it is given.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from tb_bridge.rulechain_runner.engine import RecordingOutputs, RuleEngine, Step
from tb_bridge.rulechain_runner.kafka_producer import KafkaDelivery, KafkaNodeProducer
from tb_bridge.standin.messages import TbMsg



class StandInOutputs(RecordingOutputs):
    """Outputs backed by a :class:`~tb_bridge.standin.core.StandIn`.

    ``edge_sink(msg)`` receives push-to-edge messages (the stand-in's Edge server), ``mqtt_sink(host, port,
    topic, payload, retain)`` the MQTT node's publishes (default: one paho publish to the configured
    broker), ``kafka_sender(config, topic, key, value, headers)`` the Kafka node's records (default: a
    confluent-kafka producer per node configuration, :class:`KafkaNodeProducer`), ``http`` the REST node's
    requests (default: httpx). Everything is also recorded; :meth:`close` flushes the Kafka producers."""

    def __init__(self, standin: Any, *, edge_sink: Callable[[TbMsg], None] | None = None,
                 mqtt_sink: Callable[[str, int, str, str, bool], None] | None = None,
                 http: Callable[..., tuple[int, str]] | None = None,
                 kafka_sender: Callable[..., KafkaDelivery] | None = None) -> None:
        self._producer = KafkaNodeProducer() if kafka_sender is None else None
        super().__init__(http=http, kafka_sender=kafka_sender or self._producer.send)
        self._tb = standin
        self._edge_sink = edge_sink
        self._mqtt_sink = mqtt_sink

    def originator_fields(self, originator_id: str, originator_type: str) -> Mapping[str, Any]:
        if originator_type not in ("DEVICE", "ASSET"):
            return {}
        entity = self._tb.store.device(originator_id) if originator_type == "DEVICE" else self._tb.store.asset(originator_id)
        return {"id": entity.id, "name": entity.name, "type": entity.type, "label": getattr(entity, "label", None)}

    def save_timeseries(self, originator_id, entries, ttl_s) -> None:
        super().save_timeseries(originator_id, entries, ttl_s)
        self._tb.store.save_timeseries(originator_id, entries)

    def save_attributes(self, originator_id, scope, values) -> None:
        super().save_attributes(originator_id, scope, values)
        self._tb.store.save_attributes(originator_id, scope, values, self._tb.clock_ms())

    def alarm(self, originator_id, alarm_type):
        for a in self._tb.store.alarms(originator_id):
            if a.type == alarm_type and a.status.startswith("ACTIVE"):
                return {"id": a.id, "type": a.type, "severity": a.severity, "originator": originator_id,
                        "start_ts": a.start_ts_ms, "cleared": False, "status": a.status, "details": dict(a.details)}
        return None

    def save_alarm(self, originator_id, alarm) -> None:
        super().save_alarm(originator_id, alarm)
        if alarm["cleared"]:
            self._tb.store.clear_alarm(alarm["id"])
        else:
            details = alarm.get("details") if isinstance(alarm.get("details"), dict) else {}
            self._tb.store.create_alarm(originator_id, alarm["type"], alarm["severity"], alarm["start_ts"], details)

    def push_to_edge(self, msg: TbMsg) -> None:
        super().push_to_edge(msg)
        if self._edge_sink is not None:
            self._edge_sink(msg)

    def mqtt_publish(self, host, port, topic, payload, retain) -> None:
        super().mqtt_publish(host, port, topic, payload, retain)
        if self._mqtt_sink is not None:
            self._mqtt_sink(host, port, topic, payload, retain)
            return
        import paho.mqtt.publish as publish

        publish.single(topic, payload, qos=1, retain=retain, hostname=host, port=port)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()


class StandInRuleEngine:
    """Subscribes ``engine`` to the stand-in's pipeline; :meth:`stop` unsubscribes.

    ``profile_chains`` maps ``(originator type, profile name)`` (e.g. ``("DEVICE", "ESP")``) to the
    profile's default rule-chain id (:func:`tb_bridge.tbsetup.installer.profile_rule_chains` reads them
    from ThingsBoard's REST API); messages of other originators go to the root chain. The traces of the
    last ``keep`` messages are kept for inspection (``traces``)."""

    def __init__(self, standin: Any, engine: RuleEngine, *, keep: int = 1000,
                 profile_chains: Mapping[tuple[str, str], str] | None = None) -> None:
        self.engine = engine
        self.traces: list[tuple[TbMsg, list[Step]]] = []
        self.profile_chains = dict(profile_chains or {})
        self._tb = standin
        self._keep = int(keep)
        self._lock = threading.Lock()
        self._unsubscribe = standin.subscribe(self._on_message)

    def chain_for(self, msg: TbMsg) -> str | None:
        """The rule-chain id ThingsBoard would hand ``msg`` to (``None``: the root chain)."""
        lookup = {"DEVICE": self._tb.store.device, "ASSET": self._tb.store.asset}.get(msg.originator_type)
        if lookup is None or not self.profile_chains:
            return None
        try:
            profile = lookup(msg.originator_id).type
        except LookupError:  # an entity deleted meanwhile: ThingsBoard falls back to the root chain
            return None
        return self.profile_chains.get((msg.originator_type, profile))

    def _on_message(self, msg: TbMsg) -> None:
        trace = self.engine.process(msg, self.chain_for(msg))
        with self._lock:
            self.traces.append((msg, trace))
            del self.traces[:-self._keep]

    def stop(self) -> None:
        """Unsubscribes, then closes the engine's outputs when they have ``close`` (Kafka producers flushed)."""
        self._unsubscribe()
        close = getattr(self.engine.outputs, "close", None)
        if close is not None:
            close()
