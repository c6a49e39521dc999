"""Review steps in isolation (issue 18: 3): the week read from ThingsBoard's history or from the history store's daily
summaries (whichever holds more samples), the weekly step on a hand-built alarm log, the audit of a lift type's
field models (Isolation Forest, field PCA monitor) and the field review without a field asset.

References: ``production_totals`` of the raw samples in each day bin (computed here from the arrays); hours from the
hand-built alarm log; the forest's training mean / sd of the raw samples of the 8 wells' training day and the pooled
mean of their next day; the field PCA monitor's inputs as each well's next-day mean standardized by its baseline."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from engines.anomaly.isolation import feature_keys
from engines.fielddata import SyntheticField
from engines.review import Moments, production_totals
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.field_review import DEFAULT_FIELD_ID, FieldReview, field_model_rows
from tb_bridge.handlers.base import InsufficientData, WellContext
from tb_bridge.handlers.engine_steps import diagnostics_step
from tb_bridge.handlers.review_steps import (DAILY_KEY, WellAudit, daily_production_step, telemetry_week,
                                             weekly_review_step)
from tb_bridge.history.store import HistoryStore
from tb_bridge.wells.model import parse_well_config

STEP_MS = 300_000
DAY_MS = 86_400_000
DAY = 288
START_MS = 1_764_000_000_000 - 1_764_000_000_000 % DAY_MS  # a UTC midnight


class FakeLog:
    """A HistoryLog holding daily runs and an alarm log for one well (what the history store would return)."""

    def __init__(self, daily=(), events=(), prior=None, fast=()):
        self.daily, self.events, self.prior, self.fast = list(daily), list(events), dict(prior or {}), list(fast)

    def results(self, entity_ids, tier, keys, start_ms, end_ms):
        runs = self.daily if tier == "daily" else self.fast
        out = {}
        for well, ts, values in runs:
            if well in entity_ids and start_ms < ts <= end_ms:
                picked = {k: v for k, v in values.items() if k in keys}
                if picked:
                    out.setdefault(well, []).append((ts, picked))
        return out

    def alarm_log(self, entity_ids, start_ms, end_ms):
        return ([e for e in self.events if e[0] in entity_ids and start_ms / 1000 <= e[1] < end_ms / 1000],
                {k: v for k, v in self.prior.items() if k[0] in entity_ids})


def _week_field():
    field = SyntheticField({"esp": 1}, seed=2, start_ms=START_MS)
    arrays = {k: v[0] for k, v in field.arrays("esp", 7 * DAY + 1).items()}
    ts = START_MS + np.arange(7 * DAY + 1, dtype=np.int64) * STEP_MS
    well = field.wells[0]
    return parse_well_config(well.name, well.name, well.attributes), ts, arrays


def _context(config, ts, arrays, now_ms, *, source=None, log=None, state=None, tier="weekly"):
    window = BufferWindow(ts[-DAY:], {k: v[-DAY:] for k, v in arrays.items()})
    return WellContext(config=config, window=window, now_ms=now_ms, tier=tier, history_source=source, history_log=log,
                       state={} if state is None else state)


def _daily_runs(config, ts, arrays, days):
    """The daily summaries the daily tier would have logged at the end of each of the last ``days`` days."""
    runs = []
    for d in range(7 - days, 7):
        end = int(ts[0]) + (d + 1) * DAY_MS
        part = (ts > end - DAY_MS) & (ts <= end)
        ctx = _context(config, ts[part], {k: v[part] for k, v in arrays.items()}, end, tier="daily")
        runs.append((config.entity_id, end, daily_production_step(ctx).attributes))
    return runs


def test_the_week_comes_from_thingsboard_or_the_daily_summaries_whichever_has_more(tmp_path):
    config, ts, arrays = _week_field()
    now = int(ts[-1])  # 7 days after the first sample

    def source(entity_id, keys, days):
        assert entity_id == config.entity_id and days == 7
        return {k: (ts, arrays[k]) for k in keys if k in arrays}

    log = FakeLog(daily=_daily_runs(config, ts, arrays, 7))
    week = telemetry_week(_context(config, ts, arrays, now, source=source, log=log), now - 7 * DAY_MS, now)
    assert week.source == "thingsboard"  # the same 2016 samples as the 7 summaries: ThingsBoard on a tie
    for i, d in enumerate(week.days):
        lo, hi = now - (7 - i) * DAY_MS, now - (6 - i) * DAY_MS
        ref = production_totals(ts, lo, hi, liquid_bpd=arrays["flow_rate_bpd"], oil_bpd=arrays["oil_rate_bpd"],
                                water_cut_frac=arrays["water_cut_frac"], gas_mscfd=arrays["gas_rate_mscfd"],
                                power_kw=arrays["motor_power_kw"], step_s=300.0)
        assert d == ref
    inside = ts > now - 7 * DAY_MS
    assert week.moments["motor_current_a"].mean == pytest.approx(arrays["motor_current_a"][inside].mean(), rel=1e-12)
    assert week.total.oil_bbl == pytest.approx(np.sum(arrays["oil_rate_bpd"][inside]) / DAY, rel=1e-12)
    # the summaries give the same week (ThingsBoard absent)
    stored = telemetry_week(_context(config, ts, arrays, now, log=log), now - 7 * DAY_MS, now)
    assert stored.source == "history store (7 daily summaries)"
    assert stored.total.oil_bbl == pytest.approx(week.total.oil_bbl, rel=1e-12)
    assert stored.moments["motor_current_a"].mean == pytest.approx(week.moments["motor_current_a"].mean, rel=1e-12)
    assert stored.moments["motor_current_a"].sd == pytest.approx(arrays["motor_current_a"][inside].std(ddof=1), rel=1e-9)

    # ThingsBoard holding only the last 2 days: the 7 summaries win; failing: the summaries too
    def short(entity_id, keys, days):
        keep = ts > now - 2 * DAY_MS
        return {k: (ts[keep], arrays[k][keep]) for k in keys if k in arrays}

    def broken(entity_id, keys, days):
        raise ConnectionError("ThingsBoard down")

    for src in (short, broken):
        assert telemetry_week(_context(config, ts, arrays, now, source=src, log=log), now - 7 * DAY_MS,
                              now).source == "history store (7 daily summaries)"
    # ... unless the summaries hold less: 1 day against 2
    one = FakeLog(daily=_daily_runs(config, ts, arrays, 1))
    assert telemetry_week(_context(config, ts, arrays, now, source=short, log=one), now - 7 * DAY_MS,
                          now).source == "thingsboard"
    with pytest.raises(InsufficientData):
        telemetry_week(_context(config, ts, arrays, now, log=FakeLog()), now - 7 * DAY_MS, now)


def test_daily_summary_covers_the_samples_since_the_previous_one():
    config, ts, arrays = _week_field()
    state: dict = {}
    end = int(ts[DAY])
    first = daily_production_step(_context(config, ts[:DAY + 1], {k: v[:DAY + 1] for k, v in arrays.items()}, end,
                                           state=state, tier="daily")).attributes[DAILY_KEY]
    assert first["totals"]["samples"] == DAY and first["totals"]["start_ms"] == end - DAY_MS
    # half a day later (a manual run): only the samples after the previous summary
    later = int(ts[DAY + 144])
    second = daily_production_step(_context(config, ts[:DAY + 145], {k: v[:DAY + 145] for k, v in arrays.items()},
                                            later, state=state, tier="daily")).attributes[DAILY_KEY]
    assert (second["totals"]["start_ms"], second["totals"]["samples"]) == (end, 144)
    assert second["totals"]["oil_bbl"] == pytest.approx(np.sum(arrays["oil_rate_bpd"][DAY + 1:DAY + 145]) / DAY)
    n, mean, sd = second["moments"]["frequency_hz"]
    assert (n, mean) == (144, pytest.approx(arrays["frequency_hz"][DAY + 1:DAY + 145].mean(), rel=1e-12))
    with pytest.raises(InsufficientData):
        daily_production_step(_context(config, ts[:DAY + 145], {k: v[:DAY + 145] for k, v in arrays.items()},
                                       later, state=state, tier="daily"))


def test_weekly_step_on_a_hand_built_alarm_log_and_diagnoses():
    config, ts, arrays = _week_field()
    now = int(ts[-1])
    s0 = now / 1000.0 - 7 * 86_400
    w = config.entity_id
    events = [(w, s0 + 3600.0, "pump_wear", "MINOR", "ACTIVE", "UNACK"),
              (w, s0 + 3 * 3600.0, "pump_wear", "MINOR", "RTN", "RTNUN"),
              (w, s0 + 5 * 3600.0, "pump_wear", "MINOR", "ACK", "NORM")]
    fast = [(w, now - 7 * DAY_MS + (i + 1) * STEP_MS, {"opt_anomaly_type": t, "opt_anomaly_severity": s})
            for i, (t, s) in enumerate([("none", "NONE")] * 10 + [("pump_wear", "MINOR")] * 6 + [("gas_lock", "MAJOR")] * 3)]
    daily = _daily_runs(config, ts, arrays, 7)
    health = [90.0, 89.0, 88.5, 87.0, 86.0, 85.5, 84.0]
    for (_, _, values), h in zip(daily, health):
        values["opt_health_daily_score"] = h
    log = FakeLog(daily=daily, events=events, prior={(w, "statistical_deviation"): "UNACK"}, fast=fast)
    state: dict = {}
    out = weekly_review_step(_context(config, ts, arrays, now, log=log, state=state)).attributes
    assert out["opt_weekly_alarm_count"] == 1
    # statistical_deviation stood all week (from before it): 168 h; pump_wear 2 h inside it
    summary = out["opt_weekly_anomaly_summary"]
    assert summary["alarm_hours"]["by_type"] == pytest.approx({"pump_wear": 2.0, "statistical_deviation": 168.0})
    assert out["opt_weekly_alarm_hours"] == pytest.approx(168.0)
    assert out["opt_weekly_anomaly_hours"] == pytest.approx(9 / 12)
    assert summary["diagnosed_hours"]["by_severity"] == pytest.approx({"MAJOR": 3 / 12, "MINOR": 6 / 12})
    t = np.array([(end - now) / DAY_MS for _, end, _ in daily])
    assert out["opt_weekly_health_trend_per_day"] == pytest.approx(np.polyfit(t, health, 1)[0], rel=1e-12)
    assert [d["health"] for d in out["opt_weekly_daily"]] == health
    assert state["weekly_review"].now_ms == now and state["weekly_review"].alarms.raised == 1


def test_health_trends_fall_back_to_the_5_minute_scores_below_two_daily_scores(tmp_path):
    """A new service (one daily score in the week): the well's trend is the least-squares slope of its 5-minute
    health scores, the field's that of the wells' mean score at each run time (references: numpy.polyfit)."""
    config, ts, arrays = _week_field()
    now = int(ts[-1])
    w = config.entity_id
    runs = now - DAY_MS + (np.arange(288) + 1) * STEP_MS  # the last day's fast runs
    scores = 92.0 - 3.0 * (runs - runs[0]) / DAY_MS + 0.5 * np.sin(np.arange(288))
    fast = [(w, int(t), {"opt_anomaly_type": "none", "opt_anomaly_severity": "NONE", "opt_well_health_score": float(h)})
            for t, h in zip(runs, scores)]
    daily = _daily_runs(config, ts, arrays, 1)
    daily[0][2]["opt_health_daily_score"] = 91.0
    state: dict = {}
    out = weekly_review_step(_context(config, ts, arrays, now, log=FakeLog(daily=daily, fast=fast),
                                      state=state)).attributes
    t = (runs - now) / DAY_MS
    assert out["opt_weekly_health_trend_per_day"] == pytest.approx(np.polyfit(t, scores, 1)[0], rel=1e-9)
    assert out["opt_weekly_health_trend_per_day"] == pytest.approx(-3.0, abs=0.1)
    # a second well with the same run times and scores 10 points lower: the field trend of the mean per run time
    other = {"weekly_review": dataclasses.replace(
        state["weekly_review"], entity_id="w2", health_samples=tuple((int(t), float(h) - 10.0 + 0.01 * i)
                                                                     for i, (t, h) in enumerate(zip(runs, scores))))}
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    try:
        field = FieldReview(store, field_asset_id=None, asset_writeback=None).run("weekly", now, [state, other], {})
    finally:
        store.close()
    mean = (scores + (scores - 10.0 + 0.01 * np.arange(288))) / 2.0
    assert field["opt_field_health_trend_per_day"] == pytest.approx(np.polyfit(t, mean, 1)[0], rel=1e-9)


def test_field_review_without_a_field_asset_keeps_the_summary_in_the_history_store(tmp_path, caplog):
    config, ts, arrays = _week_field()
    now = int(ts[-1])
    state: dict = {}
    weekly_review_step(_context(config, ts, arrays, now, log=FakeLog(daily=_daily_runs(config, ts, arrays, 7)),
                                state=state))
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    try:
        review = FieldReview(store, field_asset_id=None, asset_writeback=None)
        with caplog.at_level(logging.INFO, logger="tb_bridge.field_review"):
            first = review.run("weekly", now, [state], {})
            assert review.run("weekly", now, [state], {}) == first
        assert first["opt_field_oil_bbl"] == state["weekly_review"].week.total.oil_bbl
        kept = store.field_summaries(DEFAULT_FIELD_ID, "weekly")
        assert len(kept) == 2 and kept[0].summary == first
        assert [r.message for r in caplog.records].count(
            "no field asset is configured (field_asset_id): the field summaries go to the history store only "
            "(table field_summary)") == 1
        assert review.run("weekly", now + 1, [state], {}) is None  # no well reviewed at that time
    finally:
        store.close()


def test_audit_of_the_field_isolation_forest_and_pca_monitor():
    """8 ESP wells: a first baseline and the field models from their first buffered day, then three wells with a
    mechanical imbalance (vibration x6) the next day."""
    faults = {f"ESP-0{i}": ("mechanical_imbalance", DAY) for i in (1, 2, 3)}
    field = SyntheticField({"esp": 8}, seed=9, start_ms=START_MS, faults=faults)
    arrays = field.arrays("esp", 2 * DAY)
    ts = START_MS + np.arange(2 * DAY, dtype=np.int64) * STEP_MS
    shared: dict = {}
    contexts = []
    for w in field.wells:
        config = parse_well_config(w.name, w.name, w.attributes)
        window = BufferWindow(ts[:DAY], {k: v[w.index, :DAY] for k, v in arrays.items()})
        contexts.append(WellContext(config=config, window=window, now_ms=int(ts[DAY - 1]), tier="daily", state={},
                                    field_state=shared))
    diagnostics_step.run_batch([dataclasses_replace(c, tier="fast") for c in contexts])
    diagnostics_step.train_field_models(contexts)
    models = shared["diagnostics"]
    forest_fit, pca_fit = models["fits"]["isolation_forest"], models["fits"]["field_pca"]
    for fit, rows in ((forest_fit, 8 * 4), (pca_fit, 8 * 4)):  # 4 six-hour windows per well
        assert (fit.fitted_ms, fit.window_start_ms, fit.window_end_ms, fit.samples) == (ts[DAY - 1], ts[0], ts[DAY - 1], rows)
    needed = feature_keys("esp")
    assert forest_fit.inputs == needed
    for k, mean, sd in zip(needed, forest_fit.train_mean, forest_fit.train_sd):
        day1 = arrays[k][:, :DAY].ravel()
        assert mean == pytest.approx(day1.mean(), rel=1e-12) and sd == pytest.approx(day1.std(ddof=1), rel=1e-12)
    # the next day's moments of each well, as its monthly audit would hold them
    now = int(ts[-1])
    audits = [WellAudit(w.name, w.name, "esp", now, (), {k: Moments.of(v[w.index, DAY:]) for k, v in arrays.items()},
                        "test") for w in field.wells]
    baselines = {c.config.entity_id: c.state["diagnostics"].baseline for c in contexts}
    rows = {r["model"]: r for r in field_model_rows("esp", models, audits, baselines, now)}
    forest, pca_row = rows["isolation_forest"], rows["field_pca"]
    assert forest["age_days"] == pytest.approx((now - ts[DAY - 1]) / DAY_MS) and forest["scope"] == "field"
    for i, k in enumerate(needed):
        pooled = arrays[k][:, DAY:].mean()
        ref = (pooled - forest_fit.train_mean[i]) / forest_fit.train_sd[i]
        assert forest["drift"][k] == pytest.approx(ref, abs=5.1e-5)
    assert forest["max_drift_input"] == "vibration_g" and forest["drifted"]
    pca = models["pca"]
    for i, k in enumerate(pca.keys):
        z = [(arrays[k][j, DAY:].mean() - baselines[w.name].loc[0, baselines[w.name].column(k)])
             / baselines[w.name].scale[0, baselines[w.name].column(k)] for j, w in enumerate(field.wells)]
        assert pca_row["drift"][k] == pytest.approx((np.mean(z) - pca.mean[i]) / pca.scale[i], abs=5.1e-5)
    assert pca_row["samples"] == 32 and pca_row["max_drift_input"] == "vibration_g"
    assert field_model_rows("srp", {}, audits, baselines, now) == []


def dataclasses_replace(context, **changes):
    import dataclasses

    return dataclasses.replace(context, **changes)


def test_every_field_chart_of_the_overview_is_written_to_the_field_asset(tmp_path):
    """The field-overview charts of the Field asset draw time series the weekly field review writes there: the
    weekly keys (declared ``both``) at the review's time, equal to the attribute, the daily ones at each day's end."""
    import json
    from pathlib import Path

    from tests.doubles import RecordingWriteback

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "dashboards" / "field_overview.json").read_text())
    aliases = dashboard["configuration"]["entityAliases"]
    charted = {k["name"] for w in dashboard["configuration"]["widgets"].values() if w["type"] == "timeseries"
               for ds in w["config"]["datasources"] if aliases[ds["entityAliasId"]]["filter"]["type"] == "assetType"
               for k in ds["dataKeys"]}
    assert charted
    config, ts, arrays = _week_field()
    now = int(ts[-1])
    daily = _daily_runs(config, ts, arrays, 7)
    for (_, _, values), h in zip(daily, [90.0, 89.0, 88.0, 87.0, 86.0, 85.0, 84.0]):
        values["opt_health_daily_score"] = h
    state: dict = {}
    weekly_review_step(_context(config, ts, arrays, now, log=FakeLog(daily=daily), state=state))
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    asset = RecordingWriteback()
    try:
        attributes = FieldReview(store, field_asset_id="F", asset_writeback=asset).run("weekly", now, [state], {})
    finally:
        store.close()
    series: dict[str, list] = {}
    for entity, points in asset.timeseries:
        assert entity == "F"
        for t, values in points:
            for key, value in values.items():
                series.setdefault(key, []).append((t, value))
    for key in charted:
        assert series.get(key), key
        if key in attributes:
            assert series[key] == [(now, attributes[key])]
        else:
            assert [t for t, _ in series[key]] == [now - (6 - i) * DAY_MS for i in range(7)]
    assert [v for _, v in series["opt_field_daily_health"]] == [90.0, 89.0, 88.0, 87.0, 86.0, 85.0, 84.0]
    assert asset.latest["F"] == attributes
