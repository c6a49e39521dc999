"""Fitting, screening and model selection (engines.dca.fitting, .history, .selection, .analysis).

Synthetic histories are generated from the Arps closed forms (Arps 1945) with multiplicative
log-normal noise; information criteria are checked against the Gaussian log-likelihood
(Burnham & Anderson 2002, section 2.2; Hurvich & Tsai 1989; Schwarz 1978).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from engines.dca import (DcaSettings, analyze_decline, cumulative_bbl, fit_candidate, history_from_rates,
                         history_from_volumes, information_criteria, rate_bpd, screen_history, to_days)
from engines.dca.conventions import DAYS_PER_MONTH

T180 = np.arange(180.0)


def test_information_criteria_match_gaussian_likelihood():
    rng = np.random.default_rng(0)
    r = rng.normal(0.0, 0.07, 40)
    n, p = r.size, 3
    rss = float(np.sum(r**2))
    sigma_mle = math.sqrt(rss / n)
    loglik = float(np.sum(norm.logpdf(r, scale=sigma_mle)))
    k = p + 1
    aic, aicc, bic = information_criteria(rss, n, p)
    const = n * (math.log(2 * math.pi) + 1.0)  # the shared constant the least-squares form drops
    assert aic + const == pytest.approx(-2 * loglik + 2 * k, rel=1e-12)
    assert bic + const == pytest.approx(-2 * loglik + k * math.log(n), rel=1e-12)
    assert aicc - aic == pytest.approx(2 * k * (k + 1) / (n - k - 1), rel=1e-14)  # 40/35 * ... Hurvich-Tsai
    assert math.isinf(information_criteria(rss, 5, 3)[1])  # n - K - 1 = 0


def test_noise_free_hyperbolic_recovered_exactly():
    q = rate_bpd(T180, 650.0, 0.006, 0.8)
    h = history_from_rates(T180, q)
    fit = fit_candidate(h, "hyperbolic", np.ones(T180.size, bool))
    assert fit.params.qi_bpd == pytest.approx(650.0, rel=1e-7)
    assert fit.params.d_per_day == pytest.approx(0.006, rel=1e-6)
    assert fit.params.b == pytest.approx(0.8, abs=1e-6)


def test_noise_free_exponential_selected_over_more_flexible_models():
    q = rate_bpd(T180, 300.0, 0.004, 0.0)
    res = analyze_decline(T180, q)
    assert res.model == "exponential"
    assert res.qi_bpd == pytest.approx(300.0, rel=1e-8)
    assert res.di_pct_month == pytest.approx(100 * 0.004 * DAYS_PER_MONTH, rel=1e-7)
    assert res.quality.rmse_log < 1e-7
    assert {c["model"] for c in res.candidate_scores()} == {"exponential", "harmonic", "hyperbolic",
                                                            "modified_hyperbolic"}


def test_clear_hyperbolic_is_not_called_exponential():
    rng = np.random.default_rng(3)
    t = np.arange(540.0)
    q = rate_bpd(t, 900.0, 0.01, 1.1) * np.exp(rng.normal(0, 0.03, t.size))
    res = analyze_decline(t, q)
    assert res.model in ("hyperbolic", "modified_hyperbolic", "harmonic")
    scores = {c["model"]: c["aicc"] for c in res.candidate_scores()}
    assert scores["exponential"] - min(scores.values()) > 10.0  # decisively rejected
    if res.model != "harmonic":
        assert res.b_above_one == (res.b_factor > 1.0)


def test_recovery_at_realistic_noise_within_stated_tolerances():
    """5 % log-normal noise, 180 daily rates: qi within 5 %, D within 30 %, b within 0.5, and the truth within
    4 standard errors of the fit's own covariance (z-scores), over 12 synthetic wells."""
    qi, d, b = 600.0, 0.006, 0.8
    truth = np.array([math.log(qi), math.log(d), b])
    z_all = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        q = rate_bpd(T180, qi, d, b) * np.exp(rng.normal(0.0, 0.05, T180.size))
        fit = fit_candidate(history_from_rates(T180, q), "hyperbolic", np.ones(T180.size, bool))
        assert fit.params.qi_bpd == pytest.approx(qi, rel=0.05)
        assert fit.params.d_per_day == pytest.approx(d, rel=0.30)
        assert fit.params.b == pytest.approx(b, abs=0.5)
        assert fit.sigma_log == pytest.approx(0.05, rel=0.2)
        z_all.append((fit.theta - truth) / np.sqrt(np.diag(fit.covariance)))
    z = np.array(z_all)
    assert np.all(np.abs(z) < 4.0)
    assert 0.4 < float(np.sqrt(np.mean(z**2))) < 1.6  # calibrated standard errors: RMS z ~ 1


def test_monthly_volumes_fitted_exactly():
    qi, d, b = 1200.0, 0.003, 0.6
    starts = np.arange(24) * DAYS_PER_MONTH
    vol = cumulative_bbl(starts + DAYS_PER_MONTH, qi, d, b) - cumulative_bbl(starts, qi, d, b)
    res = analyze_decline(starts, vol, kind="volume")
    assert res.model in ("hyperbolic", "modified_hyperbolic")
    assert res.qi_bpd == pytest.approx(qi, rel=1e-6)
    assert res.b_factor == pytest.approx(b, abs=1e-5)
    assert res.history_cum_bbl == pytest.approx(float(cumulative_bbl(24 * DAYS_PER_MONTH, qi, d, b)), rel=1e-12)
    assert res.quality.rmse_log < 1e-7  # interval averages are modelled exactly (no mid-point error)


def test_shut_ins_restarts_and_outliers_screened():
    rng = np.random.default_rng(11)
    qi, d, b = 500.0, 0.005, 0.5
    q_true = rate_bpd(T180, qi, d, b)
    q = q_true * np.exp(rng.normal(0.0, 0.02, T180.size))
    q[[40, 41, 42]] = 0.0          # shut-in days
    q[43] = 2.5 * q_true[43]        # flush production on restart
    q[100] = 4.0 * q_true[100]      # spurious spike
    q[130] = np.nan                 # missing telemetry
    res = analyze_decline(T180, q)
    qual = res.quality
    assert (qual.n_shut_in, qual.n_restart, qual.n_missing) == (3, 1, 1)
    assert qual.n_outliers >= 1
    assert qual.n_used == 180 - 3 - 1 - 1 - qual.n_outliers
    assert qual.n_outliers <= 3
    hyp = next(c for c in res.candidates if c.model == "hyperbolic")
    assert hyp.params.qi_bpd == pytest.approx(qi, rel=0.03)
    assert hyp.params.d_per_day == pytest.approx(d, rel=0.15)
    # the history cumulative counts shut-in days as zero production (trapezoid)
    expected = np.trapezoid(np.where(np.isfinite(q), q, 0.0), T180)
    assert res.history_cum_bbl == pytest.approx(expected, rel=1e-12)


def test_screen_history_counts_restart_window():
    t = np.arange(10.0)
    q = np.array([10, 9, 0, 0, 8, 8, 7, 7, 6, 6], dtype=float)
    s = screen_history(history_from_rates(t, q), restart_skip_days=2.0)
    assert s.usable.tolist() == [True, True, False, False, False, False, True, True, True, True]
    assert (s.n_shut_in, s.n_restart) == (2, 2)


def test_dates_are_converted_to_days():
    days, start = to_days(["2026-01-01", "2026-01-02T12:00:00Z", "2026-03-01", "2026-03-01T06:00:00+03:00"])
    assert days.tolist() == [0.0, 1.5, 59.0, 59.125]  # offsets converted to UTC
    with pytest.raises(ValueError, match="ISO dates"):
        to_days(["2026-01-01", "yesterday"])
    assert str(start) == "2026-01-01T00:00:00"
    h = history_from_volumes(["2026-01-01", "2026-02-01", "2026-03-01"], [310.0, 280.0, 310.0])
    assert h.t_end_days.tolist() == [31.0, 59.0, 88.5]  # last period lasts the median spacing
    assert h.rate_bpd[0] == pytest.approx(10.0)


def test_input_validation():
    with pytest.raises(ValueError, match="lengths differ"):
        history_from_rates([0, 1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="distinct"):
        history_from_rates([0, 1, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="producing samples"):
        analyze_decline([0, 1, 2, 3], [0.0, 0.0, 5.0, 0.0])
    with pytest.raises(ValueError, match="candidates"):
        DcaSettings(candidates=("cubic",))
    with pytest.raises(ValueError, match="kind"):
        analyze_decline([0, 1, 2], [3.0, 2.0, 1.0], kind="monthly")


@pytest.mark.parametrize("model, theta, d_lim", [
    ("exponential", [6.0, -5.0], 0.0),
    ("harmonic", [6.0, -5.0], 0.0),
    ("hyperbolic", [6.0, -5.0, 0.7], 0.0),
    ("hyperbolic", [6.0, -5.0, 1.9], 0.0),
    ("hyperbolic", [6.0, -5.0, 1e-3], 0.0),
    ("modified_hyperbolic", [6.0, -5.0, 1.3], 2e-4),
])
def test_analytic_jacobian_matches_central_differences(model, theta, d_lim):
    from engines.dca.fitting import log_rate_and_jacobian, predict_rate

    t = np.linspace(0.0, 20000.0, 41)
    theta = np.asarray(theta)
    ln_q, jac = log_rate_and_jacobian(model, theta, t, d_lim)
    assert np.allclose(ln_q, np.log(predict_rate(model, theta, t, t, d_lim)), rtol=0, atol=1e-12)
    h = 1e-6
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        num = (log_rate_and_jacobian(model, theta + e, t, d_lim)[0] - log_rate_and_jacobian(model, theta - e, t, d_lim)[0]) / (2 * h)
        assert np.allclose(jac[:, k], num, rtol=1e-6, atol=1e-6)


def test_jacobian_b_derivative_at_exponential_limit():
    from engines.dca.fitting import log_rate_and_jacobian

    # d ln q / db at b = 0 is (D t)^2 / 2 (second-order term of -ln(1 + b D t) / b)
    t = np.linspace(0.0, 3000.0, 7)
    _, jac = log_rate_and_jacobian("hyperbolic", np.array([5.0, -6.0, 0.0]), t, 0.0)
    x = np.exp(-6.0) * t
    assert np.allclose(jac[:, 2], 0.5 * x**2, rtol=1e-15)


def test_modified_hyperbolic_with_switch_inside_history_is_recovered():
    # a steep terminal decline (50 %/yr tangent effective) so the switch falls at day 150 of 365
    s = DcaSettings(terminal_decline_eff_per_year=0.5)
    dlim = s.d_lim_per_day
    b = 1.5
    d = 1.0 / (1.0 / dlim - 150.0 * b)  # t_sw = (1/D_lim - 1/D) / b = 150 d
    assert d > 1.5 * dlim
    t = np.arange(365.0)
    q = rate_bpd(t, 800.0, d, b, dlim)
    res = analyze_decline(t, q, settings=s)
    assert res.model == "modified_hyperbolic"
    assert res.qi_bpd == pytest.approx(800.0, rel=1e-6)
    assert res.params.d_per_day == pytest.approx(d, rel=1e-5)
    assert res.b_factor == pytest.approx(b, abs=1e-4)
    scores = {c["model"]: c["aicc"] for c in res.candidate_scores()}
    assert scores["hyperbolic"] > scores["modified_hyperbolic"] + 10.0


def test_fit_agrees_with_least_squares_on_petbox_curves():
    """Same noisy history fitted (a) by engines.dca and (b) by scipy least_squares on petbox-dca's
    Hyperbolic rate in petbox's own parameters (qi, secant effective Di/yr, b): same optimum."""
    from petbox import dca as petbox
    from scipy.optimize import least_squares

    from engines.dca import nominal_from_secant_effective, secant_effective_from_nominal
    from engines.dca.conventions import DAYS_PER_YEAR

    rng = np.random.default_rng(21)
    q = rate_bpd(T180, 450.0, 0.007, 0.9) * np.exp(rng.normal(0.0, 0.04, T180.size))
    ours = fit_candidate(history_from_rates(T180, q), "hyperbolic", np.ones(T180.size, bool))

    def resid(x):
        return np.log(q) - np.log(petbox.Hyperbolic(x[0], x[1], x[2]).rate(T180))

    x0 = [400.0, float(secant_effective_from_nominal(0.005 * DAYS_PER_YEAR, 0.5)), 0.5]
    pb = least_squares(resid, x0, bounds=([1e-3, 1e-6, 0.0], [1e6, 0.999999, 2.0]), xtol=1e-14, ftol=1e-14, gtol=1e-14)
    assert ours.params.qi_bpd == pytest.approx(pb.x[0], rel=1e-5)
    assert ours.params.b == pytest.approx(pb.x[2], abs=1e-4)
    assert ours.params.d_per_day == pytest.approx(nominal_from_secant_effective(pb.x[1], pb.x[2]) / DAYS_PER_YEAR, rel=1e-4)
    assert ours.rss_log == pytest.approx(float(np.sum(pb.fun**2)), rel=1e-9)


def test_unsorted_dates_are_sorted_and_origin_is_earliest():
    dates = ["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-04"]
    h = history_from_rates(dates, [8.0, 10.0, 9.0, 7.0])
    assert h.t_start_days.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert h.rate_bpd.tolist() == [10.0, 9.0, 8.0, 7.0]
    assert str(h.start_date) == "2026-01-01T00:00:00"
    hv = history_from_volumes([31.0, 0.0], [280.0, 310.0], period_end=[59.0, 31.0])
    assert hv.t_start_days.tolist() == [0.0, 31.0] and hv.t_end_days.tolist() == [31.0, 59.0]
    assert hv.rate_bpd.tolist() == [10.0, 10.0]


def test_fit_candidate_validation():
    h = history_from_rates(np.arange(6.0), [10.0, 9.0, 0.0, 7.5, 7.0, 6.6])
    with pytest.raises(ValueError, match="positive rates"):
        fit_candidate(h, "exponential", np.ones(6, bool))
    with pytest.raises(ValueError, match="one entry per sample"):
        fit_candidate(h, "exponential", np.ones(5, bool))
    with pytest.raises(ValueError, match="unknown model"):
        fit_candidate(h, "power_law", np.ones(6, bool))
    with pytest.raises(ValueError, match="d_lim_per_day"):
        fit_candidate(h, "modified_hyperbolic", np.ones(6, bool))
