"""ISA-18.2 alarms through the service: diagnosis -> AlarmBank -> ThingsBoard alarm API over REST (stand-in,
tb-rest-client) -> history rows on real PostgreSQL.

A gas-lift well streams 5-minute telemetry with 1 % Gaussian noise. After the first day (its baseline) the
injection pressure and rate drop to 60 % of their levels for 60 samples (5 h), then recover. The
``pressure_drop`` rule scores the 72-sample (6 h) window medians: min(down(r_inj_p, 0.85, 0.70),
down(r_inj_q, 0.80, 0.65)); its score is 0 while at most 36 of the 72 samples are faulty (the median
then averages a normal and a faulty sample, r ~ 0.8) and 1 once 37 are (r ~ 0.6), so it steps up at the
37th faulty sample and back down at the 36th normal one (36 + 36 again gives r ~ 0.8). With the on-delay
(600 s = two more 5-minute runs) and the off-delay (1800 s = six more runs) the alarm times follow by
counting samples. The Layer-1 CUSUM sees the 40-sigma drop at once, so a WARNING ``statistical_deviation``
alarm stands until the rule names the fault, and returns 1800 s after that.
"""
from __future__ import annotations

import numpy as np
import pytest

from tb_rest_client.models.entity_id import EntityId

from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.handlers.alarm_steps import ALARM_OFF_DELAY_S, ALARM_ON_DELAY_S
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.writeback.rest import RestWriteback

pytestmark = pytest.mark.integration

CONFIG = {"lift_type": "gas_lift", "reservoir_pressure_psi": 3000.0, "bubble_point_psi": 2000.0,
          "productivity_index_bpd_psi": 1.2, "perforation_depth_ft": 8000.0, "injection_depth_ft": 6000.0}
LEVELS = {"flow_rate_bpd": 800.0, "water_cut_frac": 0.3, "tubing_pressure_psi": 200.0, "casing_pressure_psi": 900.0,
          "injection_rate_mscfd": 600.0, "injection_pressure_psi": 1000.0, "separator_level_pct": 50.0}
T0_MS = 1_777_852_800_000  # 2026-05-04 00:00 UTC
STEP_MS = 300_000
FAULT_START, FAULT_SAMPLES = 300, 60  # sample index of the first faulty sample; faulty samples
ON_RUNS, OFF_RUNS = int(ALARM_ON_DELAY_S * 1000 // STEP_MS), int(ALARM_OFF_DELAY_S * 1000 // STEP_MS)


@pytest.fixture
def rig(postgres_db_url):
    tb = StandIn()
    url = tb.start_http()
    settings = load_settings(database_url=postgres_db_url)
    service = Service(settings, RestWriteback(url, "tenant@thingsboard.org", "tenant"), buffer=MemoryBuffer(),
                      history=HistoryStore(postgres_db_url))
    yield tb, service
    service.close()
    tb.stop()


def _ts(i: int) -> int:
    return T0_MS + i * STEP_MS


def test_alarm_lifecycle_on_thingsboard_and_history(rig):
    assert (ON_RUNS, OFF_RUNS) == (2, 6)
    tb, service = rig
    well, _ = tb.create_device("GL-07", "GasLift")
    service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well, 0, CONFIG, well_name="GL-07", source="test"))
    rng = np.random.default_rng(7)
    fault_end = FAULT_START + FAULT_SAMPLES
    rule_on = FAULT_START + 36 + ON_RUNS  # run at which pressure_drop becomes ACTIVE
    stat_on = FAULT_START + ON_RUNS
    stat_rtn = FAULT_START + 36 + OFF_RUNS
    rule_rtn = fault_end + 35 + OFF_RUNS
    seen = {}
    for i in range(rule_rtn + 3):
        values = {k: v * (1 + 0.01 * rng.standard_normal()) for k, v in LEVELS.items()}
        if FAULT_START <= i < fault_end:
            values["injection_pressure_psi"] *= 0.6
            values["injection_rate_mscfd"] *= 0.6
        service.handle(WellEvent(EventKind.TELEMETRY, well, _ts(i), values, source="test"))
        service.run_tier("fast", _ts(i))
        if i in (rule_on - 1, rule_on, rule_rtn - 1, rule_rtn):
            seen[i] = [(a.type, a.severity, a.status) for a in tb.store.alarms(well)]
            if i == rule_on:
                seen["active_attr"] = tb.get_attributes(well, "SERVER_SCOPE")["opt_alarm_active"]

    # ThingsBoard: raised exactly at the run the on-delay allows, with severity and details; cleared after the off-delay
    assert seen[rule_on - 1] == [("Atilax: statistical_deviation", "WARNING", "ACTIVE_UNACK")]
    assert ("Atilax: pressure_drop", "MAJOR", "ACTIVE_UNACK") in seen[rule_on]
    assert ("Atilax: pressure_drop", "MAJOR", "ACTIVE_UNACK") in seen[rule_rtn - 1]
    assert ("Atilax: pressure_drop", "MAJOR", "CLEARED_UNACK") in seen[rule_rtn]
    alarms = {a.type: a for a in tb.store.alarms(well)}
    assert len(tb.store.alarms(well)) == 2  # one TB alarm per type: no chatter, no duplicates
    rule_alarm = alarms["Atilax: pressure_drop"]
    assert rule_alarm.start_ts_ms == _ts(rule_on)
    assert rule_alarm.details["score"] == 1.0 and rule_alarm.details["limit"] == 0.5
    assert rule_alarm.details["condition"].startswith("injection pressure <= 0.775")
    evidence = {e["key"]: e for e in rule_alarm.details["evidence"]}
    # the window median is the 36th/37th of 72 sorted samples: among 39 faulty ones it sits near their top, about
    # +1.5 noise sigma (1 %) above 0.6
    assert evidence["injection_pressure_psi"]["ratio"] == pytest.approx(0.6 * 1.015, abs=0.006)
    assert alarms["Atilax: statistical_deviation"].status == "CLEARED_UNACK"
    assert [(a["type"], a["severity"], a["state"], a["since_ts"]) for a in seen["active_attr"]] == [
        ("pressure_drop", "MAJOR", "UNACK", _ts(rule_on)), ("statistical_deviation", "WARNING", "UNACK", _ts(stat_on))]
    assert tb.get_attributes(well, "SERVER_SCOPE")["opt_alarm_active"] == []

    # history: every state change, in order, on PostgreSQL
    rows = sorted(service.history.alarm_events(well, limit=100), key=lambda r: (r.ts, r.id))
    got = [(r.alarm_type, r.severity, r.state, r.details["kind"], int(r.ts.timestamp() * 1000)) for r in rows]
    assert got == [
        ("statistical_deviation", "WARNING", "UNACK", "ACTIVE", _ts(stat_on)),
        ("pressure_drop", "MAJOR", "UNACK", "ACTIVE", _ts(rule_on)),
        ("statistical_deviation", "WARNING", "RTNUN", "RTN", _ts(stat_rtn)),
        ("pressure_drop", "MAJOR", "RTNUN", "RTN", _ts(rule_rtn)),
    ]
    assert service.writeback.pending_items() == 0 and not service.writeback.alarm_dead_letters


def test_alarm_api_of_the_stand_in_with_tb_rest_client_and_retry_after_a_5xx():
    from tb_rest_client.models.alarm_id import AlarmId
    from tb_rest_client.rest import ApiException
    from tb_rest_client.rest_client import RestClient

    class FlakyClient(RestClient):
        failures = 1

        def save_alarm(self, body):
            if FlakyClient.failures:
                FlakyClient.failures -= 1
                raise ApiException(status=503, reason="Service Unavailable")
            return super().save_alarm(body)

    tb = StandIn()
    url = tb.start_http()
    writeback = RestWriteback(url, "tenant@thingsboard.org", "tenant", client_factory=FlakyClient)
    try:
        well, _ = tb.create_device("ESP-09", "ESP")
        writeback.create_alarm(well, "Atilax: gas_lock", "MAJOR", {"score": 0.7}, 1_000)
        assert writeback.flush() is False and writeback.pending_items() == 1  # 503: kept
        assert tb.store.alarms(well) == []
        assert writeback.flush() is True and writeback.pending_items() == 0
        writeback.create_alarm(well, "Atilax: gas_lock", "CRITICAL", {"score": 0.9}, 2_000)  # same type: updated
        assert writeback.flush() is True
        (alarm,) = tb.store.alarms(well)
        assert (alarm.severity, alarm.status, alarm.start_ts_ms, alarm.details) == ("CRITICAL", "ACTIVE_UNACK", 1_000,
                                                                                   {"score": 0.9})
        # an operator acknowledges in ThingsBoard (POST /api/alarm/{id}/ack), then the condition clears
        operator = RestClient(url)
        operator.login("tenant@thingsboard.org", "tenant")
        acked = operator.ack_alarm(AlarmId(alarm.id, "ALARM"))
        assert (acked.status, acked.acknowledged, acked.cleared) == ("ACTIVE_ACK", True, False)
        writeback.clear_alarm(well, "Atilax: gas_lock")
        writeback.clear_alarm(well, "Atilax: gas_lock")  # nothing active any more: a no-op, not an error
        assert writeback.flush() is True and not writeback.alarm_dead_letters
        assert [a.status for a in tb.store.alarms(well)] == ["CLEARED_ACK"]
        page = operator.get_alarms(EntityId(well, "DEVICE"), 10, 0, "CLEARED")
        assert [(a.type, a.severity, a.cleared) for a in page.data] == [("Atilax: gas_lock", "CRITICAL", True)]
        with pytest.raises(ApiException) as bad:
            operator.clear_alarm(AlarmId("0b7e4c2e-0000-4000-8000-000000000000", "ALARM"))
        assert bad.value.status == 404
    finally:
        writeback.close()
        tb.stop()
