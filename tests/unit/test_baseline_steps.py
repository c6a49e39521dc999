"""The service's baseline upkeep (issue 8: adaptive 30-day baselines recomputed monthly and updated incrementally,
excluding simulated data and alarm periods): the daily incremental update and the monthly refit leave out the
spans the diagnosis flagged, exactly as if those samples had never been recorded."""
from __future__ import annotations

import numpy as np
import pytest

from engines.anomaly.baseline import fit_baseline, update_baseline
from engines.anomaly.diagnosis import MONITORED_KEYS
from engines.fielddata import SyntheticField
from tb_bridge.buffer.base import BufferWindow
from tb_bridge.handlers.base import InsufficientData, WellContext
from tb_bridge.handlers.engine_steps import (MIN_BASELINE_SAMPLES, _DiagnosticsState, baseline_refit_step,
                                             baseline_refresh_step, diagnostics_step)
from tb_bridge.handlers.registry import HANDLERS
from tb_bridge.wells.model import parse_well_config

DAY = 288
STEP_MS = 300_000


@pytest.fixture(scope="module")
def month():
    """31 days of one ESP well; pump wear from day 20 to day 25 (flow -30%), healthy before and after."""
    field = SyntheticField({"esp": 1}, seed=4, faults={"ESP-01": ("pump_wear", 20 * DAY)})
    a = field.arrays("esp", 31 * DAY)
    healthy = SyntheticField({"esp": 1}, seed=4).arrays("esp", 31 * DAY)
    for k in a:  # the fault is repaired after day 25
        a[k][:, 25 * DAY:] = healthy[k][:, 25 * DAY:]
    ts = field.start_ms + np.arange(31 * DAY, dtype=np.int64) * STEP_MS
    return field, {k: v[0] for k, v in a.items()}, ts


def _context(field, series, ts, sl, tier, state=None, history_source=None):
    w = field.wells[0]
    window = BufferWindow(ts[sl], {k: v[sl].copy() for k, v in series.items()})
    return WellContext(config=parse_well_config(w.name, w.name, w.attributes), window=window, now_ms=int(ts[sl][-1]),
                       tier=tier, state={} if state is None else state, history_source=history_source)


def test_daily_update_leaves_out_the_anomalous_spans(month):
    field, series, ts = month
    state = {}
    diagnostics_step(_context(field, series, ts, slice(0, DAY), "fast", state))  # first baseline on day 0
    diag: _DiagnosticsState = state["diagnostics"]
    base0 = diag.baseline
    span = [int(ts[20 * DAY + 10]), int(ts[20 * DAY + 100])]
    diag.anomaly_spans = [span]
    diag.last_refresh_ms = int(ts[20 * DAY - DAY // 2 - 1])
    ctx = _context(field, series, ts, slice(19 * DAY + DAY // 2, 20 * DAY + DAY // 2), "daily", state)
    baseline_refresh_step(ctx)
    # Reference: the same update over the day's samples with the flagged ones removed.
    keep = (ctx.window.ts_ms < span[0]) | (ctx.window.ts_ms > span[1])
    assert keep.sum() == DAY - 91
    ref = update_baseline(base0, {k: series[k][19 * DAY + DAY // 2:20 * DAY + DAY // 2][keep][None, :] for k in base0.keys},
                          eta=0.01)
    for name in ("median", "sigma", "loc", "scale", "n_samples"):
        np.testing.assert_array_equal(getattr(diag.baseline, name), getattr(ref, name))
    assert diag.last_refresh_ms == int(ts[20 * DAY + DAY // 2 - 1])
    assert diag.health_history == [diag.last_health]


def test_monthly_refit_reads_30_days_and_excludes_the_fault(month):
    field, series, ts = month
    state = {"diagnostics": _DiagnosticsState(baseline=fit_baseline({k: v[None, :DAY] for k, v in series.items()}))}
    end = 31 * DAY
    span = [int(ts[20 * DAY]), int(ts[25 * DAY - 1])]  # what the fast tier flagged
    state["diagnostics"].anomaly_spans = [span]
    calls = []

    def history_source(entity_id, keys, days):  # ThingsBoard: the last `days` days of all the keys in one read
        calls.append((entity_id, tuple(keys), days))
        return {key: (ts[end - days * DAY:end], series[key][end - days * DAY:end]) for key in keys}

    ctx = _context(field, series, ts, slice(end - DAY, end), "monthly", state, history_source)
    baseline_refit_step(ctx)
    assert calls == [(field.wells[0].name, state["diagnostics"].baseline.keys, 30)]  # one read for every key
    month_ts = ts[end - 30 * DAY:end]
    keep = (month_ts < span[0]) | (month_ts > span[1])
    clean = fit_baseline({k: v[None, end - 30 * DAY:end][:, keep] for k, v in series.items()})
    naive = fit_baseline({k: v[None, end - 30 * DAY:end] for k, v in series.items()})
    got = state["diagnostics"].baseline
    for name in ("median", "sigma", "loc", "scale"):
        np.testing.assert_allclose(getattr(got, name), getattr(clean, name), rtol=1e-12)
    assert got.n_samples[0] == 25 * DAY
    # the well's own-history PCA monitor is refitted on the same 25 clean days (column means and sample sds)
    own = state["diagnostics"].own_pca
    clean_x = np.stack([series[k][end - 30 * DAY:end][keep] for k in MONITORED_KEYS["esp"]], axis=1)
    assert own.n_train == 25 * DAY and own.keys == MONITORED_KEYS["esp"]
    np.testing.assert_allclose(own.mean, clean_x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(own.scale, clean_x.std(axis=0, ddof=1), rtol=1e-12)
    # the five faulty days would have pulled the flow baseline down by about 5/30 of the 30% loss
    q = got.column("flow_rate_bpd")
    assert naive.loc[0, q] < 0.98 * got.loc[0, q]


def test_monthly_refit_falls_back_to_the_buffer_and_keeps_a_baseline_when_too_little_is_clean(month):
    field, series, ts = month
    base = fit_baseline({k: v[None, :DAY] for k, v in series.items()})
    state = {"diagnostics": _DiagnosticsState(baseline=base)}
    ctx = _context(field, series, ts, slice(DAY, 2 * DAY), "monthly", state)  # no ThingsBoard history configured
    baseline_refit_step(ctx)
    ref = fit_baseline({k: v[None, DAY:2 * DAY] for k, v in series.items()})
    np.testing.assert_allclose(state["diagnostics"].baseline.median, ref.median, rtol=1e-12)
    state["diagnostics"].anomaly_spans = [[int(ts[DAY]), int(ts[DAY + 10])]]
    kept = state["diagnostics"].baseline
    with pytest.raises(InsufficientData, match="277 of 288 samples outside anomalies in the buffer"):
        baseline_refit_step(ctx)
    assert state["diagnostics"].baseline is kept


def test_every_lift_type_refits_monthly_and_updates_daily():
    for handler in HANDLERS.values():
        assert baseline_refit_step in handler.steps("monthly")
        assert baseline_refresh_step in handler.steps("daily")
        assert diagnostics_step in handler.batch_steps("fast")
    assert MIN_BASELINE_SAMPLES == DAY
