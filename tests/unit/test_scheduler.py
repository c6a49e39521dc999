"""Scheduler tiers on a simulated clock: counts per tier follow the calendar exactly."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tb_bridge.config import SchedulerSettings
from tb_bridge.scheduler import TierScheduler, fire_times, tier_triggers

UTC = timezone.utc


def test_one_simulated_day_runs_each_tier_the_right_number_of_times():
    ran: list[tuple[str, int]] = []
    scheduler = TierScheduler(SchedulerSettings(), lambda tier, now_ms: ran.append((tier, now_ms)))
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
    scheduler.simulate(start, start + timedelta(days=1))
    counts = Counter(tier for tier, _ in ran)
    assert counts == {"fast": 288, "hourly": 24, "daily": 1, "weekly": 1}
    daily_ms = [now for tier, now in ran if tier == "daily"]
    assert daily_ms == [int(datetime(2026, 3, 2, 6, 0, tzinfo=UTC).timestamp() * 1000)]
    fast = [now for tier, now in ran if tier == "fast"]
    assert all(b - a == 300_000 for a, b in zip(fast, fast[1:]))  # exactly every 5 minutes
    assert [now for now in fast[:2]] == [int(start.timestamp() * 1000), int(start.timestamp() * 1000) + 300_000]


def test_calendar_month_counts():
    triggers = tier_triggers(SchedulerSettings())
    start = datetime(2026, 2, 1, tzinfo=UTC)
    counts = Counter(t for _, t in fire_times(triggers, start, datetime(2026, 3, 1, tzinfo=UTC)))
    # February 2026: 28 days, 4 Mondays (2, 9, 16, 23), monthly on the 1st.
    assert counts == {"fast": 28 * 288, "hourly": 28 * 24, "daily": 28, "weekly": 4, "monthly": 1}


def test_ties_run_fast_first_and_times_are_ordered():
    triggers = tier_triggers(SchedulerSettings(hourly_minute=0))
    events = list(fire_times(triggers, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, 1, tzinfo=UTC)))
    assert events[0][1] == "fast" and events[1][1] == "hourly" and events[0][0] == events[1][0]
    assert [e[0] for e in events] == sorted(e[0] for e in events)


def test_disabled_tiers_do_not_fire_and_naive_times_are_rejected():
    triggers = tier_triggers(SchedulerSettings(enabled_tiers=["hourly"]))
    assert set(triggers) == {"hourly"}
    with pytest.raises(ValueError, match="timezone-aware"):
        list(fire_times(triggers, datetime(2026, 1, 1), datetime(2026, 1, 2)))


def test_local_timezone_daily_tier_is_at_six_local():
    triggers = tier_triggers(SchedulerSettings(timezone="America/Mexico_City", enabled_tiers=["daily"]))
    (when, _), = list(fire_times(triggers, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)))
    assert when.astimezone(UTC).hour == 12  # 06:00 CST = 12:00 UTC (no DST in Mexico since 2022)


def test_real_scheduler_starts_and_stops():
    fired = threading.Event()
    scheduler = TierScheduler(SchedulerSettings(fast_interval_s=10, enabled_tiers=["fast"]), lambda tier, now: fired.set())
    scheduler.start()
    try:
        job = scheduler._scheduler.get_job("tier-fast")
        assert job.max_instances == 1 and job.coalesce is True
        assert job.next_run_time is not None
    finally:
        scheduler.stop()
