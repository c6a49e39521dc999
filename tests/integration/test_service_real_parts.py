"""The spine on real parts: Redis buffer, PostgreSQL history, ThingsBoard stand-in over REST.

Telemetry events go through the router into Redis; the fast tier runs on a simulated clock; the
attributes land on the stand-in's devices; a bad well gets opt_error and a dead-letter row in
PostgreSQL while the others proceed; a tier never overlaps itself."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from tb_bridge.buffer.redis_buffer import RedisBuffer
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.writeback.rest import RestWriteback

pytestmark = pytest.mark.integration

CONFIG = {"lift_type": "pcp", "reservoir_pressure_psi": 2500, "bubble_point_psi": 1200,
          "productivity_index_bpd_psi": 0.8, "perforation_depth_ft": 5000, "pump_depth_ft": 4800}
START = datetime(2026, 5, 4, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def service_rig(redis_url, redis_prefix, postgres_db_url):
    tb = StandIn()
    url = tb.start_http()
    writeback = RestWriteback(url, "tenant@thingsboard.org", "tenant")
    settings = load_settings(redis_url=redis_url, database_url=postgres_db_url)
    service = Service(settings, writeback, buffer=RedisBuffer(redis_url, key_prefix=redis_prefix),
                      history=HistoryStore(postgres_db_url))
    yield tb, service
    service.close()
    tb.stop()


def test_one_simulated_hour_on_real_parts(service_rig):
    tb, service = service_rig
    good_id, _ = tb.create_device("PCP-01", "PCP")
    bad_id, _ = tb.create_device("PCP-02", "PCP")
    service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, good_id, 0, CONFIG, well_name="PCP-01", source="test"))
    service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, bad_id, 0, {**CONFIG, "rpm_min": 500, "rpm_max": 100},
                             well_name="PCP-02", source="test"))

    def stream(now: datetime) -> None:
        ts = int(now.timestamp() * 1000)
        service.handle(WellEvent(EventKind.TELEMETRY, good_id, ts, {"flow_rate_bpd": 300.0, "rpm": 200.0,
                                                                    "torque_ftlbf": 650.0}, source="test"))
        service.handle(WellEvent(EventKind.TELEMETRY, bad_id, ts, {"flow_rate_bpd": float("nan")}, source="test"))

    ran = service.scheduler.simulate(START, START + timedelta(hours=1), before_tick=stream)
    assert [tier for _, tier in ran].count("fast") == 12
    service.writeback.flush()
    good = tb.get_attributes(good_id, "SERVER_SCOPE")
    # One hour of data: the monitoring and the hourly engines ran; the anomaly detector still waits for
    # the day of samples its first baseline needs, which is a status, not an error.
    assert good["opt_status"] == "insufficient_data" and good["opt_error"] == ""
    assert "diagnostics_step: no telemetry yet for" in good["opt_status_detail"]
    assert good["opt_monitor_points"] == 12
    assert good["opt_pcp_rpm_recommended"] > 0 and good["opt_nodal_aof_bpd"] > 0
    assert good["opt_monitor_stats"]["torque_ftlbf"]["mean"] == pytest.approx(650.0)
    # 3 of the 7 PCP main keys arrive, every 5 minutes for an hour: 3*12 / (7*12).
    assert good["opt_monitor_completeness_pct"] == pytest.approx(round(100 * 3 / 7, 2))
    bad = tb.get_attributes(bad_id, "SERVER_SCOPE")
    assert bad["opt_status"] == "error" and "flow_rate_bpd is not a finite number" in bad["opt_error"]  # the latest
    letters = service.history.dead_letters(limit=100)
    assert "rpm_min must be below rpm_max" in letters[0].error
    assert sum(1 for d in letters if d.well_id == bad_id) == 1 + 12  # the config and 12 NaN samples
    runs = service.history.runs(well_id=good_id, limit=100)
    assert sorted(r.tier for r in runs) == ["fast"] * 12 + ["hourly"] and all(r.status == "ok" for r in runs)
    hourly = next(r for r in runs if r.tier == "hourly")
    assert hourly.results["opt_pcp_rpm_recommended"] == good["opt_pcp_rpm_recommended"]
    assert hourly.units["opt_pcp_rpm_recommended"] == "rpm"


def test_a_tier_never_overlaps_itself(service_rig):
    tb, service = service_rig
    device_id, _ = tb.create_device("PCP-03", "PCP")
    service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, device_id, 0, CONFIG, well_name="PCP-03", source="test"))
    gate = threading.Event()
    original = service._run_well

    def slow_run_well(*args):
        gate.wait(5)
        return original(*args)

    service._run_well = slow_run_well
    first = threading.Thread(target=service.run_tier, args=("fast", 1))
    first.start()
    time.sleep(0.2)
    second = service.run_tier("fast", 2)
    gate.set()
    first.join(10)
    assert second.skipped_overlap is True
    assert [r.skipped_overlap for r in service.reports] == [True, False]
    assert service.run_tier("hourly", 3).skipped_overlap is False  # other tiers are independent
