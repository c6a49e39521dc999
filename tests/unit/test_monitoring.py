"""Monitoring step: completeness and statistics against hand-computed values."""
from __future__ import annotations

import numpy as np

from tb_bridge.buffer.base import BufferWindow
from tb_bridge.handlers.base import WellContext
from tb_bridge.handlers.esp import MAIN_KEYS
from tb_bridge.handlers.monitoring import TELEMETRY_UNITS, expected_points, monitoring_step
from tb_bridge.handlers.registry import HANDLERS, handler_for
from tb_bridge.wells.model import parse_well_config

ESP = parse_well_config("e", "ESP-01", {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
                                        "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000,
                                        "pump_depth_ft": 7500})
T0 = 1_700_000_000_000


def test_expected_points_counts_from_first_sample_or_window_start():
    ts = np.array([T0, T0 + 300_000])
    assert expected_points(ts, T0 + 3_600_000, 300, 86_400) == 13  # 0..60 min inclusive
    assert expected_points(ts, T0 + 2 * 86_400_000, 300, 86_400) == 289  # whole window
    assert expected_points(np.array([], dtype=np.int64), T0, 300, 86_400) == 0


def test_completeness_and_stats_hand_computed():
    n = 12  # one hour of 5-minute samples, the last one at "now"
    ts = T0 + 300_000 * np.arange(n)
    rate = np.arange(n, dtype=float) + 100.0
    freq = np.full(n, 55.0)
    freq[::3] = np.nan  # 4 of 12 missing
    window = BufferWindow(ts, {"flow_rate_bpd": rate, "frequency_hz": freq})
    context = WellContext(config=ESP, window=window, now_ms=int(ts[-1]), tier="fast")
    out = monitoring_step(context, ("flow_rate_bpd", "frequency_hz")).attributes
    assert out["opt_monitor_points"] == 12
    assert out["opt_monitor_completeness_pct"] == round(100 * (12 + 8) / (12 * 2), 2)
    assert out["opt_monitor_last_ts"] == int(ts[-1])
    stats = out["opt_monitor_stats"]["flow_rate_bpd"]
    assert (stats["min"], stats["max"], stats["mean"], stats["last"]) == (100.0, 111.0, 105.5, 111.0)
    assert stats["unit"] == "bbl/d"
    assert "frequency_hz" in out["opt_monitor_stats"]


def test_complete_window_stats_equal_the_per_key_reductions():
    """A complete window (every main key finite: the one-table path) gives each key exactly the NumPy 1-D
    min / mean / max / last of its own series, and 100 % completeness."""
    rng = np.random.default_rng(5)
    n = 289
    ts = T0 + 300_000 * np.arange(n)
    values = {k: rng.normal(500.0, 120.0, n) * (1 + i) for i, k in enumerate(MAIN_KEYS)}
    context = WellContext(config=ESP, window=BufferWindow(ts, values), now_ms=int(ts[-1]), tier="fast")
    out = monitoring_step(context, MAIN_KEYS).attributes
    assert out["opt_monitor_completeness_pct"] == 100.0 and out["opt_monitor_points"] == n
    for key in MAIN_KEYS:
        v = values[key]
        assert out["opt_monitor_stats"][key] == {"min": float(np.min(v)), "mean": float(np.mean(v)),
                                                 "max": float(np.max(v)), "last": float(v[-1]),
                                                 "unit": out["opt_monitor_stats"][key]["unit"]}


def test_registry_has_one_handler_per_lift_type_with_a_fast_tier():
    assert set(HANDLERS) == {"esp", "srp", "pcp", "gas_lift", "natural_flow"}
    for lift_type, handler in HANDLERS.items():
        assert handler.lift_type == lift_type
        assert handler.steps("fast"), lift_type
        # a naturally flowing well has a downhole gauge and no flow meter (issue 20: 3)
        main = "downhole_pressure_psi" if lift_type == "natural_flow" else "flow_rate_bpd"
        assert main in handler.main_keys and all(TELEMETRY_UNITS.get(k) for k in handler.main_keys), lift_type
    assert handler_for("esp").main_keys == MAIN_KEYS


def test_a_failing_step_is_reported_and_the_others_still_run():
    def broken(context):
        raise RuntimeError("engine exploded")

    from tb_bridge.handlers.base import LiftHandler
    from tb_bridge.handlers.monitoring import monitoring_step_for

    handler = LiftHandler("esp", MAIN_KEYS, {"fast": (broken, monitoring_step_for(MAIN_KEYS))})
    window = BufferWindow(np.array([T0]), {"flow_rate_bpd": np.array([10.0])})
    out = handler.run(WellContext(config=ESP, window=window, now_ms=T0, tier="fast"))
    assert out.errors == ["broken: RuntimeError: engine exploded"]
    assert out.attributes["opt_monitor_points"] == 1
