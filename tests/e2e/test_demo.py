"""The demo end to end: every provisioned well gets its attributes back through the real path;
the misconfigured well gets opt_error and a dead-letter row while the others proceed."""
from __future__ import annotations

import pytest

from tb_bridge.demo import MISCONFIGURED_WELL, run_demo


@pytest.fixture(scope="module")
def demo_result():
    return run_demo(hours=3.0, wells_per_lift_type=2, seed=11, progress=False)


def test_every_valid_well_got_its_monitoring_attributes(demo_result):
    valid = [name for name in demo_result.wells if name != MISCONFIGURED_WELL["name"]]
    assert len(valid) == 8  # 2 per lift type
    for name in valid:
        attributes = demo_result.attributes[name]
        assert attributes.get("opt_status") in ("ok", "insufficient_data"), (name, attributes.get("opt_error"))
        assert attributes["opt_error"] == ""
        # 3 h of 5-minute samples: 36 points, every one received.
        assert attributes["opt_monitor_points"] == 36
        assert attributes["opt_monitor_completeness_pct"] == pytest.approx(100.0)
        assert attributes["opt_monitor_stats"]["flow_rate_bpd"]["max"] >= attributes["opt_monitor_stats"]["flow_rate_bpd"]["min"] > 0


def test_tiers_ran_on_the_simulated_clock(demo_result):
    assert demo_result.tier_runs["fast"] == 36
    assert demo_result.tier_runs["hourly"] == 3
    assert demo_result.telemetry_events == 36 * 8


def test_misconfigured_well_is_isolated(demo_result):
    bad = demo_result.attributes[MISCONFIGURED_WELL["name"]]
    assert bad["opt_status"] == "error"
    assert "unknown lift type 'jet_pump'" in bad["opt_error"]
    assert demo_result.dead_letters >= 1
