"""Weekly and monthly tiers (issue 18: 3) on the production schedule of a simulated clock: a small field (three ESP
wells and one gas-lift well) streams 8 days of synthetic telemetry from Sunday 23 Nov 2025 06:05 UTC, so that the
weekly tier runs on Monday 24 Nov and Monday 1 Dec at 06:30 and the monthly tier on 1 Dec at 06:45. Injected: pump
wear on ESP-02 from day 3 (alarms raised, then returned when its telemetry goes back to the healthy twin's at day
4.5) and a 6-hour shut-in of GL-01 on day 4 (zero liquid, oil and gas).

References, each computed here from the streamed arrays or the history store without the review code:
volumes = sum(rate) x 300 s / 86 400 s over the samples the week's 7 daily summaries cover; uptime = producing hours
/ 168 h; field values = sums over the wells; alarm hours from a walk over every recorded alarm event of a well;
alarm KPIs = ``alarm_kpis`` on the log ``atilax alarms kpi --db`` reads; trends = ``numpy.polyfit``; model ages from
the fit instants; drift = (7-day mean - training mean) / training sd from the models as they stood before the
monthly refit.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from engines.alarms.kpi import alarm_kpis
from engines.fielddata import SyntheticField
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.cli.alarms import read_history_log
from tb_bridge.config import load_settings
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service
from tests.doubles import RecordingWriteback

START = datetime(2025, 11, 23, 6, 5, tzinfo=timezone.utc)  # a Sunday
START_MS = int(START.timestamp() * 1000)
STEP_MS = 300_000
DAY_MS = 86_400_000
DAY = 288
WEEKLY = datetime(2025, 12, 1, 6, 30, tzinfo=timezone.utc)  # Monday
MONTHLY = datetime(2025, 12, 1, 6, 45, tzinfo=timezone.utc)  # the 1st
W_MS, M_MS = int(WEEKLY.timestamp() * 1000), int(MONTHLY.timestamp() * 1000)
FIELD_ID = "FIELD-1"
N_STEPS = 8 * DAY + 12
#: the 7 daily summaries before the second weekly run cover the samples (Mon 24 Nov 06:00, Mon 1 Dec 06:00]
WEEK = slice(DAY, 8 * DAY)
SHUT_IN = slice(4 * DAY, 4 * DAY + 72)  # 6 h of GL-01 on day 4
FAULT_ONSET, FAULT_END = 3 * DAY, int(4.5 * DAY)
ESP_WELLS = ("ESP-01", "ESP-02", "ESP-03")


def ts_of(step: int) -> int:
    return START_MS + step * STEP_MS


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    field = SyntheticField({"esp": 3, "gas_lift": 1}, seed=11, start_ms=START_MS,
                           faults={"ESP-02": ("pump_wear", FAULT_ONSET)})
    healthy = SyntheticField({"esp": 3, "gas_lift": 1}, seed=11, start_ms=START_MS)
    arrays = {lift: field.arrays(lift, N_STEPS) for lift in ("esp", "gas_lift")}
    twin = healthy.arrays("esp", N_STEPS)
    for key, values in arrays["esp"].items():  # ESP-02 recovers at day 4.5 (its pump replaced)
        values[1, FAULT_END:] = twin[key][1, FAULT_END:]
    for key in ("flow_rate_bpd", "oil_rate_bpd", "gas_rate_mscfd"):
        arrays["gas_lift"][key][0, SHUT_IN] = 0.0
    url = f"sqlite:///{tmp_path_factory.mktemp('review')}/h.db"
    writeback, asset = RecordingWriteback(), RecordingWriteback()
    settings = load_settings(database_url=url, field_asset_id=FIELD_ID,
                             scheduler={"enabled_tiers": ["fast", "daily", "weekly", "monthly"]})
    service = Service(settings, writeback, buffer=MemoryBuffer(), history=HistoryStore(url), asset_writeback=asset)
    for w in field.wells:
        service.registry.update(w.name, w.attributes, name=w.name)

    def stream(now: datetime) -> None:
        t = (int(now.timestamp() * 1000) - START_MS) // STEP_MS
        service.buffer.append_many((w.name, ts_of(t), {k: float(v[w.index, t]) for k, v in arrays[w.lift_type].items()})
                                   for w in field.wells)

    before_monthly = MONTHLY - timedelta(minutes=5)
    ran = service.scheduler.simulate(START, before_monthly, before_tick=stream)
    # the models as they served the month (the monthly refit after the audit replaces the baselines)
    served = {w.name: copy.deepcopy({k: service._well_state[w.name][k] for k in ("diagnostics", "model_fits")})
              for w in field.wells}
    ran += service.scheduler.simulate(before_monthly, before_monthly + timedelta(minutes=15), before_tick=stream)
    by_well = {w.name: {k: v[w.index] for k, v in arrays[w.lift_type].items()} for w in field.wells}
    yield field, by_well, service, writeback, asset, served, ran, url
    service.close()


def _weekly(writeback, well):
    """The well's attributes of the last weekly run (1 Dec)."""
    return [a for e, a in writeback.attributes if e == well and a.get("opt_last_tier") == "weekly"][-1]


def _volume(values):
    return float(np.sum(values)) * STEP_MS / 1000.0 / 86_400.0


def test_the_schedule_runs_the_weekly_and_monthly_tiers(run):
    *_, ran, _ = run
    long_tiers = [(when, tier) for when, tier in ran if tier in ("weekly", "monthly")]
    assert long_tiers == [(datetime(2025, 11, 24, 6, 30, tzinfo=timezone.utc), "weekly"), (WEEKLY, "weekly"),
                          (MONTHLY, "monthly")]
    assert [tier for _, tier in ran].count("daily") == 8


def test_weekly_production_per_well_equals_the_streamed_telemetry(run):
    field, data, _, writeback, *_ = run
    for w in field.wells:
        got, x = _weekly(writeback, w.name), data[w.name]
        assert got["opt_weekly_source"] == "history store (7 daily summaries)"
        assert (got["opt_weekly_period_start_ts"], got["opt_weekly_period_end_ts"]) == (ts_of(DAY - 1), ts_of(8 * DAY - 1))
        assert got["opt_weekly_oil_bbl"] == pytest.approx(_volume(x["oil_rate_bpd"][WEEK]), rel=1e-12)
        water = x["flow_rate_bpd"][WEEK] * x["water_cut_frac"][WEEK]
        assert got["opt_weekly_water_bbl"] == pytest.approx(_volume(water), rel=1e-12)
        assert got["opt_weekly_gas_mscf"] == pytest.approx(_volume(x["gas_rate_mscfd"][WEEK]), rel=1e-12)
        assert got["opt_weekly_oil_bpd"] == pytest.approx(_volume(x["oil_rate_bpd"][WEEK]) / 7.0, rel=1e-12)
        producing_h = np.count_nonzero(x["flow_rate_bpd"][WEEK] > 1.0) / 12.0
        assert got["opt_weekly_uptime_pct"] == pytest.approx(100.0 * producing_h / 168.0, rel=1e-12)
        assert got["opt_weekly_data_coverage_pct"] == pytest.approx(100.0, rel=1e-12)
        daily_oil = [_volume(x["oil_rate_bpd"][DAY * (d + 1):DAY * (d + 2)]) for d in range(7)]  # bbl/d of each day
        assert got["opt_weekly_oil_trend_bpd_per_day"] == pytest.approx(np.polyfit(np.arange(7), daily_oil, 1)[0],
                                                                        rel=1e-9, abs=1e-9)
        if w.lift_type == "esp":
            energy = float(np.sum(x["motor_power_kw"][WEEK])) / 12.0  # kW x 5 min
            assert got["opt_weekly_energy_kwh"] == pytest.approx(energy, rel=1e-12)
            assert got["opt_weekly_kwh_per_bbl"] == pytest.approx(energy / _volume(x["flow_rate_bpd"][WEEK]), rel=1e-12)
        else:  # gas lift: no motor power, no specific energy
            assert "opt_weekly_energy_kwh" not in got and "opt_weekly_kwh_per_bbl" not in got
    gl = _weekly(writeback, "GL-01")
    assert gl["opt_weekly_uptime_pct"] == pytest.approx(100.0 * (168.0 - 6.0) / 168.0, rel=1e-12)  # the shut-in
    assert len(gl["opt_weekly_daily"]) == 7 and gl["opt_weekly_daily"][3]["uptime_pct"] == pytest.approx(75.0)


def _alarm_hours(rows, start_s, end_s):
    """Hours each alarm type stood annunciated (UNACK / ACKED) in [start_s, end_s), walking every event of a well from
    its first one; and the hours with any alarm standing, on a 1-second grid."""
    spans: dict[str, list[tuple[float, float]]] = {}
    since: dict[str, float] = {}
    for r in sorted(rows, key=lambda r: (r.ts, r.id)):
        t = r.ts.timestamp()
        standing = r.state in ("UNACK", "ACKED")
        if standing and r.alarm_type not in since:
            since[r.alarm_type] = t
        elif not standing and r.alarm_type in since:
            spans.setdefault(r.alarm_type, []).append((since.pop(r.alarm_type), t))
    for alarm_type, t in since.items():
        spans.setdefault(alarm_type, []).append((t, end_s))
    clipped = {k: [(max(a, start_s), min(b, end_s)) for a, b in v if min(b, end_s) > max(a, start_s)]
               for k, v in spans.items()}
    hours = {k: sum(b - a for a, b in v) / 3600.0 for k, v in clipped.items() if v}
    grid = np.zeros(int(end_s - start_s), bool)
    for v in clipped.values():
        for a, b in v:
            grid[int(a - start_s):int(b - start_s)] = True
    return hours, grid.sum() / 3600.0


def test_weekly_anomaly_summary_counts_the_recorded_alarms_and_diagnoses(run):
    field, _, service, writeback, *_ = run
    start_s, end_s = W_MS / 1000.0 - 7 * 86_400, W_MS / 1000.0
    raised_total = 0
    for w in field.wells:
        got = _weekly(writeback, w.name)
        summary = got["opt_weekly_anomaly_summary"]
        rows = service.history.alarm_log(well_id=w.name)  # every event of the well, also before the week
        week = [r for r in rows if start_s <= r.ts.timestamp() < end_s]
        activations = [r for r in week if (r.details or {}).get("kind") == "ACTIVE"]
        by_type: dict[str, int] = {}
        by_severity: dict[str, int] = {}
        for r in activations:
            by_type[r.alarm_type] = by_type.get(r.alarm_type, 0) + 1
            by_severity[r.severity] = by_severity.get(r.severity, 0) + 1
        assert got["opt_weekly_alarm_count"] == len(activations) == summary["alarms_raised"]["total"]
        assert summary["alarms_raised"]["by_type"] == by_type and summary["alarms_raised"]["by_severity"] == by_severity
        hours, any_hours = _alarm_hours(rows, start_s, end_s)
        assert summary["alarm_hours"]["by_type"] == pytest.approx(hours, abs=1e-9)
        assert got["opt_weekly_alarm_hours"] == pytest.approx(any_hours, abs=1e-9)
        # diagnoses: every fast run of the week (by its tier time, the run at the review's time included) whose
        # diagnosis found an anomaly, 5 minutes each
        fast = [r.results for r in service.history.runs(w.name, limit=10_000, tier="fast")
                if start_s * 1000 < r.results["opt_last_run_ts"] <= end_s * 1000 and "opt_anomaly_type" in r.results]
        anomalous = [r for r in fast if r["opt_anomaly_type"] != "none"]
        assert got["opt_weekly_anomaly_hours"] == pytest.approx(len(anomalous) / 12.0, abs=1e-12)
        for kind in {r["opt_anomaly_type"] for r in anomalous}:
            n = sum(1 for r in anomalous if r["opt_anomaly_type"] == kind)
            assert summary["diagnosed_hours"]["by_type"][kind] == pytest.approx(n / 12.0, abs=1e-12)
        raised_total += len(activations)
    esp2 = _weekly(writeback, "ESP-02")["opt_weekly_anomaly_summary"]
    assert esp2["alarms_raised"]["by_type"].get("pump_wear", 0) >= 1  # the injected fault, raised and returned
    assert 20.0 < esp2["alarm_hours"]["by_type"]["pump_wear"] < 36.0  # onset + ramp + on-delay .. recovery + off-delay
    assert raised_total > 0


def test_weekly_health_trend_is_the_slope_of_the_logged_daily_scores(run):
    field, _, service, writeback, *_ = run
    for w in field.wells:
        daily = [r.results for r in service.history.runs(w.name, limit=20, tier="daily")
                 if W_MS - 7 * DAY_MS < r.results["opt_last_run_ts"] <= W_MS and "opt_health_daily_score" in r.results]
        assert len(daily) == 7
        t = np.array([(r["opt_last_run_ts"] - W_MS) / DAY_MS for r in daily])
        h = np.array([r["opt_health_daily_score"] for r in daily])
        assert _weekly(writeback, w.name)["opt_weekly_health_trend_per_day"] == pytest.approx(np.polyfit(t, h, 1)[0],
                                                                                             rel=1e-9, abs=1e-12)


def test_field_summary_is_the_sum_over_wells_and_the_alarm_kpis_of_the_log(run):
    field, data, service, writeback, asset, _, _, url = run
    weekly = [a for e, a in asset.attributes if e == FIELD_ID and "opt_field_weekly_ts" in a]
    assert [a["opt_field_weekly_ts"] for a in weekly] == [W_MS - 7 * DAY_MS, W_MS]
    got = weekly[-1]
    wells = [_weekly(writeback, w.name) for w in field.wells]
    assert got["opt_field_wells"] == 4 and got["opt_field_source"] == "history store: 4 wells"
    for field_key, well_key in [("opt_field_oil_bbl", "opt_weekly_oil_bbl"), ("opt_field_water_bbl", "opt_weekly_water_bbl"),
                                ("opt_field_gas_mscf", "opt_weekly_gas_mscf"), ("opt_field_oil_bpd", "opt_weekly_oil_bpd"),
                                ("opt_field_energy_kwh", "opt_weekly_energy_kwh"),
                                ("opt_field_alarm_count", "opt_weekly_alarm_count"),
                                ("opt_field_alarm_hours", "opt_weekly_alarm_hours"),
                                ("opt_field_anomaly_hours", "opt_weekly_anomaly_hours"),
                                ("opt_field_oil_trend_bpd_per_day", "opt_weekly_oil_trend_bpd_per_day")]:
        assert got[field_key] == pytest.approx(sum(a.get(well_key, 0.0) for a in wells), rel=1e-12), field_key
    assert got["opt_field_oil_bbl"] == pytest.approx(sum(_volume(data[w]["oil_rate_bpd"][WEEK]) for w in data), rel=1e-12)
    for part in ("alarms_raised", "alarm_hours", "diagnosed_hours"):  # the anomaly summary: summed over the wells
        summed: dict[str, float] = {}
        for a in wells:
            for kind, value in a["opt_weekly_anomaly_summary"][part]["by_type"].items():
                summed[kind] = summed.get(kind, 0) + value
        assert got["opt_field_anomaly_summary"][part]["by_type"] == pytest.approx(summed, rel=1e-12), part
    producing = sum(np.count_nonzero(data[w]["flow_rate_bpd"][WEEK] > 1.0) for w in data) / 12.0
    assert got["opt_field_uptime_pct"] == pytest.approx(100.0 * producing / (4 * 168.0), rel=1e-12)
    assert got["opt_field_uptime_pct"] == pytest.approx(100.0 * (4 * 168.0 - 6.0) / (4 * 168.0), rel=1e-12)
    energy = sum(float(np.sum(data[w]["motor_power_kw"][WEEK])) / 12.0 for w in ESP_WELLS)
    liquid = sum(_volume(data[w]["flow_rate_bpd"][WEEK]) for w in ESP_WELLS)  # wells with a motor power only
    assert got["opt_field_kwh_per_bbl"] == pytest.approx(energy / liquid, rel=1e-12)
    # the alarm KPIs: alarm_kpis on the log `atilax alarms kpi --db URL --start --end` reads, same period
    start_s, end_s = W_MS / 1000.0 - 7 * 86_400, W_MS / 1000.0
    ts, tags, events = read_history_log(url, start_s, end_s)
    kpi = dataclasses.asdict(alarm_kpis(ts, tags, events, start_s, end_s, 1))
    written = got["opt_field_alarm_kpi"]
    for name, value in kpi.items():
        if isinstance(value, float):
            assert written[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
        else:
            assert written[name] == json_like(value), name
    assert kpi["n_alarms"] == got["opt_field_alarm_count"] and kpi["n_periods"] == 7 * 144
    assert got["opt_field_alarms_per_hour"] == pytest.approx(kpi["alarms_per_operator_per_hour"], rel=1e-12)
    # the daily field oil rate and its trend, drawn on the field asset
    daily_oil = [sum(_volume(data[w]["oil_rate_bpd"][DAY * (d + 1):DAY * (d + 2)]) for w in data) for d in range(7)]
    points = {ts: p["opt_field_daily_oil_bpd"] for e, series in asset.timeseries if e == FIELD_ID
              for ts, p in series if "opt_field_daily_oil_bpd" in p and ts > W_MS - 7 * DAY_MS}
    assert sorted(points) == [W_MS - (6 - d) * DAY_MS for d in range(7)]
    assert [points[t] for t in sorted(points)] == pytest.approx(daily_oil, rel=1e-12)
    assert got["opt_field_oil_trend_bpd_per_day"] == pytest.approx(np.polyfit(np.arange(7), daily_oil, 1)[0], rel=1e-9)
    charted = [p for e, series in asset.timeseries if e == FIELD_ID for ts, p in series if ts == W_MS and "opt_field_oil_bpd" in p]
    assert charted == [{k: got[k] for k in charted[0]}] and "opt_field_uptime_pct" in charted[0]
    # kept in the history store: both weeks, the newest as written
    kept = service.history.field_summaries(FIELD_ID, "weekly")
    assert len(kept) == 2 and kept[0].summary == got
    assert kept[0].period_end == WEEKLY and kept[0].period_start == WEEKLY - timedelta(days=7)


def json_like(value):
    """A dataclass field as the JSON attribute holds it (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [json_like(v) for v in value]
    return value


def test_monthly_audit_ages_windows_and_drift_of_every_well_model(run):
    field, data, service, writeback, asset, served, _, _ = run
    week_mean = {w: {k: float(np.nanmean(v[WEEK])) for k, v in data[w].items()} for w in data}
    drifted_rows = 0
    for w in field.wells:
        audit = writeback.latest[w.name]["opt_model_audit"]
        rows = {r["model"]: r for r in audit}
        assert sorted(rows) == ["baseline", "decline", "own_pca"]
        diagnostics = served[w.name]["diagnostics"]
        # the baseline: first fit on the first day (the fast run at Mon 24 Nov 06:00), updated by each daily refresh
        base = rows["baseline"]
        assert base["fitted_ts"] == ts_of(DAY - 1) and base["window_start_ts"] == START_MS
        assert base["age_days"] == pytest.approx(7.0 + 45.0 / 1440.0, abs=1e-12)
        assert base["updated_ts"] == base["window_end_ts"] == ts_of(8 * DAY - 1)
        assert base["samples"] == int(diagnostics.baseline.n_samples[0])
        b = diagnostics.baseline
        for key, z in base["drift"].items():
            c = b.column(key)
            assert z == pytest.approx((week_mean[w.name][key] - b.loc[0, c]) / b.scale[0, c], abs=5.1e-5), (w.name, key)
        assert set(base["drift"]) == set(b.keys)
        # the own-history PCA monitor: fitted with the first baseline on the first 288 samples
        own = rows["own_pca"]
        assert (own["fitted_ts"], own["window_start_ts"], own["window_end_ts"], own["samples"]) == \
            (ts_of(DAY - 1), START_MS, ts_of(DAY - 1), 288)
        pca = diagnostics.own_pca
        for i, key in enumerate(pca.keys):
            assert own["drift"][key] == pytest.approx((week_mean[w.name][key] - pca.mean[i]) / pca.scale[i], abs=5.1e-5)
        # the decline fit of the daily run at 06:00 on the buffered day (Sun 30 Nov 06:05 .. Mon 1 Dec 06:00)
        dec = rows["decline"]
        day = data[w.name]["flow_rate_bpd"][7 * DAY:8 * DAY]
        assert (dec["fitted_ts"], dec["window_start_ts"], dec["window_end_ts"], dec["samples"]) == \
            (ts_of(8 * DAY - 1), ts_of(7 * DAY), ts_of(8 * DAY - 1), DAY)
        assert dec["age_days"] == pytest.approx(45.0 / 1440.0, abs=1e-12)
        assert dec["drift"]["flow_rate_bpd"] == pytest.approx(
            (week_mean[w.name]["flow_rate_bpd"] - day.mean()) / day.std(ddof=1), abs=5.1e-5)
        for r in audit:
            top = max(r["drift"].values(), key=abs)
            assert r["max_abs_drift"] == pytest.approx(abs(top)) and r["drifted"] is (abs(top) >= 3.0)
            drifted_rows += r["drifted"]
        latest = writeback.latest[w.name]
        assert latest["opt_model_max_drift"] == pytest.approx(max(r["max_abs_drift"] for r in audit))
        assert latest["opt_model_oldest_days"] == pytest.approx(7.0 + 45.0 / 1440.0, abs=1e-12)
    # pump wear and recovery moved ESP-02's inputs far from its first-day baseline; ESP-01 saw no fault
    esp2 = {r["model"]: r for r in writeback.latest["ESP-02"]["opt_model_audit"]}
    assert esp2["baseline"]["drifted"] and abs(esp2["baseline"]["drift"]["motor_power_kw"]) > 3.0
    assert max(r["max_abs_drift"] for r in writeback.latest["ESP-01"]["opt_model_audit"]) < 1.0
    got = asset.latest[FIELD_ID]
    assert got["opt_field_model_audit_ts"] == M_MS and got["opt_field_models"] == 12
    assert got["opt_field_models_drifted"] == drifted_rows
    assert got["opt_field_model_oldest_days"] == pytest.approx(7.0 + 45.0 / 1440.0, abs=1e-12)
    assert [r for w in field.wells for r in writeback.latest[w.name]["opt_model_audit"]] == got["opt_field_model_audit"]
    kept = service.history.field_summaries(FIELD_ID, "model_audit")
    assert len(kept) == 1 and kept[0].summary["opt_field_models"] == 12 and kept[0].created_at == MONTHLY
    assert not math.isnan(got["opt_field_model_oldest_days"])
