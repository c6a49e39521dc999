"""Contract tests for the telemetry buffers: the same suite runs on MemoryBuffer and on RedisBuffer
against a real Redis server (see tests/conftest.py for how the server is found or started).

The reference ("oracle") used below follows directly from the documented semantics: after any
sequence of appends, a well holds the distinct timestamps that are (a) no older than the newest
timestamp minus ``window_s`` and (b) among the ``max_points`` newest; each holds the merge of every
value written at that timestamp, the later write of a key winning.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_bridge.buffer import MemoryBuffer, make_buffer
from tb_bridge.buffer.base import BufferWindow, TelemetryBuffer
from tb_bridge.buffer.redis_buffer import RedisBuffer, decode_row, decode_window, encode_row

pytestmark = pytest.mark.integration

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
STEP_MS = 300_000  # 5 minutes


@pytest.fixture(params=["memory", "redis"])
def make(request):
    """Factory ``make(max_points=288, window_s=86400, namespace="")`` for each implementation.

    Redis buffers made in one test share the test's prefix unless given distinct ``namespace``s."""
    created: list[TelemetryBuffer] = []

    def factory(max_points: int = 288, window_s: int = 86_400, namespace: str = "") -> TelemetryBuffer:
        if request.param == "memory":
            buf = make_buffer(None, max_points=max_points, window_s=window_s)
        else:
            url = request.getfixturevalue("redis_url")
            prefix = request.getfixturevalue("redis_prefix")
            buf = make_buffer(url, max_points=max_points, window_s=window_s, key_prefix=prefix + namespace)
        created.append(buf)
        return buf

    factory.kind = request.param
    yield factory
    for buf in created:
        buf.close()


def oracle(samples, max_points: int, window_s: int) -> dict[str, dict[int, dict[str, float]]]:
    """Independent statement of the buffer semantics (see the module docstring)."""
    merged: dict[str, dict[int, dict[str, float]]] = {}
    for well, ts, values in samples:
        clean = {k: float(v) for k, v in values.items() if not math.isnan(float(v))}
        if clean:
            merged.setdefault(well, {}).setdefault(ts, {}).update(clean)
    out = {}
    for well, rows in merged.items():
        newest = max(rows)
        kept = sorted(t for t in rows if t >= newest - window_s * 1000)[-max_points:]
        out[well] = {t: rows[t] for t in kept}
    return out


def as_rows(window: BufferWindow) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for i, ts in enumerate(window.ts_ms.tolist()):
        rows[ts] = {k: float(v[i]) for k, v in window.values.items() if not math.isnan(v[i])}
    return rows


# ------------------------------------------------------------------------------------------------
# contract
# ------------------------------------------------------------------------------------------------
def test_implements_protocol(make):
    buf = make()
    assert isinstance(buf, TelemetryBuffer)
    assert (buf.max_points, buf.window_s) == (288, 86_400)
    assert isinstance(buf, RedisBuffer if make.kind == "redis" else MemoryBuffer)


def test_round_trip_is_bit_exact(make):
    buf = make()
    values = {"flow_rate_bpd": 0.1, "intake_pressure_psi": math.pi, "tiny": 1e-300, "neg": -2.5e17, "int": 7}
    buf.append("W-1", T0_MS, values)
    win = buf.window("W-1")
    assert win.ts_ms.dtype == np.int64 and win.ts_ms.tolist() == [T0_MS]
    for key, value in values.items():
        assert win.values[key].dtype == np.float64
        assert win.values[key][0] == float(value)  # exact, not approximate


def test_count_bound_keeps_newest_288_of_a_day_and_a_bit(make):
    buf = make()
    n = 300  # 25 h of 5-minute samples, but the window is 24 h: age and count both bind at 288/289
    buf.append_many(("W-1", T0_MS + i * STEP_MS, {"flow_rate_bpd": float(i)}) for i in range(n))
    win = buf.window("W-1")
    assert len(win) == 288
    expected = np.arange(n - 288, n)
    np.testing.assert_array_equal(win.ts_ms, T0_MS + expected * STEP_MS)
    np.testing.assert_array_equal(win.values["flow_rate_bpd"], expected.astype(float))


def test_count_bound_alone(make):
    buf = make(max_points=5, window_s=10**6)
    for i in range(12):
        buf.append("W-1", T0_MS + i, {"x": float(i)})
    np.testing.assert_array_equal(buf.window("W-1").values["x"], [7.0, 8.0, 9.0, 10.0, 11.0])


def test_age_bound_keeps_the_boundary_point(make):
    buf = make(max_points=1000, window_s=3600)
    buf.append("W-1", T0_MS, {"x": 0.0})
    buf.append("W-1", T0_MS + 1, {"x": 1.0})
    buf.append("W-1", T0_MS + 3_600_000, {"x": 2.0})  # exactly window_s after the first: first stays
    assert buf.window("W-1").ts_ms.tolist() == [T0_MS, T0_MS + 1, T0_MS + 3_600_000]
    buf.append("W-1", T0_MS + 3_600_001, {"x": 3.0})  # now the first is 1 ms too old
    assert buf.window("W-1").ts_ms.tolist() == [T0_MS + 1, T0_MS + 3_600_000, T0_MS + 3_600_001]
    buf.append("W-1", T0_MS + 10 * 3_600_000, {"x": 4.0})  # a gap longer than the window empties the rest
    assert buf.window("W-1").ts_ms.tolist() == [T0_MS + 10 * 3_600_000]


def test_late_sample_older_than_window_is_dropped(make):
    buf = make(max_points=100, window_s=60)
    buf.append("W-1", T0_MS + 120_000, {"x": 1.0})
    buf.append("W-1", T0_MS, {"x": 2.0})  # 120 s older than the newest: outside the 60 s window
    assert buf.window("W-1").ts_ms.tolist() == [T0_MS + 120_000]


def test_out_of_order_and_duplicates_merge_later_wins(make):
    buf = make()
    buf.append("W-1", T0_MS + 2 * STEP_MS, {"a": 2.0})
    buf.append("W-1", T0_MS, {"a": 0.0, "b": 10.0})
    buf.append("W-1", T0_MS + STEP_MS, {"a": 1.0})
    buf.append("W-1", T0_MS, {"b": 11.0, "c": 12.0})  # same ts: merge, later b wins
    win = buf.window("W-1")
    assert win.ts_ms.tolist() == [T0_MS, T0_MS + STEP_MS, T0_MS + 2 * STEP_MS]
    np.testing.assert_array_equal(win.values["a"], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(win.values["b"], [11.0, np.nan, np.nan])
    np.testing.assert_array_equal(win.values["c"], [12.0, np.nan, np.nan])


def test_since_ms_is_inclusive(make):
    buf = make()
    buf.append_many(("W-1", T0_MS + i * STEP_MS, {"x": float(i)}) for i in range(10))
    win = buf.window("W-1", since_ms=T0_MS + 7 * STEP_MS)
    assert win.ts_ms.tolist() == [T0_MS + i * STEP_MS for i in (7, 8, 9)]
    assert len(buf.window("W-1", since_ms=T0_MS + 10 * STEP_MS)) == 0


def test_latest_skips_gaps(make):
    buf = make()
    buf.append("W-1", T0_MS, {"a": 1.0, "b": 5.0})
    buf.append("W-1", T0_MS + STEP_MS, {"a": 2.0, "b": float("nan")})  # NaN = absent
    buf.append("W-1", T0_MS + 2 * STEP_MS, {"a": 3.0})
    assert buf.window("W-1").latest() == {"a": 3.0, "b": 5.0}


def test_unknown_well_gives_empty_window(make):
    win = make().window("nobody")
    assert len(win) == 0 and win.ts_ms.dtype == np.int64 and win.values == {} and win.latest() == {}


def test_wells_and_clear(make):
    buf = make()
    buf.append_many([("W-2", T0_MS, {"x": 1.0}), ("W-1", T0_MS, {"x": 1.0}), ("W:3/odd id", T0_MS, {"x": 1.0})])
    assert buf.wells() == ["W-1", "W-2", "W:3/odd id"]
    buf.clear("W-2")
    assert buf.wells() == ["W-1", "W:3/odd id"]
    assert len(buf.window("W-2")) == 0 and len(buf.window("W-1")) == 1
    buf.clear()
    assert buf.wells() == [] and len(buf.window("W-1")) == 0


def test_wells_are_independent(make):
    buf = make(max_points=3)
    buf.append_many(("W-1", T0_MS + i, {"x": float(i)}) for i in range(10))
    buf.append("W-2", T0_MS - 10**9, {"x": -1.0})  # far older than W-1's window: W-2 has its own
    assert buf.window("W-2").values["x"].tolist() == [-1.0]
    assert buf.window("W-1").values["x"].tolist() == [7.0, 8.0, 9.0]


def test_append_many_equals_appending_one_by_one(make):
    rng = np.random.default_rng(7)
    samples = [
        (f"W-{int(rng.integers(3))}", T0_MS + int(rng.integers(0, 40)) * 1000, {"k" + str(int(rng.integers(3))): float(rng.normal())})
        for _ in range(200)
    ]
    batch, single = make(max_points=17, window_s=30), make(max_points=17, window_s=30, namespace="single:")
    batch.append_many(samples)
    for sample in samples:
        single.append(*sample)
    expected = oracle(samples, 17, 30)
    assert batch.wells() == single.wells() == sorted(expected)
    for well, rows in expected.items():
        assert as_rows(batch.window(well)) == rows
        assert as_rows(single.window(well)) == rows


def test_invalid_samples_raise(make):
    buf = make()
    with pytest.raises(ValueError, match="not a number"):
        buf.append("W-1", T0_MS, {"x": "12"})
    with pytest.raises(ValueError, match="not finite"):
        buf.append("W-1", T0_MS, {"x": float("inf")})
    with pytest.raises(ValueError, match="ts_ms"):
        buf.append("W-1", float(T0_MS), {"x": 1.0})
    with pytest.raises(ValueError, match="well_id"):
        buf.append("", T0_MS, {"x": 1.0})
    for bad_key in ("a\x1eb", "a\x1cb", "line\nbreak", ""):
        with pytest.raises(ValueError, match="keys"):
            buf.append("W-1", T0_MS, {bad_key: 1.0})
    with pytest.raises(ValueError, match="max_points"):
        make(max_points=0)
    with pytest.raises(ValueError, match="window_s"):
        make(window_s=-1)
    buf.append("W-1", T0_MS, {"x": float("nan")})  # nothing numeric left: ignored
    assert buf.wells() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    samples=st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.integers(min_value=0, max_value=60).map(lambda s: T0_MS + s * 1000),
            st.dictionaries(st.sampled_from(["p", "q", "r"]), st.floats(allow_nan=True, allow_infinity=False), max_size=3),
        ),
        max_size=40,
    ),
    max_points=st.integers(min_value=1, max_value=8),
    window_s=st.integers(min_value=1, max_value=45),
)
def test_matches_oracle(make, samples, max_points, window_s):
    buf = make(max_points=max_points, window_s=window_s)
    try:
        half = len(samples) // 2
        for sample in samples[:half]:
            buf.append(*sample)
        buf.append_many(samples[half:])
        expected = oracle(samples, max_points, window_s)
        assert buf.wells() == sorted(expected)
        for well in ("A", "B"):
            assert as_rows(buf.window(well)) == expected.get(well, {})
    finally:
        buf.clear()
        buf.close()


# ------------------------------------------------------------------------------------------------
# BufferWindow and the Redis encoding
# ------------------------------------------------------------------------------------------------
def test_buffer_window_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        BufferWindow(np.array([1, 2]), {"x": np.array([1.0])})


@given(st.lists(st.tuples(st.integers(min_value=-(2**53), max_value=2**53),
                          st.dictionaries(st.text(min_size=1).filter(str.isprintable),
                                          st.floats(allow_nan=False, allow_infinity=False))), max_size=5))
def test_window_encoding_round_trips(rows):
    """The Redis text encoding (rows inside one window reply) loses neither keys nor float bits."""
    for _, values in rows:
        assert decode_row(encode_row(values).encode("utf-8")) == values
    blob = "\x1c".join(f"{ts}\x1d{encode_row(values)}" for ts, values in rows)
    assert decode_window(blob.encode("utf-8")) == ([ts for ts, _ in rows], [values for _, values in rows])


# ------------------------------------------------------------------------------------------------
# Redis specifics: namespacing, bounded memory, TTL
# ------------------------------------------------------------------------------------------------
def test_redis_keys_are_namespaced_bounded_and_expire(redis_url, redis_prefix, redis_client):
    buf = RedisBuffer(redis_url, max_points=50, window_s=600, key_prefix=redis_prefix)
    try:
        buf.append_many(("W-1", T0_MS + i * 1000, {"x": float(i), "y": 2.0 * i}) for i in range(400))
        keys = sorted(k.decode() for k in redis_client.scan_iter(match=redis_prefix + "*"))
        assert keys == [f"{redis_prefix}buf:W-1:rows", f"{redis_prefix}buf:W-1:ts", f"{redis_prefix}buf:wells"]
        assert redis_client.zcard(f"{redis_prefix}buf:W-1:ts") == 50
        assert redis_client.hlen(f"{redis_prefix}buf:W-1:rows") == 50  # evicted rows are deleted too
        for key in keys:
            assert 590 <= redis_client.ttl(key) <= 600
        other = RedisBuffer(redis_url, key_prefix=redis_prefix + "other:")
        try:
            assert other.wells() == [] and len(other.window("W-1")) == 0
        finally:
            other.close()
    finally:
        buf.close()


def test_redis_well_expires_with_its_keys(redis_url, redis_prefix, redis_client):
    buf = RedisBuffer(redis_url, max_points=10, window_s=1, key_prefix=redis_prefix)
    try:
        buf.append("W-1", T0_MS, {"x": 1.0})
        assert buf.wells() == ["W-1"]
        deadline = time.monotonic() + 5.0
        while redis_client.exists(f"{redis_prefix}buf:W-1:ts") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert buf.wells() == [] and len(buf.window("W-1")) == 0
    finally:
        buf.close()


def test_private_redis_server_round_trip(private_redis_url, redis_url):
    """The fixture's start-our-own path: a redis-server started on a free port answers the buffer."""
    assert private_redis_url != redis_url or private_redis_url.split(":")[-1] != "6379/0"
    buf = RedisBuffer(private_redis_url, key_prefix="atilax-test:private:")
    try:
        buf.append("W-1", T0_MS, {"flow_rate_bpd": 812.5})
        assert buf.window("W-1").latest() == {"flow_rate_bpd": 812.5}
        buf.clear()
    finally:
        buf.close()


def test_private_mosquitto_round_trip(private_mosquitto_port):
    """The fixture's start-our-own path for MQTT: publish and receive one message on a private broker."""
    import threading

    import paho.mqtt.client as mqtt

    host, port = private_mosquitto_port
    got: list[bytes] = []
    done, subscribed = threading.Event(), threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: (got.append(msg.payload), done.set())
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe("atilax/test", qos=1)
        assert subscribed.wait(5), "the private broker did not acknowledge the subscription"
        client.publish("atilax/test", b"ping", qos=1).wait_for_publish(5)
        assert done.wait(5), "no message came back from the private broker"
        assert got == [b"ping"]
    finally:
        client.loop_stop()
        client.disconnect()
