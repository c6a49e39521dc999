"""Learned production forecast and ESP failure prediction (issue 22: 2, 3): engines.ml.forecasting,
engines.ml.esp_failure, engines.fielddata.degradation."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("xgboost")

from engines.fielddata.degradation import FAILURE_MODES, MIN_RUN_DAYS, WEIBULL_SCALE_DAYS, WEIBULL_SHAPE, run_to_failure
from engines.ml import esp_failure as ef
from engines.ml.forecasting import HORIZON_DAYS, ForecastModel, WellSeries, evaluate_forecast, fit_forecast, forecast_well


def _series(h):
    v = h.values
    return [WellSeries(v["flow_rate_bpd"][w], v["intake_pressure_psi"][w], v["frequency_hz"][w], v["anomaly_score"][w])
            for w in range(h.n_wells)]


# -- run-to-failure field ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_field():
    return run_to_failure(150, 2000, seed=11)


def test_failure_rate_matches_the_weibull_renewal_rate(big_field):
    # renewal: one failure per cycle = life (Weibull floored at MIN_RUN_DAYS, int days) + 1 + shut-in (3..10 d, mean 6.5)
    x = np.linspace(MIN_RUN_DAYS, 20 * WEIBULL_SCALE_DAYS, 200_001)
    mean_life = MIN_RUN_DAYS + np.trapezoid(np.exp(-(x / WEIBULL_SCALE_DAYS) ** WEIBULL_SHAPE), x) - 0.5
    expected = 365.0 / (mean_life + 7.5)
    h = big_field
    observed = len(h.failures) / (h.n_wells * h.n_days / 365.0)
    assert observed == pytest.approx(expected, rel=0.08)


def test_each_mode_has_its_share_and_precursor_length(big_field):
    h = big_field
    modes = np.array([m for _, _, m in h.failures])
    for mode, (share, median, sigma, _) in FAILURE_MODES.items():
        assert np.mean(modes == mode) == pytest.approx(share, abs=0.05)
        lengths = [int((h.mode[w, h.run_start_day[w, d]:d + 1] == mode).sum()) for w, d, m in h.failures if m == mode]
        # lognormal median L, floored to whole days (0 .. 1 day short), the 3-day floor immaterial here
        assert np.median(lengths) == pytest.approx(median - 0.5, rel=0.15)


def test_signatures_move_the_right_channels(big_field):
    h = big_field
    s = {m: (h.mode == m) & (h.severity > 0.5) for m in FAILURE_MODES}
    healthy = h.running & (h.severity == 0)
    med = lambda k, mask: float(np.median(h.values[k][mask] / np.median(h.values[k][healthy])))  # noqa: E731
    assert med("vibration_g", s["bearing_wear"]) > 1.5 * med("vibration_g", s["scale"])
    assert np.median(h.values["motor_temperature_f"][s["motor_insulation"]]) > np.median(h.values["motor_temperature_f"][healthy]) + 15
    assert med("intake_pressure_psi", s["gas"]) < 0.9 * med("intake_pressure_psi", s["scale"])
    assert np.all(h.values["flow_rate_bpd"][~h.running] == 0.0)


# -- forecast ------------------------------------------------------------------------------------------------
def test_noise_free_exponential_decline_baselines_are_exact():
    d = 0.002
    t = np.arange(300.0)
    q = 800.0 * np.exp(-d * t)
    flat = np.ones_like(q)
    series = [WellSeries(q * f, 1500.0 * flat, 55.0 * flat, 0.05 * flat) for f in (1.0, 0.7, 1.3)]
    r = evaluate_forecast(series, folds=2, trees=30, test_origin_step=10)
    # persistence from day i: |q_i - q_i e^{-dh}| / (q_i e^{-dh}) = e^{dh} - 1 whatever the origin
    h = np.arange(1, HORIZON_DAYS + 1)
    assert r["persistence"]["mape_pct"] == pytest.approx(100.0 * np.mean(np.exp(d * h) - 1.0), rel=1e-6)
    assert r["decline"]["mape_pct"] < 0.05  # the Arps fit of an exact exponential is exact
    assert r["ml"]["n"] == r["decline"]["n"] == r["persistence"]["n"]


@pytest.fixture(scope="module")
def forecast_eval():
    return evaluate_forecast(_series(run_to_failure(10, 800, seed=5)), folds=2, trees=120, test_origin_step=7,
                             origin_step=3)


def test_forecast_beats_persistence_and_its_band_covers_80_percent(forecast_eval):
    r = forecast_eval
    assert r["ml"]["mae_bpd"] < r["persistence"]["mae_bpd"]
    # the (origin, horizon) pairs overlap in time; independent blocks: one per well per 30 test days
    test_days = sum(f["test_days"][1] - f["test_days"][0] for f in r["folds"]) - HORIZON_DAYS
    n_eff = r["settings"]["wells"] * test_days / HORIZON_DAYS
    tol = 3.0 * math.sqrt(0.8 * 0.2 / n_eff)
    assert abs(r["band"]["coverage"] - 0.8) < tol


def test_forecast_model_roundtrip_and_future_band_order():
    series = _series(run_to_failure(4, 400, seed=2))
    model = fit_forecast(series, trees=40)
    again = ForecastModel.from_bytes(model.to_bytes())
    s = next(s for s in series if s.rate_bpd[-1] > 0 and np.all(s.rate_bpd[-30:] > 0))
    a, b = forecast_well(model, s), forecast_well(again, s)
    np.testing.assert_allclose(a.rate_bpd, b.rate_bpd, rtol=1e-6)
    assert a.rate_bpd.size == HORIZON_DAYS and np.all(a.p90_bpd <= a.rate_bpd) and np.all(a.rate_bpd <= a.p10_bpd)


# -- failure model -------------------------------------------------------------------------------------------
def test_recall_at_one_false_alarm_per_well_year_by_hand():
    n = 730  # two well-years
    dtf = np.full((1, n), np.inf)
    dtf[0, :401] = 400 - np.arange(401)  # fails on day 400
    running = np.ones((1, n), bool)
    y = ef.labels(dtf, running, n)
    data = ef.LabelledDays(np.zeros((1, n, len(ef.FEATURES))), y, dtf, ((0, 400, "gas"),))
    p = np.full((1, n), 0.01)
    p[0, 100:103], p[0, 200], p[0, 300] = 0.8, 0.7, 0.6  # three false alarms (no failure within 30 days)
    p[0, 380:386] = 0.9  # one true alarm, 15-20 days ahead
    r = ef.recall_at_false_alarm_rate(p, data, 0, n)
    # 2 well-years allow 2 false alarms: the 0.8 and 0.7 alarms, not the 0.6 one
    assert r["threshold"] == pytest.approx(0.7) and r["recall"] == 1.0 and r["false_alarms_per_well_year"] == 1.0
    p[0, 380:386] = 0.55  # the true alarm now lies below the threshold the false ones allow (0.6: 3 false)
    assert ef.recall_at_false_alarm_rate(p, data, 0, n)["recall"] == 0.0


@pytest.fixture(scope="module")
def failure_eval():
    return ef.evaluate_failure_model(ef.labelled_days(run_to_failure(40, 1460, seed=3)), trees=150)


def test_failure_model_ranks_and_calibration_lowers_the_brier_score(failure_eval):
    r = failure_eval
    assert r["roc_auc"] > 0.65
    assert r["pr_auc"] > 2.0 * r["prevalence"]  # well above the no-skill level
    assert r["brier"] < r["brier_uncalibrated"]
    assert r["brier"] < r["prevalence"] * (1 - r["prevalence"])  # better than the constant prevalence forecast
    model = ef.FailureModel.from_bytes(r["model"].to_bytes())
    X = np.nan_to_num(np.random.default_rng(0).normal(size=(5, len(ef.FEATURES))))
    np.testing.assert_allclose(model.probability(X), r["model"].probability(X), rtol=1e-6)


def test_features_see_only_the_past():
    h = run_to_failure(3, 300, seed=4)
    w = 0
    s = ef.EspDailySeries({k: h.values[k][w] for k in ef.SIGNALS}, h.running[w])
    full = ef.failure_features(s)
    cut = ef.failure_features(ef.EspDailySeries({k: v[:200] for k, v in s.signals.items()}, s.running[:200]))
    np.testing.assert_array_equal(full[:200], cut)
