"""Decline-curve analysis benchmark: throughput vs petbox-dca, agreement, Monte Carlo coverage.

Run: ``python bench/bench_dca.py [--wells 1000] [--petbox-wells 20] [--coverage-wells 200] [--backtest-wells 200]``.

1. Agreement of the closed forms with petbox-dca (rate, cumulative, EUR) for random parameters.
2. Throughput: fit 4 candidates + AICc selection + 1,000-trial Monte Carlo EUR per well,
   (a) engines.dca (vectorized Monte Carlo, analytic Jacobian) on ``--wells`` synthetic wells;
   (b) the same work with petbox-dca models in a loop (scipy least_squares on petbox rates,
       finite-difference Jacobian, one petbox model per Monte Carlo trial) on ``--petbox-wells``
       wells, interleaved well by well with (a) on the same wells (the machine is shared); wells/s
   (CPU and wall) and the ratio are printed. The petbox baseline draws the same number of
       trials from each candidate (Akaike weights), so the work is equal.
   Fitted parameters and P50 of both paths are compared on the common wells.
3. Coverage: fraction of synthetic wells whose true EUR lies in [P90, P10] (nominal 80 %).
4. Backtest of the monthly rate band (engines.dca.backtest): synthetic monthly wells with AR(1) noise,
   partial uptime, restarts, regime changes and flat wells, fitted on their first 18-60 months; the
   fraction of the 12 held-out months whose observed on-stream rate lies in [P90, P10] (nominal 80 %,
   goal >= 70 %), for the calibrated band (default) and the parameter-only band, each with model
   averaging and with the chosen model only.
5. The same on synthetic daily rate records with hours on stream (the service's input), held-out
   outcome = each next calendar month's mean on-stream rate. No real public production history is shipped with the
   project or installable here (no PyPI package found that bundles one), so the backtest is synthetic.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
from petbox import dca as petbox
from scipy.optimize import least_squares

from engines.dca import (DcaSettings, analyze_decline, cumulative_bbl, eur_bbl, nominal_from_secant_effective,
                         nominal_from_tangent_effective, rate_bpd, secant_effective_from_nominal)
from engines.dca.backtest import backtest_coverage
from engines.dca.conventions import DAYS_PER_YEAR
from engines.dca.montecarlo import allocate_trials, remaining_volume_bbl
from engines.dca.selection import akaike_weights, information_criteria

T = np.arange(180.0)
DTERM = 0.08  # tangent effective / year, as DcaSettings().terminal_decline_eff_per_year
Q_EL = 5.0
HORIZON_D = 30.0 * DAYS_PER_YEAR


def synthetic_well(rng: np.random.Generator, noise: float = 0.05):
    qi, d, b = rng.uniform(100, 1000), rng.uniform(0.002, 0.01), rng.uniform(0.0, 1.2)
    q = rate_bpd(T, qi, d, b) * np.exp(rng.normal(0.0, noise, T.size))
    return (qi, d, b), q


# --- 1. closed-form agreement ------------------------------------------------------------------

def closed_form_agreement(n: int = 2000) -> float:
    rng = np.random.default_rng(0)
    t = np.array([1.0, 30.0, 365.25, 3650.0, 10957.5])
    worst = 0.0
    for _ in range(n):
        qi, di, b = rng.uniform(10, 5000), rng.uniform(0.05, 0.97), rng.uniform(0.0, 2.0)
        dterm = float(rng.choice([0.0, rng.uniform(0.02, 0.15)]))
        d = nominal_from_secant_effective(di, b) / DAYS_PER_YEAR
        dlim = nominal_from_tangent_effective(dterm) / DAYS_PER_YEAR if dterm else 0.0
        if dlim >= d:
            continue
        m = petbox.MH(qi, di, b, dterm)
        q_el = 0.005 * qi
        ours = np.concatenate([rate_bpd(t, qi, d, b, dlim), cumulative_bbl(t, qi, d, b, dlim),
                               np.atleast_1d(eur_bbl(qi, d, b, dlim, economic_limit_bpd=q_el))])
        theirs = np.concatenate([m.rate(t), m.cum(t), m.cum(m.time_at_rate(q_el))])
        worst = max(worst, float(np.max(np.abs(ours - theirs) / np.abs(theirs))))
    return worst


# --- 2b. the same work with petbox-dca in a loop -------------------------------------------------

_PB_MODELS = ("exponential", "harmonic", "hyperbolic", "modified_hyperbolic")


def _pb_model(name: str, x: np.ndarray):
    qi, di = float(x[0]), float(x[1])
    if name == "exponential":
        return petbox.Hyperbolic(qi, di, 0.0)
    if name == "harmonic":
        return petbox.Hyperbolic(qi, di, 1.0)
    if name == "hyperbolic":
        return petbox.Hyperbolic(qi, di, float(x[2]))
    return petbox.MH(qi, di, float(x[2]), DTERM)


def _pb_fit(name: str, t: np.ndarray, q: np.ndarray):
    ln_q = np.log(q)
    slope, intercept = np.polyfit(t, ln_q, 1)
    d0 = min(max(-slope, 1e-5), 0.05)
    p = 2 if name in ("exponential", "harmonic") else 3
    x0 = [math.exp(intercept), float(secant_effective_from_nominal(d0 * DAYS_PER_YEAR, 1.0 if name == "harmonic" else 0.5))]
    lo, hi = [1e-6, 1e-6], [1e7, 0.999999]
    if p == 3:
        x0.append(0.5)
        lo.append(0.0)
        hi.append(2.0)

    def resid(x):
        try:
            return ln_q - np.log(_pb_model(name, x).rate(t))
        except ValueError:  # e.g. Di < Dterm
            return np.full(t.size, 10.0)

    res = least_squares(resid, np.clip(x0, np.array(lo) * 1.0001, np.array(hi) * 0.9999), bounds=(lo, hi),
                        method="trf", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=400)
    rss = float(np.sum(res.fun**2))
    cov = rss / (t.size - p) * np.linalg.pinv(res.jac.T @ res.jac)
    return res.x, cov, information_criteria(rss, t.size, p)[1]


def petbox_pipeline(q: np.ndarray, n_trials: int, seed: int):
    fits = {name: _pb_fit(name, T, q) for name in _PB_MODELS}
    order = ("exponential", "harmonic", "modified_hyperbolic", "hyperbolic")
    chosen = min(order, key=lambda n: fits[n][2])
    hist = float(np.sum(0.5 * (q[1:] + q[:-1])))
    t_last = T[-1]
    weights = akaike_weights([fits[n][2] for n in _PB_MODELS])
    counts = allocate_trials(weights, n_trials)
    rng = np.random.default_rng(seed)
    eurs = []
    for name, n_k in zip(_PB_MODELS, counts):
        x, cov, _ = fits[name]
        draws = rng.multivariate_normal(x, cov, size=int(n_k), method="eigh")
        for xi in draws:  # one petbox model per trial: the loop being compared
            xi = xi.copy()
            xi[0] = max(xi[0], 1e-6)
            xi[1] = min(max(xi[1], 1e-6), 0.999999)
            if xi.size == 3:
                xi[2] = min(max(xi[2], 0.0), 2.0)
            try:
                m = _pb_model(name, xi)
            except ValueError:
                continue
            t_end = min(float(m.time_at_rate(Q_EL)[0]), t_last + HORIZON_D)
            vol = float(m.cum(t_end)[0] - m.cum(t_last)[0]) if t_end > t_last else 0.0
            eurs.append(hist + vol)
    p90, p50, p10 = np.percentile(eurs, [10, 50, 90])
    return chosen, fits[chosen][0], (p10, p50, p90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wells", type=int, default=1000)
    ap.add_argument("--petbox-wells", type=int, default=20)
    ap.add_argument("--coverage-wells", type=int, default=200)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--backtest-wells", type=int, default=200)
    args = ap.parse_args()

    print(f"1. closed-form agreement with petbox-dca {petbox.__version__} (rate, cum, EUR; 2000 random curves): "
          f"max relative difference {closed_form_agreement():.2e} (acceptance 1e-3)")

    settings = DcaSettings(n_trials=args.trials)
    rng = np.random.default_rng(123)
    wells = [synthetic_well(rng) for _ in range(args.wells)]
    analyze_decline(T, wells[0][1], settings=settings)  # warm-up
    w0, c0 = time.perf_counter(), time.process_time()
    ours = [analyze_decline(T, q, settings=settings) for _, q in wells]
    wall_ours, cpu_ours = time.perf_counter() - w0, time.process_time() - c0

    # ratio on a common subset, interleaved well by well so both see the same machine load
    # (the 2-core machine is shared); CPU time (process_time) is reported beside wall time
    n_pb = min(args.petbox_wells, args.wells)
    pb = []
    cpu_a = cpu_b = wall_a = wall_b = 0.0
    for i, (_, q) in enumerate(wells[:n_pb]):
        w0, c0 = time.perf_counter(), time.process_time()
        analyze_decline(T, q, settings=settings)
        wall_a += time.perf_counter() - w0
        cpu_a += time.process_time() - c0
        w0, c0 = time.perf_counter(), time.process_time()
        pb.append(petbox_pipeline(q, args.trials, seed=i))
        wall_b += time.perf_counter() - w0
        cpu_b += time.process_time() - c0
    print(f"2. fit 4 candidates + AICc selection + {args.trials}-trial Monte Carlo per well (180 daily rates):")
    print(f"   engines.dca, {args.wells} wells: {args.wells / cpu_ours:.1f} wells/s CPU, "
          f"{args.wells / wall_ours:.1f} wells/s wall")
    print(f"   interleaved on {n_pb} wells: engines.dca {n_pb / cpu_a:.2f} wells/s CPU ({n_pb / wall_a:.2f} wall); "
          f"petbox-dca loop {n_pb / cpu_b:.2f} wells/s CPU ({n_pb / wall_b:.2f} wall)")
    print(f"   throughput ratio engines.dca / petbox-dca loop = {cpu_b / cpu_a:.1f}x CPU, {wall_b / wall_a:.1f}x wall")
    same_model = sum(r.model == c for r, (c, _, _) in zip(ours, pb))
    qi_diff, b_diff, p50_diff = [], [], []
    for r, (c, x, (p10, p50, p90)) in zip(ours, pb):
        p50_diff.append(abs(r.eur_p50_stb / p50 - 1.0))
        if r.model == c:
            qi_diff.append(abs(r.qi_bpd / x[0] - 1.0))
            if x.size == 3:
                b_diff.append(abs(r.b_factor - x[2]))
    print(f"   same chosen model on {same_model}/{n_pb} wells; where the same: max |qi rel diff| "
          f"{max(qi_diff, default=float('nan')):.2e}, max |b diff| {max(b_diff, default=float('nan')):.2e}; "
          f"median |P50 rel diff| {np.median(p50_diff):.3f} (independent Monte Carlo draws)")

    n_cov = min(args.coverage_wells, args.wells)
    for mode in ("model_average", "chosen"):
        s = DcaSettings(n_trials=args.trials, uncertainty=mode)
        hits = 0
        rng = np.random.default_rng(7)
        for _ in range(n_cov):
            (qi, d, b), q = synthetic_well(rng)
            r = analyze_decline(T, q, settings=s)
            true = r.history_cum_bbl + remaining_volume_bbl(
                np.array([qi]), np.array([d]), np.array([b]), np.zeros(1), t_last_days=T[-1],
                economic_limit_bpd=s.economic_limit_bpd, horizon_days=s.horizon_days)[0]
            hits += r.eur_p90_stb <= true <= r.eur_p10_stb
        cov = hits / n_cov
        se = math.sqrt(0.8 * 0.2 / n_cov)
        print(f"3. coverage of true EUR by [P90, P10], uncertainty={mode}: {cov:.3f} over {n_cov} wells "
              f"(nominal 0.80 +/- {se:.3f} binomial s.e.)")

    for calibrated in (True, False):
        for mode in ("model_average", "chosen"):
            s = DcaSettings(n_trials=400, forecast_months=12, economic_limit_bpd=0.0, uncertainty=mode,
                            calibrated_band=calibrated)
            bt = backtest_coverage(args.backtest_wells, seed=2026, settings=s)
            classes = ", ".join(f"{k} {v:.3f}" for k, v in sorted(bt.coverage_by_class.items()))
            print(f"4. monthly backtest, {'calibrated' if calibrated else 'parameter-only'} band, uncertainty={mode}: "
                  f"{bt.coverage:.3f} of {bt.n_months} held-out months of {bt.n_wells} wells in [P90, P10] "
                  f"(nominal 0.80, goal >= 0.70); by class: {classes}; no decline identified on {bt.n_no_decline} "
                  f"wells; median |ln(P50 / observed)| {bt.median_abs_log_error_p50:.3f}")
    for calibrated in (True, False):
        s = DcaSettings(n_trials=400, forecast_months=12, economic_limit_bpd=0.0, calibrated_band=calibrated)
        bt = backtest_coverage(args.backtest_wells, seed=7, settings=s, kind="daily")
        classes = ", ".join(f"{k} {v:.3f}" for k, v in sorted(bt.coverage_by_class.items()))
        print(f"5. daily backtest (the service's input), {'calibrated' if calibrated else 'parameter-only'} band: "
              f"{bt.coverage:.3f} of {bt.n_months} held-out calendar months of {bt.n_wells} wells in [P90, P10]; "
              f"by class: {classes}; no decline identified on {bt.n_no_decline} wells")


if __name__ == "__main__":
    main()
