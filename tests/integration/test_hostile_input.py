"""Issue 17, defects 1-7 and 10 and the log flood: each reproduction from the hostile test, against real parts
(Mosquitto, Redis, PostgreSQL) where the defect lived in them. Each test failed before its fix."""
from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.buffer.redis_buffer import RedisBuffer
from tb_bridge.config import load_settings
from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.history.dead_letter_text import DEAD_LETTER_MAX_CHARS
from tb_bridge.history.store import HistoryStore
from tb_bridge.router import Router, TimestampWindow
from tb_bridge.service import Service
from tb_bridge.sessions import SimulationSessionManager
from tb_bridge.transport.mqtt import MqttTransport
from tb_bridge.transport.mqtt_envelope import build_envelope, parse_envelope
from tb_bridge.transport.rest_ingress import EVENTS_PATH, RestIngressTransport
from tb_bridge.wells.registry import WellRegistry
from tests.doubles import RecordingWriteback
from tests.polling import wait_for

pytestmark = pytest.mark.integration

NOW_MS = int(time.time() * 1000)
ESP = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
       "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}


def envelope(well_id: str, data, ts=None) -> dict:
    return {"msgType": "POST_TELEMETRY_REQUEST", "entityId": well_id, "entityType": "DEVICE", "deviceName": "ESP-01",
            "deviceType": "ESP", "ts": str(NOW_MS if ts is None else ts), "data": data}


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_envelope_text(well_id: str, depth: int) -> str:
    return json.dumps(envelope(well_id, "__DATA__")).replace('"__DATA__"', nested_array(depth))


class Recorder:
    """A sink and a raw dead-letter sink that keep what they get."""

    def __init__(self) -> None:
        self.events: list[WellEvent] = []
        self.dead: list[tuple[str, bytes | str, str]] = []

    def sink(self, event: WellEvent) -> None:
        self.events.append(event)

    def dead_letter(self, source: str, payload, reason: str) -> None:
        self.dead.append((source, payload, reason))


def router_rig(store, buffer=None, clock_ms=None):
    registry = WellRegistry()
    errors: list[tuple[str, str]] = []
    sessions = SimulationSessionManager(registry, store, lambda *_: None)
    router = Router(registry, buffer or MemoryBuffer(), sessions, store, report_error=lambda w, m: errors.append((w, m)),
                    clock_ms=clock_ms)
    return router, errors


@contextlib.contextmanager
def mqtt_ingress(host: str, port: int, sink, dead_letter):
    """A subscribed MqttTransport on a topic of its own and a publisher; yields ``publish(payload, qos=1)``
    (paho's MQTTMessageInfo: ``wait_for_publish`` returns once the broker acknowledged it)."""
    topic_root = f"atilax-test-{uuid.uuid4().hex[:8]}"
    transport = MqttTransport(host, port, topic_filters=(f"{topic_root}/+/+",), shared_group=None)
    transport.start(sink, dead_letter)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect(host, port)
    publisher.loop_start()
    try:
        assert transport.wait_subscribed(10)
        yield lambda payload, qos=1: publisher.publish(f"{topic_root}/ESP/ESP-01", payload, qos=qos)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        transport.stop()


# -- defect 1: one MQTT message killed the MQTT ingress ------------------------------------------------------------
def test_deeply_nested_payload_is_a_dead_letter_not_a_dead_transport(mosquitto_port):
    host, port = mosquitto_port
    well = str(uuid.uuid4())
    recorder = Recorder()
    with mqtt_ingress(host, port, recorder.sink, recorder.dead_letter) as publish:
        deep = deep_envelope_text(well, 5000)
        assert 9_000 < len(deep) < 11_000  # the reproduction: about 10 KB
        publish(deep, qos=1).wait_for_publish(5)
        publish(json.dumps(envelope(well, {"flow_rate_bpd": 800.0})), qos=1).wait_for_publish(5)
        assert wait_for(lambda: recorder.events, timeout_s=10)
    assert [e.values for e in recorder.events] == [{"flow_rate_bpd": 800.0}]
    assert len(recorder.dead) == 1 and "nests deeper than" in recorder.dead[0][2]


def test_parse_envelope_raises_only_event_errors_for_depth():
    well = str(uuid.uuid4())
    for depth in (33, 1000, 100_000):
        with pytest.raises(EventError, match="nests deeper"):
            parse_envelope(deep_envelope_text(well, depth), source="t")
    # 30 levels of data inside the envelope are still fine as JSON; the router then refuses a list as data
    with pytest.raises(EventError, match="must be a JSON object"):
        parse_envelope(deep_envelope_text(well, 30), source="t")


# -- defect 2: the REST ingress answered 500 on nesting >= 1,000 ------------------------------------------------------
def test_rest_ingress_answers_400_and_keeps_a_dead_letter_for_deep_nesting():
    recorder = Recorder()
    ingress = RestIngressTransport(port=0, token="s3cret")
    ingress.start(recorder.sink, recorder.dead_letter)
    try:
        for depth in (1000, 5000):
            r = httpx.post(ingress.base_url + EVENTS_PATH, content=deep_envelope_text(str(uuid.uuid4()), depth),
                           headers={"Authorization": "Bearer s3cret"})
            assert r.status_code == 400 and "nests deeper than" in r.json()["error"]
    finally:
        ingress.stop()
    assert len(recorder.dead) == 2 and all("nests deeper" in reason for _, _, reason in recorder.dead)


# -- defects 3 and 4: implausible timestamps --------------------------------------------------------------------------
def test_timestamp_beyond_int64_is_refused_and_the_fast_tier_runs_for_every_well(redis_url, redis_prefix, sqlite_url):
    settings = load_settings(redis_url=redis_url, database_url=sqlite_url)
    service = Service(settings, RecordingWriteback(), buffer=RedisBuffer(redis_url, key_prefix=redis_prefix),
                      history=HistoryStore(sqlite_url))
    try:
        wells = [str(uuid.uuid4()) for _ in range(2)]
        for i, well in enumerate(wells):
            service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well, 0, ESP, well_name=f"ESP-0{i}", source="t"))
        hostile = parse_envelope(json.dumps(envelope(wells[0], {"flow_rate_bpd": 800.0},
                                                     ts="10000000000000000000000000")), source="mqtt")
        service.handle(hostile)
        for k in range(3):
            for well in wells:
                service.handle(WellEvent(EventKind.TELEMETRY, well, NOW_MS - (3 - k) * 300_000,
                                         {"flow_rate_bpd": 800.0, "frequency_hz": 55.0}, source="t"))
        report = service.run_tier("fast", NOW_MS)
        letters = service.history.dead_letters()
        assert len(letters) == 1 and "ahead of the service clock" in letters[0].error
        assert report.wells_run == 2 and report.wells_failed == 0
        for well in wells:
            assert service.writeback.latest[well]["opt_status"] in ("ok", "insufficient_data")
            assert len(service.buffer.window(well)) == 3
    finally:
        service.close()


@pytest.mark.parametrize("make_buffer", ["memory", "redis"])
def test_future_point_is_refused_and_the_buffer_keeps_growing(make_buffer, redis_url, redis_prefix, tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    buffer = MemoryBuffer() if make_buffer == "memory" else RedisBuffer(redis_url, key_prefix=redis_prefix)
    router, errors = router_rig(store, buffer, clock_ms=lambda: NOW_MS)
    five_years_ms = int(5 * 365.25 * 86_400_000)
    router.handle(WellEvent(EventKind.TELEMETRY, "w1", NOW_MS + five_years_ms, {"flow_rate_bpd": 1.0}, source="t"))
    for k in range(5):
        router.handle(WellEvent(EventKind.TELEMETRY, "w1", NOW_MS - (5 - k) * 60_000, {"flow_rate_bpd": 2.0},
                                source="t"))
    assert len(buffer.window("w1")) == 5
    assert len(errors) == 1 and "ahead of the service clock" in errors[0][1]
    buffer.close()
    store.close()


def test_timestamp_window_bounds_and_the_seconds_hint():
    window = TimestampWindow(max_age_s=86_400, max_future_s=60)
    window.check(NOW_MS + 59_000, NOW_MS)
    window.check(NOW_MS - 86_399_000, NOW_MS)
    with pytest.raises(EventError, match="ahead"):
        window.check(NOW_MS + 61_000, NOW_MS)
    with pytest.raises(EventError, match="seconds instead of milliseconds"):
        window.check(NOW_MS // 1000, NOW_MS)


# -- defect 5: the 5-minute run aborted for all wells when Redis was unreachable as it fired ---------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, workdir: str) -> subprocess.Popen:
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    def answers() -> bool:
        try:
            return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
        except redis.exceptions.ConnectionError:
            return False

    assert wait_for(answers, timeout_s=10)
    return proc


def test_fast_tier_degrades_per_well_when_redis_is_down_and_recovers(sqlite_url):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed")
    port, workdir = _free_port(), tempfile.mkdtemp(prefix="atilax-redis-")
    proc = _start_redis(port, workdir)
    url = f"redis://127.0.0.1:{port}/0"
    settings = load_settings(redis_url=url, database_url=sqlite_url)
    service = Service(settings, RecordingWriteback(), buffer=RedisBuffer(url), history=HistoryStore(sqlite_url))
    service.BUFFER_RETRY_DELAYS_S = (0.05, 0.1)
    wells = [str(uuid.uuid4()) for _ in range(3)]
    try:
        for i, well in enumerate(wells):
            service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well, 0, ESP, well_name=f"ESP-0{i}", source="t"))
            service.handle(WellEvent(EventKind.TELEMETRY, well, NOW_MS - 600_000, {"flow_rate_bpd": 800.0}, source="t"))
        proc.terminate()
        proc.wait(10)
        # telemetry arriving while Redis is down is held in memory, not lost
        for well in wells:
            service.handle(WellEvent(EventKind.TELEMETRY, well, NOW_MS - 300_000, {"flow_rate_bpd": 810.0}, source="t"))
        assert service.router.pending["samples"] == 3 and service.history.dead_letters() == []
        report = service.run_tier("fast", NOW_MS)  # must not raise
        assert report.wells_run == 3 and report.wells_failed == 3
        for well in wells:
            latest = service.writeback.latest[well]
            assert latest["opt_status"] == "error" and "buffer unreachable" in latest["opt_error"]
        proc = _start_redis(port, workdir)  # empty again (no persistence): only the held samples come back
        report = service.run_tier("fast", NOW_MS + 300_000)  # the next tick carries on
        assert report.wells_failed == 0
        assert service.router.pending["samples"] == 0 and service.router.stats.samples_recovered == 3
        for well in wells:
            assert service.buffer.window(well).values["flow_rate_bpd"].tolist() == [810.0]
            assert service.writeback.latest[well]["opt_status"] != "error"
    finally:
        service.close()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_one_wells_unreadable_window_does_not_stop_the_others(sqlite_url):
    class FlakyBuffer(MemoryBuffer):
        def window(self, well_id, since_ms=None):
            if well_id == "bad":
                raise OverflowError("Python int too large to convert to C long")
            return super().window(well_id, since_ms)

    service = Service(load_settings(database_url=sqlite_url), RecordingWriteback(), buffer=FlakyBuffer(),
                      history=HistoryStore(sqlite_url))
    try:
        for well in ("bad", "good"):
            service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well, 0, ESP, well_name=well, source="t"))
            service.handle(WellEvent(EventKind.TELEMETRY, well, NOW_MS, {"flow_rate_bpd": 800.0}, source="t"))
        for tier in ("fast", "hourly"):
            report = service.run_tier(tier, NOW_MS)
            assert report.wells_run == 2 and list(report.errors) == ["bad"], tier
            assert "OverflowError" in service.writeback.latest["bad"]["opt_error"]
            assert service.writeback.latest["good"]["opt_status"] != "error"
    finally:
        service.close()


# -- defect 6: dead letters with NUL or a lone surrogate were lost on PostgreSQL ---------------------------------------
def test_dead_letters_with_nul_and_lone_surrogates_are_kept_on_postgres(postgres_db_url):
    store = HistoryStore(postgres_db_url)
    store.migrate()
    try:
        router, _ = router_rig(store)
        well = str(uuid.uuid4())
        bodies = ['{"data":{"key\\u0000_bpd":-1}}', '{"data":{"key\\ud800":NaN}}']
        for _ in range(20):
            for body in bodies:
                data = json.loads(body)["data"]
                router.handle(WellEvent(EventKind.TELEMETRY, well, NOW_MS, data, source="mqtt"))
        router.handle_raw_dead_letter("mqtt", "raw \x00 text \ud800 end", "reason with \x00 and \udfff")
        letters = store.dead_letters(limit=100)
        assert len(letters) == 41 and router.stats.dead_letters_stored == 41 and router.pending["dead_letters"] == 0
        assert "\\x00" in letters[0].error and "\\ud800" in letters[1].payload
        assert letters[-1].payload == "raw \\x00 text \\ud800 end" and letters[-1].error == "reason with \\x00 and \\udfff"
    finally:
        store.close()


def test_dead_letters_wait_in_memory_while_the_store_is_down(tmp_path):
    class DownStore:
        def __init__(self) -> None:
            self.up, self.rows = False, []

        def dead_letter(self, **row):
            if not self.up:
                raise ConnectionError("connection refused")
            self.rows.append(row)

    store = DownStore()
    router, _ = router_rig(HistoryStore(f"sqlite:///{tmp_path}/s.db"))
    router.dead_letters = store
    for i in range(5):
        router.handle_raw_dead_letter("mqtt", f"payload {i}", "not JSON")
    assert router.pending["dead_letters"] == 5 and store.rows == []
    store.up = True
    router.retry_pending()
    assert [r["payload"] for r in store.rows] == [f"payload {i}" for i in range(5)]
    assert router.pending["dead_letters"] == 0


# -- defect 7: one dead-letter cap for every transport ------------------------------------------------------------------
def test_a_ten_megabyte_mqtt_payload_is_capped_like_every_dead_letter(mosquitto_port, tmp_path):
    host, port = mosquitto_port
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    router, _ = router_rig(store)
    with mqtt_ingress(host, port, router.handle, router.handle_raw_dead_letter) as publish:
        payload = b"{" + b"x" * 10_000_000 + b"}"
        publish(payload, qos=1).wait_for_publish(30)
        assert wait_for(lambda: store.dead_letters(), timeout_s=30)
    (letter,) = store.dead_letters()
    assert len(letter.payload) <= DEAD_LETTER_MAX_CHARS and letter.payload.startswith("{xxxx")
    assert letter.payload.endswith("[truncated: 10000002 bytes in all]")
    store.close()


# -- defect 10: telemetry carrying the service's own keys was buffered over MQTT --------------------------------------
def test_own_keys_in_telemetry_are_never_buffered(mosquitto_port, tmp_path):
    host, port = mosquitto_port
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    buffer = MemoryBuffer()
    router, _ = router_rig(store, buffer)
    well = str(uuid.uuid4())
    with mqtt_ingress(host, port, router.handle, router.handle_raw_dead_letter) as publish:
        for data in ({"opt_health_score": 12.0, "sim_flow_rate_bpd": 5.0, "flow_rate_bpd": 800.0},
                     {"opt_health_score": 13.0, "sim_intake_pressure_psi": 900.0}):
            publish(json.dumps(envelope(well, data)), qos=1).wait_for_publish(5)
        assert wait_for(lambda: router.stats.own_writes_dropped == 2, timeout_s=10)
    window = buffer.window(well)
    assert list(window.values) == ["flow_rate_bpd"] and len(window) == 1
    assert store.dead_letters() == []
    store.close()


# -- the log flood: bad numbers and keys are bad input, one rate-limited line each ---------------------------------
def test_malformed_numbers_and_keys_are_bad_input_with_rate_limited_lines(tmp_path, caplog):
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    router, _ = router_rig(store)
    huge = json.loads('{"flow_rate_bpd": 1' + "0" * 400 + "}")
    caplog.set_level(logging.WARNING, logger="tb_bridge.router")
    for i in range(200):
        values = huge if i % 2 == 0 else {"bad\x07key": 1.0}
        router.handle(WellEvent(EventKind.TELEMETRY, "w1", NOW_MS, values, source="flood"))
    letters = store.dead_letters(limit=300)
    assert len(letters) == 200 and not any("internal error" in d.error for d in letters)
    assert "flow_rate_bpd is not a finite number" in letters[0].error and "printable" in letters[1].error
    records = [r for r in caplog.records if r.name == "tb_bridge.router"]
    assert not any(r.exc_info for r in records)  # no traceback for bad input
    assert 1 <= len(records) <= 20  # at most the burst per 10 s, however many arrive
    store.close()
