"""The 7-day health trend survives a service restart (issue 8): the daily baseline refresh logs each day's health
score in the history store (``opt_health_daily_score`` of the daily run) and a restarted service restores the
well's daily scores from there at its first use, so it writes the same ``opt_health_trend`` as a service that kept
running. The buffer (Redis in production) outlives the restart; the service's memory does not (its baselines are
refitted from the buffer, so the scores of later days may differ: the comparison is over the fast runs up to the
next daily refresh, whose trend reads only the restored days)."""
from __future__ import annotations

import numpy as np
import pytest

from engines.fielddata import SyntheticField
from engines.health.score import trend_adjustment
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.handlers.engine_steps import HEALTH_DAILY_KEY, MIN_BASELINE_SAMPLES
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tests.doubles import RecordingWriteback

DAY = 288
RESTART_DAY = 9
END = RESTART_DAY * DAY + DAY // 2 - 1  # before the next daily refresh
LIFTS = ("esp", "gas_lift")


def _service(url, buffer, field):
    service = Service(load_settings(database_url=url), RecordingWriteback(), buffer=buffer, history=HistoryStore(url))
    for w in field.wells:
        service.registry.update(w.name, w.attributes, name=w.name)
    return service


def _trends(service, well):
    """(run time, opt_health_trend) of each fast run that diagnosed ``well``."""
    return [(a["opt_last_run_ts"], a["opt_health_trend"]) for e, a in service.writeback.attributes
            if e == well and "opt_health_trend" in a]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One service kept running for 9.5 days (fast tier every 6 h, daily tier once a day) and one restarted on day 9
    with the same history store and buffer; both then run the same fast tiers."""
    # pump wear from day 2 on the first ESP well: its health declines day by day (a non-zero trend)
    field = SyntheticField({"esp": 2, "gas_lift": 1}, seed=3, faults={"ESP-01": ("pump_wear", 2 * DAY)})
    arrays = {lift: field.arrays(lift, END + 1) for lift in LIFTS}
    now = lambda t: field.start_ms + t * field.step_s * 1000  # noqa: E731

    def samples(t):
        for lift in LIFTS:
            for w in field.wells_of(lift):
                yield w.name, now(t), {k: float(v[w.index, t]) for k, v in arrays[lift].items()}

    path = tmp_path_factory.mktemp("restart")
    buffer = MemoryBuffer()
    kept = _service(f"sqlite:///{path}/history.db", buffer, field)
    restarted = None
    for t in range(END + 1):
        buffer.append_many(samples(t))
        if t >= MIN_BASELINE_SAMPLES and t % (DAY // 4) == 0:
            kept.run_tier("fast", now(t))
            if restarted is not None:
                restarted.run_tier("fast", now(t))
        if t >= MIN_BASELINE_SAMPLES and t % DAY == DAY // 2:
            kept.run_tier("daily", now(t))
            if restarted is not None:
                restarted.run_tier("daily", now(t))
        if t == RESTART_DAY * DAY:
            restarted = _service(f"sqlite:///{path}/history.db", buffer, field)  # the same store, fresh memory
    yield field, kept, restarted
    kept.close()
    restarted.close()


def test_restarted_service_writes_the_same_health_trend(run):
    field, kept, restarted = run
    for w in field.wells:
        after_restart = _trends(restarted, w.name)
        assert len(after_restart) == 1 and after_restart == _trends(kept, w.name)[-1:], w.name
        h_kept = kept._well_state[w.name]["diagnostics"].health_history
        h_restarted = restarted._well_state[w.name]["diagnostics"].health_history
        assert len(h_kept) == RESTART_DAY - 1 and h_restarted == pytest.approx(h_kept, rel=1e-15, abs=0)
    # not vacuous: the worn pump's trend is strongly negative (a fresh history would give 0), and it is the
    # least-squares 7-day change of the last 7 daily scores (engines.health.score.trend_adjustment)
    worn = kept._well_state["ESP-01"]["diagnostics"].health_history
    _, change, labels = trend_adjustment(np.array([worn[-7:]]), 1)
    assert _trends(restarted, "ESP-01")[0][1] == round(float(change[0]), 1) < -5 and labels == ("declining",)


def test_daily_scores_are_the_ones_the_store_keeps(run):
    field, kept, _ = run
    stored = kept.history.latest_results([w.name for w in field.wells], HEALTH_DAILY_KEY, tier="daily", limit=30)
    for w in field.wells:
        assert stored[w.name] == pytest.approx(kept._well_state[w.name]["diagnostics"].health_history, rel=1e-15)
