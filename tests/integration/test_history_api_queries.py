"""The history-store queries the HTTP API adds, on SQLite and PostgreSQL: one alarm event by id, the values of one
result key over a period (anomaly patterns), and dead letters grouped by source and error (metrics)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tb_bridge.history.store import HistoryStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_db_url")
    s = HistoryStore(url)
    s.migrate()
    yield s
    s.close()


def test_alarm_event_by_id(store):
    event_id = store.record_alarm_event("w1", "gas_lock", "MAJOR", "UNACK", ts=T0, details={"score": 0.8})
    got = store.alarm_event(event_id)
    assert (got.id, got.well_id, got.alarm_type, got.state, got.ts, got.details) == (
        event_id, "w1", "gas_lock", "UNACK", T0, {"score": 0.8})
    with pytest.raises(KeyError):
        store.alarm_event(event_id + 1)


def test_result_values_over_a_period(store):
    for hours, well, tier, value, simulated in ((0, "w1", "fast", "gas_lock", False), (1, "w2", "fast", "none", False),
                                                (2, "w1", "hourly", "x", False), (3, "w1", "fast", "sim", True),
                                                (5, "w2", "fast", "pump_wear", False)):
        at = T0 + timedelta(hours=hours)
        store.record_run(well, "esp", tier, "diagnostics", {"opt_anomaly_type": value, "other": 1}, started_at=at,
                         finished_at=at, simulated=simulated)
    rows = store.result_values("opt_anomaly_type", start=T0 + timedelta(minutes=30), tier="fast")
    assert rows == [("w2", "esp", T0 + timedelta(hours=1), "none"), ("w2", "esp", T0 + timedelta(hours=5), "pump_wear")]
    before = store.result_values("opt_anomaly_type", end=T0 + timedelta(hours=3))
    assert [v for *_, v in before] == ["gas_lock", "none", "x"]
    assert [v for *_, v in store.result_values("opt_anomaly_type", limit=2)] == ["x", "pump_wear"]  # newest two


def test_dead_letter_counts(store):
    for source, error in (("mqtt", "flow is NaN"), ("mqtt", "flow is NaN"), ("rest", "bad envelope"),
                          ("mqtt", "other")):
        store.dead_letter(source, "{}", error)
    done = store.dead_letter("rest", "{}", "bad envelope")
    store.mark_reprocessed([done])
    assert sorted(store.dead_letter_counts()) == [("mqtt", "flow is NaN", 2), ("mqtt", "other", 1),
                                                  ("rest", "bad envelope", 1)]
