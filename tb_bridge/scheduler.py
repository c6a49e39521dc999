"""Tier schedule: every 5 minutes, hourly, daily at 06:00, weekly, monthly (APScheduler triggers).

The same trigger objects drive both the real scheduler (APScheduler's BackgroundScheduler, one job per
tier, ``max_instances=1`` so a tier never overlaps itself) and the simulated clock used by tests and
the demo (:func:`fire_times` walks the triggers from a start to an end time without sleeping), so a
simulated day exercises exactly the production schedule.
"""
from __future__ import annotations

import heapq
import logging
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tb_bridge.config import SchedulerSettings
from tb_bridge.handlers.base import TIERS, Tier

log = logging.getLogger(__name__)

#: Order in which tiers due at the same instant run (fast first: it refreshes the buffer view).
TIER_ORDER = {tier: index for index, tier in enumerate(TIERS)}


def tier_triggers(settings: SchedulerSettings) -> dict[Tier, BaseTrigger]:
    """One APScheduler trigger per enabled tier.

    The fast tier is an interval aligned to the epoch (so 300 s fires at :00, :05, ...); the weekly
    and monthly tiers run 30 and 45 minutes after the daily tier so they see its results."""
    tz = ZoneInfo(settings.timezone)
    epoch = datetime(2000, 1, 1, tzinfo=tz)
    hour, minute = settings.daily_hour, settings.hourly_minute
    triggers: dict[Tier, BaseTrigger] = {
        "fast": IntervalTrigger(seconds=settings.fast_interval_s, start_date=epoch, timezone=tz),
        "hourly": CronTrigger(minute=minute, timezone=tz),
        "daily": CronTrigger(hour=hour, minute=0, timezone=tz),
        "weekly": CronTrigger(day_of_week=settings.weekly_day, hour=hour, minute=30, timezone=tz),
        "monthly": CronTrigger(day=settings.monthly_day, hour=hour, minute=45, timezone=tz),
    }
    return {tier: trigger for tier, trigger in triggers.items() if tier in settings.enabled_tiers}


def fire_times(triggers: dict[Tier, BaseTrigger], start: datetime, end: datetime) -> Iterator[tuple[datetime, Tier]]:
    """Every (time, tier) the triggers fire in ``[start, end)``, in time order (ties: fast first)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware datetimes")
    heap: list[tuple[datetime, int, Tier]] = []
    for tier, trigger in triggers.items():
        first = trigger.get_next_fire_time(None, start)
        if first is not None and first < end:
            heap.append((first, TIER_ORDER[tier], tier))
    heapq.heapify(heap)
    while heap:
        when, order, tier = heapq.heappop(heap)
        yield when, tier
        following = triggers[tier].get_next_fire_time(when, when + timedelta(microseconds=1))
        if following is not None and following < end:
            heapq.heappush(heap, (following, order, tier))


class TierScheduler:
    """Runs ``run_tier(tier, now_ms)`` on the production schedule (real time) or a simulated clock."""

    def __init__(self, settings: SchedulerSettings, run_tier: Callable[[Tier, int], object]) -> None:
        self.settings = settings
        self.triggers = tier_triggers(settings)
        self._run_tier = run_tier
        self._scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        """Start the background scheduler (real clock)."""
        scheduler = BackgroundScheduler(timezone=ZoneInfo(self.settings.timezone))
        for tier, trigger in self.triggers.items():
            scheduler.add_job(self._fire, trigger=trigger, args=[tier], id=f"tier-{tier}", name=f"atilax {tier} tier",
                              max_instances=1, coalesce=True, misfire_grace_time=60)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(self.triggers))

    def _fire(self, tier: Tier) -> None:
        self._run_tier(tier, int(datetime.now(timezone.utc).timestamp() * 1000))

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None

    def simulate(self, start: datetime, end: datetime,
                 before_tick: Callable[[datetime], None] | None = None) -> list[tuple[datetime, Tier]]:
        """Run every tier due in ``[start, end)`` on a simulated clock, in order, without sleeping.

        ``before_tick(t)`` runs before the tiers due at ``t`` (the demo streams telemetry there)."""
        ran: list[tuple[datetime, Tier]] = []
        last_tick: datetime | None = None
        for when, tier in fire_times(self.triggers, start, end):
            if before_tick is not None and when != last_tick:
                before_tick(when)
                last_tick = when
            self._run_tier(tier, int(when.timestamp() * 1000))
            ran.append((when, tier))
        return ran
