"""engines.review: production totals, moments, trends, alarm-log and diagnosis summaries, drift.

References are hand computations on small inputs (volumes as rate x interval, hours from a hand-built alarm log),
numpy/scipy on the same data (pooled mean and sample sd of the concatenation, ``scipy.stats.linregress``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engines.review import (Moments, ProductionTotals, combine_totals, linear_trend, production_totals,
                            standardized_mean_shift, summarize_alarm_log, summarize_diagnoses)

H = 3_600_000


def test_production_totals_of_a_hand_built_day():
    # 6 samples every 4 h in (0, 24 h]; each stands for 4 h = 1/6 day
    ts = np.arange(1, 7) * 4 * H
    liquid = np.array([600.0, 600.0, 0.5, 0.0, 300.0, np.nan])
    oil = np.array([300.0, 300.0, 0.0, 0.0, 150.0, 100.0])
    cut = np.array([0.5, 0.5, np.nan, 0.5, 0.5, 0.5])
    gas = np.array([60.0, 60.0, 0.0, 0.0, 30.0, 30.0])
    power = np.array([50.0, 50.0, 0.0, np.nan, 25.0, 25.0])
    t = production_totals(ts, 0, 24 * H, liquid_bpd=liquid, oil_bpd=oil, water_cut_frac=cut, gas_mscfd=gas,
                          power_kw=power)
    assert (t.samples, t.period_h, t.observed_h) == (6, 24.0, 24.0)
    assert t.oil_bbl == pytest.approx((300 + 300 + 150 + 100) / 6.0, rel=1e-15)
    # water: liquid x cut; the third sample has no cut: liquid - oil = 0.5; the last has no liquid
    assert t.water_bbl == pytest.approx((300 + 300 + 0.5 + 0 + 150) / 6.0, rel=1e-15)
    assert t.liquid_bbl == pytest.approx((600 + 600 + 0.5 + 300) / 6.0, rel=1e-15)
    assert t.gas_mscf == pytest.approx(180.0 / 6.0, rel=1e-15)
    assert t.producing_h == 12.0  # 600, 600, 300 bbl/d (0.5 is below 1 bbl/d)
    assert t.uptime_pct == 50.0 and t.coverage_pct == 100.0
    assert t.energy_kwh == pytest.approx((50 + 50 + 0 + 25 + 25) * 4.0, rel=1e-15)  # kW x 4 h
    # the liquid of the samples with a power: all but the fourth (0 bbl/d) and the NaN liquid
    assert t.powered_liquid_bbl == pytest.approx((600 + 600 + 0.5 + 300) / 6.0, rel=1e-15)
    assert t.kwh_per_bbl == pytest.approx(600.0 / ((1500.5) / 6.0), rel=1e-15)
    assert t.oil_bpd == pytest.approx(t.oil_bbl, rel=1e-15)  # one day
    assert ProductionTotals.from_dict(t.to_dict()) == t
    # a period of 48 h holding the same samples: uptime and coverage halve, the rates too
    long = production_totals(ts, -24 * H, 24 * H, liquid_bpd=liquid, oil_bpd=oil, step_s=4 * 3600.0)
    assert (long.uptime_pct, long.coverage_pct) == (25.0, 50.0) and long.oil_bpd == pytest.approx(t.oil_bpd / 2)
    # no motor power at all: no energy, no specific energy
    bare = production_totals(ts, 0, 24 * H, liquid_bpd=liquid)
    assert math.isnan(bare.energy_kwh) and math.isnan(bare.kwh_per_bbl) and bare.oil_bbl == 0.0
    with pytest.raises(ValueError, match="end after"):
        production_totals(ts, 5, 5)


def test_combining_days_adds_hours_and_volumes():
    ts = np.arange(1, 289) * 300_000
    q = np.linspace(100.0, 200.0, 288)
    p = np.full(288, 10.0)
    day = production_totals(ts, 0, 24 * H, liquid_bpd=q, oil_bpd=q / 2, power_kw=p)
    nxt = production_totals(ts + 24 * H, 24 * H, 48 * H, liquid_bpd=q, oil_bpd=q / 2)  # no power the second day
    both = combine_totals([day, nxt])
    whole = production_totals(np.concatenate([ts, ts + 24 * H]), 0, 48 * H, liquid_bpd=np.concatenate([q, q]),
                              oil_bpd=np.concatenate([q, q]) / 2, power_kw=np.concatenate([p, np.full(288, np.nan)]))
    for name in ("period_h", "samples", "observed_h", "producing_h", "oil_bbl", "liquid_bbl", "energy_kwh",
                 "powered_liquid_bbl"):
        assert getattr(both, name) == pytest.approx(getattr(whole, name), rel=1e-12), name
    assert (both.start_ms, both.end_ms) == (0, 48 * H)
    assert both.energy_kwh == pytest.approx(10.0 * 24.0) and both.kwh_per_bbl == pytest.approx(240.0 / day.liquid_bbl)


def test_moments_combine_like_the_concatenation():
    rng = np.random.default_rng(3)
    parts = [rng.normal(5.0, 2.0, n) for n in (1, 7, 288, 100)]
    parts[2][::17] = np.nan
    total = Moments.combine(Moments.of(p) for p in parts)
    values = np.concatenate(parts)
    values = values[np.isfinite(values)]
    assert total.n == values.size
    assert total.mean == pytest.approx(values.mean(), rel=1e-13)
    assert total.sd == pytest.approx(values.std(ddof=1), rel=1e-12)
    again = Moments.combine(Moments.from_list(Moments.of(p).to_list()) for p in parts)
    assert again.mean == pytest.approx(total.mean, rel=1e-13) and again.sd == pytest.approx(total.sd, rel=1e-12)
    assert Moments.of([np.nan]).to_list() == [0, None, None] and Moments.combine([]).n == 0


def test_linear_trend_matches_linregress():
    t = np.array([-6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0])
    y = np.array([700.0, 702.5, 699.0, 705.0, 710.0, np.nan, 712.0])
    fit = linear_trend(t, y)
    ok = np.isfinite(y)
    ref = stats.linregress(t[ok], y[ok])
    assert fit.n == 6
    assert fit.slope_per_day == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    two = linear_trend(np.array([0.0, 2.0]), np.array([1.0, 5.0]))
    assert two.slope_per_day == 2.0 and math.isnan(two.stderr)
    assert math.isnan(linear_trend(np.array([1.0]), np.array([3.0])).slope_per_day)
    assert math.isnan(linear_trend(np.array([1.0, 1.0]), np.array([3.0, 4.0])).slope_per_day)


def test_alarm_log_summary_of_a_hand_built_log():
    # period [1000 s, 1000 s + 10 h); "gas_lock" was standing (ACKED) before it
    s0 = 1000.0
    h = 3600.0
    events = [
        (s0 + 1 * h, "pump_wear", "MINOR", "ACTIVE", "UNACK"),
        (s0 + 2 * h, "pump_wear", "MINOR", "ACK", "ACKED"),
        (s0 + 3 * h, "pump_wear", "MINOR", "RTN", "NORM"),        # pump_wear: 1 h .. 3 h
        (s0 + 2.5 * h, "gas_lock", "MAJOR", "RTN", "RTNUN"),      # gas_lock: 0 .. 2.5 h (from before the period)
        (s0 + 4 * h, "gas_lock", "MAJOR", "ACTIVE", "UNACK"),
        (s0 + 5 * h, "gas_lock", "MAJOR", "SHELVE", "SHLVD"),     # shelved: no longer annunciated (4 .. 5 h)
        (s0 + 7 * h, "gas_lock", "MAJOR", "UNSHELVE", "UNACK"),   # re-annunciated on the standing condition
        (s0 + 9 * h, "statistical_deviation", "WARNING", "ACTIVE", "UNACK"),  # open to the end: 9 .. 10 h
        (s0 + 10 * h, "pump_wear", "MINOR", "ACTIVE", "UNACK"),   # at the end: outside [start, end)
        (s0 - 1.0, "pump_wear", "MINOR", "ACTIVE", "UNACK"),      # before the start: outside
    ]
    out = summarize_alarm_log(events, s0, s0 + 10 * h, {"gas_lock": "ACKED", "old": "NORM"})
    assert out.raised == 3
    assert out.raised_by_type == {"gas_lock": 1, "pump_wear": 1, "statistical_deviation": 1}
    assert out.raised_by_severity == {"MAJOR": 1, "MINOR": 1, "WARNING": 1}
    # gas_lock 2.5 + 1 + 3 (7 .. 10 h); pump_wear 2; statistical 1
    assert out.hours_by_type == pytest.approx({"gas_lock": 6.5, "pump_wear": 2.0, "statistical_deviation": 1.0})
    # union: 0 .. 3 h, 4 .. 5 h, 7 .. 10 h
    assert out.hours_in_alarm == pytest.approx(7.0)
    empty = summarize_alarm_log([], 0.0, 10.0)
    assert (empty.raised, empty.hours_in_alarm, empty.hours_by_type) == (0, 0.0, {})
    with pytest.raises(ValueError):
        summarize_alarm_log([], 10.0, 10.0)


def test_diagnosis_summary_counts_anomalous_windows():
    types = ["none", "pump_wear", "pump_wear", "statistical_deviation", "none", "gas_lock"]
    sevs = ["NONE", "MINOR", "MINOR", "WARNING", "NONE", "MAJOR"]
    out = summarize_diagnoses(types, sevs, 300)
    assert (out.diagnoses, out.anomalous) == (6, 4) and out.hours == pytest.approx(4 / 12)
    assert out.hours_by_type == pytest.approx({"gas_lock": 1 / 12, "pump_wear": 2 / 12, "statistical_deviation": 1 / 12})
    assert out.hours_by_severity == pytest.approx({"MAJOR": 1 / 12, "MINOR": 2 / 12, "WARNING": 1 / 12})


def test_standardized_mean_shift():
    z = standardized_mean_shift([12.0, 5.0, 1.0, np.nan], [10.0, 5.0, 1.0, 0.0], [0.5, 2.0, 0.0, 1.0])
    assert z[0] == 4.0 and z[1] == 0.0 and math.isnan(z[2]) and math.isnan(z[3])
