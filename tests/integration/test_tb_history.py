"""Reading long history from ThingsBoard (the stand-in over REST) with paging."""
from __future__ import annotations

import numpy as np
import pytest
from tb_rest_client.models.entity_id import EntityId

from tb_bridge.standin import StandIn
from tb_bridge.tb_history import DAY_MS, ThingsBoardHistory

T0 = 1_700_000_000_000


@pytest.fixture
def standin():
    tb = StandIn()
    url = tb.start_http()
    yield tb, url
    tb.stop()


def test_pages_backwards_and_returns_the_window_ascending(standin):
    tb, url = standin
    device, _ = tb.create_device("ESP-01", "ESP")
    tb.save_timeseries(device, [(T0 + i * DAY_MS, {"flow_rate_bpd": 1000.0 + i}) for i in range(400)])
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant", page_size=37)  # forces 5 pages
    end = T0 + 399 * DAY_MS
    ts, rate = reader.series(device, "flow_rate_bpd", 180, end_ms=end)
    # [end - 180 d, end]: days 219..399 inclusive = 181 points, oldest first.
    assert ts.size == 181 and np.all(np.diff(ts) == DAY_MS)
    assert ts[0] == T0 + 219 * DAY_MS and ts[-1] == end
    assert rate[0] == 1219.0 and rate[-1] == 1399.0


def test_max_points_caps_the_read(standin):
    tb, url = standin
    device, _ = tb.create_device("ESP-02", "ESP")
    tb.save_timeseries(device, [(T0 + i * 60_000, {"flow_rate_bpd": float(i)}) for i in range(500)])
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant", page_size=100, max_points=250)
    ts, rate = reader.series(device, "flow_rate_bpd", 30, end_ms=T0 + 499 * 60_000)
    assert ts.size == 250 and rate[-1] == 499.0 and rate[0] == 250.0  # the newest 250


def test_bad_credentials_raise(standin):
    _, url = standin
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "wrong")
    with pytest.raises(Exception):
        reader.series("00000000-0000-0000-0000-000000000000", "flow_rate_bpd", 1)


def test_several_keys_are_read_together_and_equal_the_single_key_reads(standin):
    """One request per page for all the keys (ThingsBoard's ``keys=a,b,c``, ``limit`` per key), and each key gets
    exactly what a read of that key alone gets, also when the keys are sampled differently."""
    tb, url = standin
    device, _ = tb.create_device("ESP-03", "ESP")
    step = 300_000
    n = 600  # ~2.08 days at 5 minutes
    tb.save_timeseries(device, [(T0 + i * step, {"motor_current_a": 40.0 + i, "intake_pressure_psi": 900.0 - i})
                                for i in range(n)])
    tb.save_timeseries(device, [(T0 + i * 420_000, {"vibration_g": 0.001 * i}) for i in range(300)])  # every 7 min
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant", page_size=50)
    client = reader._rest()
    calls = []
    real_get = client.get_timeseries

    def counting_get(*args, **kwargs):
        calls.append(kwargs["keys"])
        return real_get(*args, **kwargs)

    client.get_timeseries = counting_get
    end = T0 + (n - 1) * step
    # the stand-in answers a multi-key request like ThingsBoard: `limit` newest points of each key, absent keys omitted
    page = real_get(EntityId(device, "DEVICE"),
                    start_ts=T0, end_ts=end + 1, keys="motor_current_a,vibration_g,no_such_key", limit=3,
                    order_by="DESC", use_strict_data_types=True)
    assert set(page) == {"motor_current_a", "vibration_g"}
    assert [p.value for p in page["motor_current_a"]] == [40.0 + n - 1, 40.0 + n - 2, 40.0 + n - 3]
    assert [p.ts for p in page["vibration_g"]] == [T0 + i * 420_000 for i in (299, 298, 297)]

    aligned = reader.series_many(device, ["motor_current_a", "intake_pressure_psi"], 1, end_ms=end)
    # [end - 1 d, end]: the last 289 samples; one request per page of 50 for both keys (6 full pages + 1 short)
    assert len(calls) == 6 and set(calls) == {"motor_current_a,intake_pressure_psi"}
    ts, current = aligned["motor_current_a"]
    assert ts.size == 289 and ts[0] == end - DAY_MS and ts[-1] == end and np.all(np.diff(ts) == step)
    np.testing.assert_array_equal(current, 40.0 + np.arange(n - 289, n))
    np.testing.assert_array_equal(aligned["intake_pressure_psi"][1], 900.0 - np.arange(n - 289, n))

    calls.clear()
    keys = ["motor_current_a", "vibration_g", "intake_pressure_psi", "no_such_key"]
    together = reader.series_many(device, keys, 1.5, end_ms=end)
    shared = len(calls)
    for key in keys:
        alone = reader.series(device, key, 1.5, end_ms=end)
        np.testing.assert_array_equal(together[key][0], alone[0])
        np.testing.assert_array_equal(together[key][1], alone[1])
    # window [end - 1.5 d, end] starts 835 min after T0: vibration samples 120..299 (every 7 min)
    assert together["no_such_key"][0].size == 0 and together["vibration_g"][0].size == 180
    assert together["vibration_g"][0][0] == T0 + 120 * 420_000
    assert shared < len(calls) - shared  # fewer requests than reading the keys one at a time


def test_monthly_refit_reads_a_well_in_one_request_through_the_service_source(standin):
    """The monthly baseline refit through the service's history source: every baseline key of the well in one
    ThingsBoard request (there were one per key), and the refitted baseline is the fit on exactly those samples."""
    from types import SimpleNamespace

    from engines.anomaly.baseline import fit_baseline
    from engines.fielddata import SyntheticField
    from tb_bridge.buffer.base import BufferWindow
    from tb_bridge.handlers.base import WellContext
    from tb_bridge.handlers.engine_steps import _DiagnosticsState, baseline_refit_step
    from tb_bridge.service import Service
    from tb_bridge.wells.model import parse_well_config

    tb, url = standin
    field = SyntheticField({"esp": 1}, seed=8)
    arrays = {k: v[0] for k, v in field.arrays("esp", 600).items()}
    ts = field.start_ms + np.arange(600, dtype=np.int64) * field.step_s * 1000
    device, _ = tb.create_device("ESP-01", "ESP")
    tb.save_timeseries(device, [(int(t), {k: float(v[i]) for k, v in arrays.items()}) for i, t in enumerate(ts)])
    reader = ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant")
    client = reader._rest()
    calls = []
    real_get = client.get_timeseries
    client.get_timeseries = lambda *a, **kw: calls.append(kw["keys"]) or real_get(*a, **kw)

    first_day = {k: v[None, :288] for k, v in arrays.items()}
    state = {"diagnostics": _DiagnosticsState(baseline=fit_baseline(first_day))}
    w = field.wells[0]
    context = WellContext(config=parse_well_config(device, w.name, w.attributes),
                          window=BufferWindow(ts[-288:], {k: v[-288:] for k, v in arrays.items()}),
                          now_ms=int(ts[-1]), tier="monthly", state=state,
                          history_source=Service._history_source(SimpleNamespace(history_reader=reader), int(ts[-1])))
    baseline_refit_step(context)
    base_keys = state["diagnostics"].baseline.keys
    assert len(calls) == 1 and calls[0].split(",") == list(base_keys) and len(base_keys) > 5
    ref = fit_baseline({k: arrays[k][None, :] for k in base_keys})  # all 600 samples lie within the 30 days
    for name in ("median", "sigma", "loc", "scale", "n_samples"):
        np.testing.assert_array_equal(getattr(state["diagnostics"].baseline, name), getattr(ref, name))
