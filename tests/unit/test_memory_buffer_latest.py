"""MemoryBuffer.latest: what the window gives (newest timestamp, sample count, last value of each key)."""
from __future__ import annotations

from tb_bridge.buffer.memory import MemoryBuffer


def test_latest_equals_the_window():
    buffer = MemoryBuffer(max_points=5, window_s=3600)
    assert buffer.latest("w") == (None, 0, {})
    rows = [(1_000, {"a": 1.0, "b": 2.0}), (2_000, {"a": 3.0}), (3_000, {"c": 4.0}), (4_000, {"a": 5.0}),
            (5_000, {"a": 6.0}), (6_000, {"a": 7.0})]  # the first falls out (5 points kept)
    for ts, values in rows:
        buffer.append("w", ts, values)
    window = buffer.window("w")
    assert buffer.latest("w") == (int(window.ts_ms[-1]), len(window), window.latest())
    assert buffer.latest("w") == (6_000, 5, {"a": 7.0, "c": 4.0})  # b left with the oldest sample


def test_latest_follows_out_of_order_samples_updates_and_trims():
    import random

    rng = random.Random(5)
    buffer = MemoryBuffer(max_points=20, window_s=60)
    for n in range(400):
        ts = rng.randrange(0, 120_000) + n * 500  # out of order within a drifting range; window 60 s, 20 points
        keys = rng.sample(["a", "b", "c", "d"], rng.randint(1, 3))
        buffer.append("w", ts, {k: float(rng.randint(0, 99)) for k in keys})
        window = buffer.window("w")
        assert buffer.latest("w") == (int(window.ts_ms[-1]), len(window), window.latest()), n
