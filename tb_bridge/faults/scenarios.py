"""Fault scenarios: a stream into the service on real parts while one part is killed and started again.

Every scenario streams at a fixed rate, kills its part when ``kill_fraction`` of the stream was sent, keeps
streaming while the part is down for ``down_s``, starts it again on the same port and data, and then counts:

- ``sent``: events whose hand-over succeeded (for MQTT: publishes the broker acknowledged with PUBACK);
- ``processed``: distinct sent events the service kept: in the telemetry buffer, or in the dead-letter table
  with a reason (for the ThingsBoard outage: time-series points ThingsBoard holds);
- ``lost`` = ``sent`` - ``processed`` (the goal is 0; duplicates are harmless: at-least-once);
- ``recovery_s``: from the restart until the service used the part again successfully;
- ``drain_s``: from the restart until everything sent was accounted for;
- ``alive``: a new event after the recovery was processed.

The service is :class:`~tb_bridge.service.Service` with a REST writeback to the in-process ThingsBoard stand-in.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from tb_bridge.events import EventKind, WellEvent
from tb_bridge.faults.servers import HOST, MosquittoServer, PostgresServer, RedisServer

TELEMETRY_KEY = "flow_rate_bpd"
WRITE_KEY = "opt_dca_forecast_bpd"  # a time-series key of the key table (one point per write)
STEP_MS = 1000
TAIL_RATE_PER_S = 10.0  # the trickle of fresh telemetry after the stream (wells keep reporting)

Key = tuple[str, int]  # (well id, ts_ms): the identity of one event


@dataclass
class FaultReport:
    """What one scenario counted (see the module docstring)."""

    scenario: str
    sent: int
    processed: int
    dead_lettered: int
    lost: int
    duplicates: int = 0
    recovery_s: float | None = None
    drain_s: float | None = None
    alive: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    HEADERS = ("scenario", "sent", "processed", "dead-lettered", "lost", "duplicates", "recovery s", "drain s", "alive")

    def row(self) -> list[Any]:
        return [self.scenario, self.sent, self.processed, self.dead_lettered, self.lost, self.duplicates,
                self.recovery_s, self.drain_s, "yes" if self.alive else "NO"]


# --------------------------------------------------------------------------------------------------
# streams and pacing
# --------------------------------------------------------------------------------------------------
def telemetry_stream(wells: Sequence[str], per_well: int, *, bad_every: int = 0, t0_ms: int | None = None,
                     ) -> list[tuple[Key, WellEvent]]:
    """``per_well`` telemetry events per well, round robin, one second apart, ending a minute ago.
    With ``bad_every`` > 0 every such event carries a negative rate (bad input: dead-lettered)."""
    t0 = t0_ms if t0_ms is not None else int(time.time() * 1000) - (per_well + 60) * STEP_MS
    out = []
    for k in range(per_well):
        for well in wells:
            n = len(out)
            value = -1.0 if bad_every and n % bad_every == bad_every - 1 else 100.0 + k
            ts = t0 + k * STEP_MS
            out.append(((well, ts), WellEvent(EventKind.TELEMETRY, well, ts, {TELEMETRY_KEY: value}, source="fault")))
    return out


class Feeder(threading.Thread):
    """Calls ``send(item)`` for each item at ``rate_per_s``; ``sent`` lists the items whose send returned."""

    def __init__(self, items: Iterable[Any], send: Callable[[Any], Any], rate_per_s: float) -> None:
        super().__init__(name="fault-feeder", daemon=True)
        self._items, self._send, self._rate = list(items), send, float(rate_per_s)
        self.sent: list[Any] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        start = time.monotonic()
        try:
            for i, item in enumerate(self._items):
                ahead = start + i / self._rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                self._send(item)
                self.sent.append(item)
        except BaseException as exc:  # reported by the scenario
            self.error = exc

    def wait_sent(self, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.sent) < count and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)


class ProgressWatch(threading.Thread):
    """From its start, polls ``counter()`` until it grows past its first value; ``seconds`` is how long that
    took (None until then): the recovery time of a part started just before."""

    def __init__(self, counter: Callable[[], int], timeout_s: float) -> None:
        super().__init__(name="fault-progress-watch", daemon=True)
        self._counter, self._timeout_s = counter, timeout_s
        self._since = time.monotonic()
        self._base = counter()
        self._done = threading.Event()
        self.seconds: float | None = None

    def run(self) -> None:
        deadline = self._since + self._timeout_s
        while not self._done.is_set() and time.monotonic() < deadline:
            if self._counter() > self._base:
                self.seconds = time.monotonic() - self._since
                return
            time.sleep(0.005)

    def result(self) -> float | None:
        self._done.set()
        self.join()
        return self.seconds


def poll(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


# --------------------------------------------------------------------------------------------------
# the service on the stand-in
# --------------------------------------------------------------------------------------------------
class ServiceRig:
    """A :class:`~tb_bridge.service.Service` writing back over REST to an in-process ThingsBoard stand-in
    whose HTTP server can be killed (connections dropped, requests unanswered) and started on the same port
    while its store (ThingsBoard's database) survives. ``wells`` ESP devices are created."""

    def __init__(self, *, wells: int, buffer: Any = None, history_url: str | None = None, points_per_well: int = 288,
                 outbox_max_items: int = 100_000) -> None:
        from tb_bridge.config import load_settings
        from tb_bridge.history.store import HistoryStore
        from tb_bridge.service import Service
        from tb_bridge.standin import StandIn
        from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD
        from tb_bridge.writeback.rest import RestWriteback

        self._tmp = tempfile.mkdtemp(prefix="atilax-fault-rig-")
        history_url = history_url or f"sqlite:///{self._tmp}/history.db"
        self.tb = StandIn()
        self._http = None
        self.port = 0
        self.start_thingsboard()
        self.wells = [self.tb.create_device(f"FAULT-{i:04d}", "ESP")[0] for i in range(wells)]
        settings = load_settings(database_url=history_url, limits={"buffer_points": max(points_per_well + 8, 2),
                                                                   "outbox_max_items": outbox_max_items})
        self.writeback = RestWriteback(f"http://{HOST}:{self.port}", TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD,
                                       max_outbox_items=outbox_max_items)
        self.service = Service(settings, self.writeback, buffer=buffer, history=HistoryStore(history_url))

    def start_thingsboard(self) -> None:
        from tb_bridge.standin.http_server import HttpServerThread
        from tb_bridge.standin.rest_api import build_app

        self._http = HttpServerThread(build_app(self.tb), HOST, self.port)
        self._http.start()
        self.port = self._http.port

    def kill_thingsboard(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.stop(abort=True)

    def buffered(self, wells: Iterable[str] | None = None) -> set[Key]:
        """(well, ts) of every sample in the telemetry buffer."""
        return {(w, int(ts)) for w in (wells or self.wells) for ts in self.service.buffer.window(w).ts_ms}

    def close(self) -> None:
        try:
            self.service.close()
        finally:
            self.kill_thingsboard()
            self.tb.stop()
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "ServiceRig":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dead_letter_keys(history: Any, limit: int = 1_000_000) -> set[Key]:
    """(well, ts) of every dead-lettered event that carries a reason."""
    out = set()
    for letter in history.dead_letters(limit=limit):
        try:
            payload = json.loads(letter.payload)
            key = (str(payload["well_id"]), int(payload["ts_ms"]))
        except (ValueError, KeyError, TypeError):
            continue
        if letter.error:
            out.add(key)
    return out


def _account(scenario: str, sent: Sequence[Key], buffered: set[Key], dead: set[Key]) -> FaultReport:
    sent_set = set(sent)
    kept = sent_set & (buffered | dead)
    return FaultReport(scenario, sent=len(sent_set), processed=len(kept),
                       dead_lettered=len((sent_set & dead) - buffered), lost=len(sent_set - kept))


# --------------------------------------------------------------------------------------------------
# MQTT
# --------------------------------------------------------------------------------------------------
class TelemetryPublisher:
    """Publishes telemetry envelopes at QoS 1 as ThingsBoard's MQTT node does (MQTT 3.1.1, clean session,
    paho queueing what it cannot send while the broker is away); :meth:`acknowledged` lists the events
    the broker acknowledged (PUBACK)."""

    def __init__(self, port: int, topic_root: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.topic_root = topic_root
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fault-pub-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv311, clean_session=True)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(1000)
        self._client.reconnect_delay_set(0.1, 1.0)
        self._connected = threading.Event()
        self._client.on_connect = lambda *args: self._connected.set()
        # PUBACKs arrive on paho's thread under its own lock: record the message ids without taking ours
        self._acked_mids: deque[int] = deque()
        self._client.on_publish = lambda client, userdata, mid, reason, properties: self._acked_mids.append(mid)
        self._published: list[tuple[int, Key]] = []
        self._client.connect_async(HOST, port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self._connected.wait(timeout_s)

    def publish(self, item: tuple[Key, WellEvent]) -> None:
        from tb_bridge.transport.mqtt_envelope import build_envelope

        key, event = item
        name = f"W-{event.well_id[:8]}"
        envelope = build_envelope("POST_TELEMETRY_REQUEST", event.well_id,
                                  {"deviceName": name, "deviceType": "ESP", "ts": str(event.ts_ms)}, dict(event.values))
        info = self._client.publish(f"{self.topic_root}/v1/ESP/{name}", json.dumps(envelope), qos=1)
        self._published.append((info.mid, key))  # queued by paho even while the broker is away

    def acknowledged(self) -> list[Key]:
        """Events whose PUBACK arrived (message ids repeat after 65535 publishes: matched in order)."""
        acks = Counter(list(self._acked_mids))
        out = []
        for mid, key in list(self._published):
            if acks[mid] > 0:
                acks[mid] -= 1
                out.append(key)
        return out

    def unacknowledged(self) -> int:
        return len(self._published) - len(self.acknowledged())

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _mqtt_settings(port: int, topic_root: str, **mqtt: Any):
    from tb_bridge.config import load_settings

    # everything else as the service's defaults (client id from the instance name, persistent session)
    return load_settings(transport="mqtt", mqtt={"host": HOST, "port": port, "topic": f"{topic_root}/v1/+/+", **mqtt})


def _finish_mqtt(name: str, rig: ServiceRig, publisher: TelemetryPublisher, transport: Any, t_restart: float,
                 watch: ProgressWatch, extra_kept: Callable[[], set[Key]], drain_timeout_s: float) -> FaultReport:
    poll(lambda: publisher.unacknowledged() == 0, drain_timeout_s)
    acked = publisher.acknowledged()

    def report() -> FaultReport:
        return _account(name, acked, rig.buffered() | extra_kept(), dead_letter_keys(rig.service.history))

    drained = poll(lambda: report().lost == 0, drain_timeout_s, 0.1)
    result = report()
    result.recovery_s = watch.result()
    result.drain_s = time.monotonic() - t_restart if drained else None
    delivered = rig.buffered() | extra_kept()
    result.duplicates = max(0, transport.events_delivered + len(extra_kept()) - len(delivered))
    result.details.update(unacknowledged=publisher.unacknowledged(), connects=transport.connects,
                          client_id=transport.client_id)
    probe_well = rig.wells[0]
    probe = ((probe_well, int(time.time() * 1000)), WellEvent(EventKind.TELEMETRY, probe_well, int(time.time() * 1000),
                                                              {TELEMETRY_KEY: 1.0}, source="fault"))
    publisher.publish(probe)
    result.alive = poll(lambda: probe[0] in rig.buffered([probe_well]), 10.0)
    return result


def mqtt_broker_restart(*, wells: int = 10, per_well: int = 100, rate_per_s: float = 1000.0, down_s: float = 1.0,
                        kill_fraction: float = 0.4, drain_timeout_s: float = 30.0, **mqtt: Any) -> FaultReport:
    """Mosquitto (persistence on) is stopped with SIGTERM mid-stream and started again; the service runs with
    the configuration's MQTT defaults (``mqtt`` overrides them: e.g. ``shared_group``)."""
    from tb_bridge.runner import build_transport

    root = f"fault-{uuid.uuid4().hex[:10]}"
    with MosquittoServer() as broker, ServiceRig(wells=wells, points_per_well=per_well + 1) as rig:
        settings = _mqtt_settings(broker.port, root, instance_name=f"fault-{uuid.uuid4().hex[:8]}", **mqtt)
        transport = build_transport(settings)
        rig.service.attach(transport)
        if not transport.wait_subscribed(10):
            raise RuntimeError("the transport did not subscribe")
        publisher = TelemetryPublisher(broker.port, root)
        try:
            publisher.wait_connected()
            stream = telemetry_stream(rig.wells, per_well)
            feeder = Feeder(stream, publisher.publish, rate_per_s)
            feeder.start()
            feeder.wait_sent(int(len(stream) * kill_fraction))
            broker.kill()
            time.sleep(down_s)
            broker.start()
            t_restart = time.monotonic()
            watch = ProgressWatch(lambda: transport.events_delivered, drain_timeout_s)
            watch.start()
            feeder.join()
            if feeder.error is not None:
                raise feeder.error
            result = _finish_mqtt("mqtt broker restart" + (" (shared group)" if mqtt.get("shared_group") else ""),
                                  rig, publisher, transport, t_restart, watch, set, drain_timeout_s)
            result.details["down_s"] = down_s
            return result
        finally:
            publisher.close()


def mqtt_service_crash(*, wells: int = 10, per_well: int = 100, rate_per_s: float = 1000.0, down_s: float = 1.0,
                       kill_fraction: float = 0.4, drain_timeout_s: float = 30.0,
                       shared_group: str | None = None) -> FaultReport:
    """The service's MQTT side (a child process) is SIGKILLed mid-stream, so its session is never ended; a new
    service with the same client id comes back and must receive the backlog the broker kept."""
    from tb_bridge.runner import build_transport

    root = f"fault-{uuid.uuid4().hex[:10]}"
    with MosquittoServer() as broker, ServiceRig(wells=wells, points_per_well=per_well + 1) as rig:
        # both incarnations run with the configuration's defaults: the same instance name, the same client id
        settings = _mqtt_settings(broker.port, root, instance_name=f"fault-{uuid.uuid4().hex[:8]}",
                                  shared_group=shared_group)
        out_path = os.path.join(broker.workdir, "first-incarnation.txt")
        command = [sys.executable, "-m", "tb_bridge.faults.mqtt_receiver", "--port", str(broker.port), "--topic",
                   settings.mqtt.topic, "--client-id", settings.mqtt.session_client_id(), "--session-expiry-s",
                   str(settings.mqtt.session_expiry_s), "--out", out_path]
        if shared_group:
            command += ["--shared-group", shared_group]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        publisher = None
        try:
            if child.stdout.readline().strip() != "subscribed":
                raise RuntimeError("the first service incarnation did not subscribe")
            publisher = TelemetryPublisher(broker.port, root)
            publisher.wait_connected()

            def first_incarnation() -> set[Key]:
                try:
                    with open(out_path, encoding="utf-8") as fh:
                        rows = [line.split() for line in fh if line.endswith("\n")]
                except FileNotFoundError:
                    return set()
                return {(w, int(ts)) for w, ts in rows}

            stream = telemetry_stream(rig.wells, per_well)
            feeder = Feeder(stream, publisher.publish, rate_per_s)
            feeder.start()
            feeder.wait_sent(int(len(stream) * kill_fraction))
            child.kill()  # SIGKILL: no DISCONNECT, the session stays with the broker
            child.wait(10)
            time.sleep(down_s)
            transport = build_transport(settings)
            t_restart = time.monotonic()
            watch = ProgressWatch(lambda: transport.events_delivered, drain_timeout_s)
            watch.start()
            rig.service.attach(transport)
            feeder.join()
            if feeder.error is not None:
                raise feeder.error
            first = first_incarnation()
            result = _finish_mqtt("mqtt service crash" + (" (shared group)" if shared_group else ""), rig,
                                  publisher, transport, t_restart, watch, lambda: first, drain_timeout_s)
            result.details.update(first_incarnation=len(first), down_s=down_s)
            return result
        finally:
            if publisher is not None:
                publisher.close()
            if child.poll() is None:
                child.kill()
                child.wait(10)


# --------------------------------------------------------------------------------------------------
# Redis and PostgreSQL
# --------------------------------------------------------------------------------------------------
def _tail_rounds(wells: int, drain_timeout_s: float) -> int:
    """Rounds of the trickle that follows the stream (one event per well per round) for ``drain_timeout_s``."""
    return int(drain_timeout_s * TAIL_RATE_PER_S) // max(wells, 1) + 1


def _direct_stream(name: str, rig: ServiceRig, stream: list[tuple[Key, WellEvent]], main_count: int,
                   rate_per_s: float, kill_fraction: float, kill: Callable[[], None], start: Callable[[], None],
                   down_s: float, progress: Callable[[], int], drain_timeout_s: float, probe_value: float) -> FaultReport:
    """Feed ``stream[:main_count]`` at ``rate_per_s`` around the outage, then the rest as a trickle of
    :data:`TAIL_RATE_PER_S` (wells keep reporting) until every event sent is accounted for."""
    feeder = Feeder(stream[:main_count], lambda item: rig.service.handle(item[1]), rate_per_s)
    feeder.start()
    feeder.wait_sent(int(main_count * kill_fraction))
    kill()
    time.sleep(down_s)
    start()
    t_restart = time.monotonic()
    watch = ProgressWatch(progress, drain_timeout_s)
    watch.start()
    feeder.join()
    if feeder.error is not None:
        raise feeder.error
    sent = [key for key, _ in feeder.sent]

    def report() -> FaultReport:
        return _account(name, sent, rig.buffered(), dead_letter_keys(rig.service.history))

    tail = iter(stream[main_count:])
    deadline = time.monotonic() + drain_timeout_s
    drained = False
    while time.monotonic() < deadline:
        if report().lost == 0:
            drained = True
            break
        item = next(tail, None)
        if item is not None:
            rig.service.handle(item[1])
            sent.append(item[0])
        time.sleep(1.0 / TAIL_RATE_PER_S)
    result = report()
    result.recovery_s = watch.result()
    result.drain_s = time.monotonic() - t_restart if drained else None
    well = rig.wells[0]
    ts = int(time.time() * 1000)
    rig.service.handle(WellEvent(EventKind.TELEMETRY, well, ts, {TELEMETRY_KEY: probe_value}, source="fault"))
    kept = rig.buffered([well]) | dead_letter_keys(rig.service.history)
    result.alive = (well, ts) in kept
    result.details.update(down_s=down_s, trickle=len(sent) - len(feeder.sent))
    return result


def redis_restart(*, wells: int = 10, per_well: int = 100, rate_per_s: float = 1000.0, down_s: float = 1.0,
                  kill_fraction: float = 0.4, drain_timeout_s: float = 30.0) -> FaultReport:
    """Redis (the telemetry buffer; append-only file synced on every write) is SIGKILLed mid-stream and started
    again; the telemetry keeps streaming into the service."""
    from tb_bridge.buffer.redis_buffer import RedisBuffer

    rounds = per_well + _tail_rounds(wells, drain_timeout_s)
    with RedisServer() as server:
        buffer = RedisBuffer(server.url, max_points=rounds + 8, key_prefix=f"fault-{uuid.uuid4().hex[:8]}:")
        with ServiceRig(wells=wells, buffer=buffer, points_per_well=rounds + 1) as rig:
            stream = telemetry_stream(rig.wells, rounds)
            return _direct_stream("redis restart", rig, stream, wells * per_well, rate_per_s, kill_fraction,
                                  server.kill, server.start, down_s, lambda: rig.service.router.stats.telemetry,
                                  drain_timeout_s, 1.0)


def postgres_restart(*, wells: int = 10, per_well: int = 100, rate_per_s: float = 1000.0, down_s: float = 1.0,
                     kill_fraction: float = 0.4, bad_every: int = 4, drain_timeout_s: float = 30.0) -> FaultReport:
    """PostgreSQL (history and dead-letter store) is shut down immediately mid-stream and started again; every
    ``bad_every``-th event is bad input that must reach the dead-letter table."""
    rounds = per_well + _tail_rounds(wells, drain_timeout_s)
    with PostgresServer() as server, ServiceRig(wells=wells, history_url=server.url, points_per_well=rounds + 1) as rig:
        stream = telemetry_stream(rig.wells, rounds, bad_every=bad_every)

        def stored_dead_letters() -> int:
            import psycopg

            try:
                with psycopg.connect(f"postgresql://postgres@{HOST}:{server.port}/test", connect_timeout=1) as conn:
                    return int(conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0])
            except psycopg.Error:
                return -1

        main_count = wells * per_well
        result = _direct_stream("postgresql restart", rig, stream, main_count, rate_per_s, kill_fraction, server.kill,
                                server.start, down_s, stored_dead_letters, drain_timeout_s, -1.0)
        sent = main_count + result.details["trickle"]
        result.details["bad_events"] = sum(1 for _, e in stream[:sent] if e.values[TELEMETRY_KEY] < 0)
        return result


# --------------------------------------------------------------------------------------------------
# ThingsBoard (writeback target)
# --------------------------------------------------------------------------------------------------
def thingsboard_restart(*, wells: int = 10, per_well: int = 100, rate_per_s: float = 1000.0, down_s: float = 1.0,
                        kill_fraction: float = 0.4, outbox_max_items: int = 200,
                        drain_timeout_s: float = 60.0) -> FaultReport:
    """ThingsBoard (the stand-in's HTTP server) is killed mid-stream of writebacks and started again on the same
    port. Each write is one time-series point (plus the well's ``opt_last_run_ts`` attribute); the outbox keeps
    at most ``outbox_max_items`` values in memory and spills the rest. Counts points written against points
    ThingsBoard holds after the outbox drained."""
    with ServiceRig(wells=wells, points_per_well=per_well + 1, outbox_max_items=outbox_max_items) as rig:
        writeback, service = rig.writeback, rig.service
        t0 = int(time.time() * 1000)
        writes = [((well, t0 + k * STEP_MS), None) for k in range(per_well) for well in rig.wells]

        def write(item: tuple[Key, None]) -> None:
            (well, ts), _ = item
            service.write_timeseries(well, [(ts, {WRITE_KEY: float(ts - t0)})])
            service.write_attributes(well, {"opt_last_run_ts": ts})

        peak = {"memory_items": 0}
        watching = threading.Event()

        def watch_memory() -> None:
            while not watching.is_set():
                peak["memory_items"] = max(peak["memory_items"], writeback.outbox.memory_items)
                time.sleep(0.002)

        watcher = threading.Thread(target=watch_memory, name="fault-outbox-watch", daemon=True)
        watcher.start()
        feeder = Feeder(writes, write, rate_per_s)
        feeder.start()
        feeder.wait_sent(int(len(writes) * kill_fraction))
        rig.kill_thingsboard()
        time.sleep(down_s)
        pending_at_restart = writeback.pending_items()
        rig.start_thingsboard()
        t_restart = time.monotonic()
        watch = ProgressWatch(lambda: writeback.batches_sent, drain_timeout_s)
        watch.start()
        feeder.join()
        if feeder.error is not None:
            raise feeder.error
        drained = poll(lambda: writeback.flush(timeout_s=1.0) and writeback.pending_items() == 0, drain_timeout_s, 0.0)
        drain_s = time.monotonic() - t_restart if drained else None
        watching.set()
        watcher.join()
        received = set()
        last_attribute_ok = True
        for well in rig.wells:
            points = rig.tb.get_timeseries(well, [WRITE_KEY], 0, 2**62).get(WRITE_KEY, [])
            received |= {(well, int(ts)) for ts, _ in points}
            last_ts = max(ts for (w, ts), _ in writes if w == well)
            last_attribute_ok &= rig.tb.get_attributes(well, "SERVER_SCOPE").get("opt_last_run_ts") == last_ts
        sent = {key for key, _ in feeder.sent}
        refused = len(writeback.dead_letters)
        result = FaultReport("thingsboard restart", sent=len(sent), processed=len(sent & received),
                             dead_lettered=refused, lost=len(sent - received), recovery_s=watch.result(),
                             drain_s=drain_s)
        probe_ts = t0 + per_well * STEP_MS
        service.write_timeseries(rig.wells[0], [(probe_ts, {WRITE_KEY: -1.0})])
        result.alive = poll(lambda: any(ts == probe_ts for ts, _ in rig.tb.get_timeseries(
            rig.wells[0], [WRITE_KEY], probe_ts, probe_ts + 1).get(WRITE_KEY, [])), 10.0)
        result.details.update(outbox_max_items=outbox_max_items, outbox_peak_memory_items=peak["memory_items"],
                              pending_at_restart=pending_at_restart, spilled_batches=writeback.outbox.spilled_batches,
                              last_attribute_ok=last_attribute_ok, down_s=down_s)
        return result


SCENARIOS: dict[str, Callable[..., FaultReport]] = {
    "mqtt_broker_restart": mqtt_broker_restart,
    "mqtt_service_crash": mqtt_service_crash,
    "redis_restart": redis_restart,
    "postgres_restart": postgres_restart,
    "thingsboard_restart": thingsboard_restart,
}
