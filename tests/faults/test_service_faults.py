"""The service streaming on real parts while Redis, PostgreSQL or ThingsBoard is killed and restarted.

Each scenario (tb_bridge.faults.scenarios) kills its part after 30 % of the stream, keeps streaming for the
2 s it is down, and starts it again on the same port and data. Every event sent must be kept: in the
telemetry buffer or in the dead-letter table with a reason (for ThingsBoard: every time-series point written
back must be in ThingsBoard once the outbox drained), and the service must still process a new event.
"""
from __future__ import annotations

import pytest

from tb_bridge.faults.scenarios import FaultReport, postgres_restart, redis_restart, thingsboard_restart

pytestmark = pytest.mark.integration

STREAM = {"wells": 10, "per_well": 200, "rate_per_s": 500.0, "kill_fraction": 0.3, "down_s": 2.0}
OUTBOX_MAX_ITEMS = 200


def _record(report: FaultReport, record_property) -> None:
    for name in ("sent", "processed", "dead_lettered", "lost", "recovery_s", "drain_s"):
        record_property(name, getattr(report, name))


def test_redis_killed_mid_stream_loses_no_telemetry(record_property):
    """Redis with an append-only file synced on every write, SIGKILLed."""
    report = redis_restart(**STREAM)
    _record(report, record_property)
    assert report.sent >= STREAM["wells"] * STREAM["per_well"]  # the stream, then a trickle until drained
    assert (report.lost, report.processed) == (0, report.sent)
    assert report.recovery_s is not None and report.drain_s is not None
    assert report.alive


def test_postgres_killed_mid_stream_keeps_every_dead_letter(record_property):
    """Every 4th event is bad input; its dead letter must reach PostgreSQL although PostgreSQL was down."""
    report = postgres_restart(bad_every=4, **STREAM)
    _record(report, record_property)
    assert report.sent >= STREAM["wells"] * STREAM["per_well"]
    assert (report.lost, report.processed) == (0, report.sent)
    assert report.dead_lettered == report.details["bad_events"] >= STREAM["wells"] * STREAM["per_well"] // 4
    assert report.recovery_s is not None and report.drain_s is not None
    assert report.alive


def test_thingsboard_killed_mid_stream_the_outbox_drains_within_its_memory_bound(record_property):
    report = thingsboard_restart(outbox_max_items=OUTBOX_MAX_ITEMS, **STREAM)
    _record(report, record_property)
    record_property("outbox_peak_memory_items", report.details["outbox_peak_memory_items"])
    assert report.details["pending_at_restart"] > OUTBOX_MAX_ITEMS  # the outage overflowed memory into the spill
    assert report.details["spilled_batches"] > 0
    assert 0 < report.details["outbox_peak_memory_items"] <= OUTBOX_MAX_ITEMS
    assert report.sent == STREAM["wells"] * STREAM["per_well"]
    assert (report.lost, report.processed, report.dead_lettered) == (0, report.sent, 0)
    assert report.details["last_attribute_ok"]  # the last write of each well's attribute won
    assert report.recovery_s is not None and report.drain_s is not None
    assert report.alive

