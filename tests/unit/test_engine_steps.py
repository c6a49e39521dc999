"""Engine steps as the handlers run them: history choice for decline analysis (ThingsBoard when it
has 30+ points, else the buffer, reported), daily averaging, nodal caching by configuration."""
from __future__ import annotations

import numpy as np
import pytest

from engines.dca import rate_bpd
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.handlers.base import WellContext
from tb_bridge.handlers.engine_steps import DAY_MS, daily_means, daily_uptime, dca_step, nodal_step
from tb_bridge.wells.model import parse_well_config

WELL = parse_well_config("w", "PCP-01", {"lift_type": "pcp", "reservoir_pressure_psi": 2500, "bubble_point_psi": 1200,
                                         "productivity_index_bpd_psi": 0.8, "perforation_depth_ft": 5000,
                                         "pump_depth_ft": 4800})
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def exponential_history(days: int, qi=500.0, d_per_day=0.004):
    t = np.arange(days, dtype=float)
    return T0 + (t * DAY_MS).astype(np.int64), rate_bpd(t, qi, d_per_day)


def context(history_source, window=None, now_ms=T0 + 200 * DAY_MS):
    window = window or BufferWindow(np.array([now_ms - 600_000, now_ms - 300_000]), {"flow_rate_bpd": np.array([1.0, 1.0])})
    return WellContext(config=WELL, window=window, now_ms=now_ms, tier="daily", history_source=history_source)


def test_thingsboard_history_is_used_when_it_has_30_points_and_fits_the_generating_decline():
    ts, q = exponential_history(180)
    out = dca_step(context(lambda entity, key, days: (ts, q)))
    a = out.attributes
    assert a["opt_dca_history_source"] == "thingsboard"
    assert a["opt_dca_model"] == "exponential"
    assert a["opt_dca_qi_bpd"] == pytest.approx(500.0, rel=1e-3)
    # Nominal decline 0.004/day = 12.175 %/month (30.4375-day months).
    assert a["opt_dca_di_pct_month"] == pytest.approx(0.4 * 30.4375, rel=1e-3)
    # Projected points are in the future only, monthly, and follow the fitted exponential.
    assert out.timeseries and all(ts_ms > T0 + 200 * DAY_MS for ts_ms, _ in out.timeseries)
    first_ts, first = out.timeseries[0]
    t_days = (first_ts - T0) / DAY_MS
    assert first["opt_dca_forecast_bpd"] == pytest.approx(500.0 * np.exp(-0.004 * t_days), rel=2e-3)


def test_short_thingsboard_history_falls_back_to_the_buffer_and_says_so():
    ts, q = exponential_history(10)
    window = BufferWindow(ts, {"flow_rate_bpd": q})  # the buffer happens to hold the same 10 points
    out = dca_step(context(lambda entity, key, days: (ts, q), window=window, now_ms=int(ts[-1])))
    assert out.attributes["opt_dca_history_source"] == "buffer (ThingsBoard had 10 points)"
    failing = dca_step(context(lambda *a: (_ for _ in ()).throw(ConnectionError("down")), window=window, now_ms=int(ts[-1])))
    assert failing.attributes["opt_dca_history_source"] == "buffer (ThingsBoard history failed: ConnectionError)"


def test_daily_means_weigh_each_day_once():
    ts = np.array([T0, T0 + 3_600_000, T0 + DAY_MS, T0 + DAY_MS + 1, T0 + 3 * DAY_MS])
    values = np.array([10.0, 20.0, 30.0, np.nan, 50.0])
    days, means = daily_means(ts, values)
    assert days.tolist() == [T0, T0 + DAY_MS, T0 + 3 * DAY_MS]
    assert means.tolist() == [15.0, 30.0, 50.0]


def test_nodal_step_is_recomputed_only_when_the_configuration_changes(monkeypatch):
    import tb_bridge.adapters.nodal as nodal_adapter

    calls = []
    real = nodal_adapter.solve_well
    monkeypatch.setattr(nodal_adapter, "solve_well", lambda well: calls.append(well) or real(well))
    ctx = context(None)
    first = nodal_step(ctx).attributes
    assert nodal_step(ctx).attributes == first and len(calls) == 1
    changed = WellContext(config=WELL.model_copy(update={"reservoir_pressure_psi": 2000.0}), window=ctx.window,
                          now_ms=ctx.now_ms, tier="hourly", state=ctx.state)
    second = nodal_step(changed).attributes
    assert len(calls) == 2 and second["opt_nodal_aof_bpd"] < first["opt_nodal_aof_bpd"]


def test_dca_step_writes_calendar_month_p50_series_and_the_no_decline_flag():
    import datetime as dt

    ts, q = exponential_history(180)
    out = dca_step(context(lambda entity, key, days: (ts, q)))
    assert out.attributes["opt_dca_no_decline"] is False and out.attributes["opt_dca_no_decline_reason"] == ""
    assert out.attributes["opt_dca_segment_start_ts"] == T0
    months = {m["ts_ms"]: m for m in out.attributes["opt_dca_forecast"]["months"]}
    for ts_ms, values in out.timeseries:
        end = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone.utc)
        assert (end.day, end.hour, end.minute) == (1, 0, 0)  # stamped at a calendar month end (00:00 UTC on the 1st)
        assert values["opt_dca_forecast_p90_bpd"] <= values["opt_dca_forecast_p50_bpd"] <= values["opt_dca_forecast_p10_bpd"]
        assert values["opt_dca_forecast_p50_bpd"] == months[ts_ms]["rate_p50_bpd"]
    flat = np.full(180, 320.0) * np.exp(np.random.default_rng(0).normal(0.0, 0.04, 180))
    out = dca_step(context(lambda entity, key, days: (ts, flat)))
    assert out.attributes["opt_dca_no_decline"] is True
    assert out.attributes["opt_dca_no_decline_reason"].startswith("flat:")
    assert out.attributes["opt_dca_model"] == "no_decline"
    assert out.attributes["opt_dca_eur_p90"] <= out.attributes["opt_dca_eur_stb"] <= out.attributes["opt_dca_eur_p10"]


def test_partial_days_in_thingsboard_history_are_normalized_by_their_uptime():
    """5-minute telemetry with the well down for part of some days (rate 0): the daily mean divided by the
    day's producing fraction is the rate while producing, so the fit recovers the generating decline."""
    rng = np.random.default_rng(4)
    n_days = 120
    ts = T0 + np.arange(n_days * 288, dtype=np.int64) * 300_000
    t_days = (ts - T0) / DAY_MS
    q = rate_bpd(t_days, 500.0, 0.004)
    # down a growing part of each day (0 to 12 hours, e.g. a pump-off controller): unnormalized daily means
    # would decline faster than the well
    hours_down = 12.0 * np.arange(n_days) / n_days + rng.uniform(0.0, 1.0, n_days)
    down = ((t_days % 1.0) * 24.0) < np.repeat(hours_down, 288)
    q = np.where(down, 0.0, q)
    assert daily_uptime(ts, q).min() < 0.55
    out = dca_step(context(lambda entity, key, days: (ts, q), now_ms=int(ts[-1])))
    a = out.attributes
    assert a["opt_dca_model"] == "exponential"
    assert a["opt_dca_qi_bpd"] == pytest.approx(500.0, rel=1e-2)
    assert a["opt_dca_di_pct_month"] == pytest.approx(0.4 * 30.4375, rel=1e-2)
