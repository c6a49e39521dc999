"""Diagnostics benchmark: 5-minute tier throughput, rule confusion matrix, ARL agreement, false alarms.

Run: python bench/bench_diagnostics.py [--wells 10000] [--cycles 5] [--seeds 3]
Prints: (1) wells/s of the full tier (both layers, health, SPC update, alarm evaluation) for the
field; (2) the 24-rule confusion matrix on the synthetic field; (3) CUSUM and EWMA ARLs, Markov
chain and simulation, against Montgomery (2009) Tables 9.3 / 9.11; (4) healthy-month false alarms.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from engines.alarms import AlarmBank
from engines.anomaly import MONITORED_KEYS, diagnose_window, fit_baseline
from engines.anomaly.cusum import CusumState, cusum_arl, cusum_update
from engines.anomaly.diagnosis import DiagnosisConfig, TierState
from engines.anomaly.rules import FIRE_SCORE, evaluate_rules
from engines.fielddata import FAULTS_BY_LIFT_TYPE, LIFT_TYPES, SyntheticField
from engines.spc.ewma import PUBLISHED_ARL, EwmaState, ewma_arl, ewma_update
from engines.spc.pca import fit_pca
from tb_bridge.writeback.keys import diagnosis_attributes

PREFIX = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
W = 72


def tier_throughput(n_wells: int, cycles: int) -> None:
    per = n_wells // 4
    hist = 288
    field = SyntheticField(per, seed=1)
    t0 = time.perf_counter()
    setup = {}
    for lift in LIFT_TYPES:
        a = field.arrays(lift, hist + W + cycles)
        base = fit_baseline({k: v[:, :hist] for k, v in a.items()})
        keys = MONITORED_KEYS[lift]
        z = np.stack([((a[k][:200, :hist] - base.loc[:200, [base.column(k)]]) / base.scale[:200, [base.column(k)]]).ravel()
                      for k in keys], axis=1)
        pca = fit_pca(z, keys)
        params = [w.attributes for w in field.wells_of(lift)]
        # Three alarms per well: anomaly score high, health low (low alarm), first monitored key high.
        bank = AlarmBank([f"{w.name}/{t}" for w in field.wells_of(lift) for t in ("anomaly", "health", "flow")],
                         limit=np.tile([0.5, 50.0, 0.0], per) + np.repeat(0, 3 * per), direction=np.tile([1, -1, 1], per),
                         deadband=np.tile([0.1, 5.0, 0.0], per), on_delay_s=600.0, off_delay_s=900.0)
        bank.limit[2::3] = base.med("flow_rate_bpd") * 1.3
        setup[lift] = (a, base, pca, params, bank, TierState.zeros(per, len(keys)))
    print(f"setup (simulate {hist + W + cycles} steps, baselines, PCA) for {4 * per} wells: {time.perf_counter() - t0:.1f} s")
    cfg = DiagnosisConfig()
    for lift in LIFT_TYPES:  # adaptive h and L are computed once per configuration (memoized), not per cycle
        cfg.cusum_h(len(MONITORED_KEYS[lift]))
        cfg.ewma_limit_L(len(MONITORED_KEYS[lift]))
    times = []
    for c in range(cycles):
        t0 = time.perf_counter()
        n_events = 0
        for lift in LIFT_TYPES:
            a, base, pca, params, bank, state = setup[lift]
            end = hist + W + c + 1
            res = diagnose_window(lift, params, {k: v[:, end - W:end] for k, v in a.items()}, base, state=state,
                                  pca=pca, new_steps=1)
            setup[lift] = (a, base, pca, params, bank, res.state)
            vals = np.stack([res.anomaly_score, res.health_score, a["flow_rate_bpd"][:, end - 1]], axis=1).ravel()
            n_events += len(bank.update(300.0 * c, vals))
            _ = [diagnosis_attributes(res, i) for i in range(per)]
        times.append(time.perf_counter() - t0)
    best, mean = min(times), float(np.mean(times))
    print(f"tier for {4 * per} wells: mean {mean:.2f} s, best {best:.2f} s per 5-minute cycle "
          f"-> {4 * per / mean:,.0f} wells/s (goal: whole field well under 60 s; ratio {mean / 60:.3f} of the budget)")


def confusion(seeds: int) -> None:
    names = [(l, f) for l in LIFT_TYPES for f in FAULTS_BY_LIFT_TYPE[l]]
    cols = [f"{l}:{f}" for l, f in names] + ["none"]
    mat = np.zeros((len(names) + 4, len(cols)), int)
    row_names = [f"{l}:{f}" for l, f in names] + [f"{l}:healthy" for l in LIFT_TYPES]
    hist, after = 864, 150
    for seed in range(seeds):
        faults = {f"{PREFIX[l]}-{i + 2:02d}": (f, hist) for l, fs in FAULTS_BY_LIFT_TYPE.items() for i, f in enumerate(fs)}
        field = SyntheticField({l: len(fs) + 1 for l, fs in FAULTS_BY_LIFT_TYPE.items()}, seed=100 + seed, faults=faults)
        for lift in LIFT_TYPES:
            end = hist + after
            a = field.arrays(lift, end)
            base = fit_baseline({k: v[:, :hist] for k, v in a.items()})
            rules, sc, _ = evaluate_rules(lift, {k: v[:, end - W:end] for k, v in a.items()}, base)
            for w in field.wells_of(lift):
                s = sc[w.index]
                det = f"{lift}:{rules[int(np.argmax(s))].name}" if s.max() >= FIRE_SCORE else "none"
                r = row_names.index(f"{lift}:{w.fault}" if w.fault else f"{lift}:healthy")
                mat[r, cols.index(det)] += 1
    correct = sum(mat[i, i] for i in range(len(names))) + mat[len(names):, -1].sum()
    print(f"\nrule confusion matrix ({seeds} seeds; rows injected, columns detected; off-diagonal entries listed)")
    print(f"  correct {correct} / {mat.sum()}")
    for i, rn in enumerate(row_names):
        target = i if i < len(names) else len(cols) - 1
        off = {cols[j]: int(mat[i, j]) for j in range(len(cols)) if j != target and mat[i, j]}
        print(f"  {rn:34s} -> {cols[target]:34s} {mat[i, target]}/{mat[i].sum()}" + (f"  off: {off}" if off else ""))


def _sim(update, state0, shift, runs, seed, **kw):
    rng = np.random.default_rng(seed)
    st, length, done, t0 = state0(runs), np.zeros(runs), np.zeros(runs, bool), 0
    while not done.all():
        st, sig, _ = update(rng.standard_normal((runs, 256)) + shift, st, reset_on_signal=False, **kw)
        first = np.where(sig.any(axis=1), sig.argmax(axis=1) + 1, 0)
        new = ~done & (first > 0)
        length[new] = t0 + first[new]
        done |= new
        t0 += 256
    return length.mean(), length.std(ddof=1) / np.sqrt(runs)


def arl_tables(runs: int) -> None:
    table = {4.0: {0.0: 168.0, 0.5: 26.6, 1.0: 8.38, 2.0: 3.34}, 5.0: {0.0: 465.0, 0.5: 38.0, 1.0: 10.4, 2.0: 4.01}}
    print("\nCUSUM k=0.5 two-sided: published (Montgomery Table 9.3) | Markov chain | simulated +/- se")
    for h, row in table.items():
        for shift, pub in row.items():
            m, se = _sim(cusum_update, CusumState.zeros, shift, runs, 7, k=0.5, h=h)
            print(f"  h={h:.0f} shift={shift:.1f}: {pub:7.2f} | {cusum_arl(0.5, h, shift):7.2f} | {m:7.2f} +/- {se:.2f}")
    print("EWMA: published (Lucas & Saccucci 1990) | Markov chain | simulated +/- se")
    for (lam, L), row in PUBLISHED_ARL.items():
        for shift, pub in row.items():
            m, se = _sim(ewma_update, EwmaState.zeros, shift, runs, 9, lam=lam, L=L)
            print(f"  lambda={lam:.2f} L={L:.3f} shift={shift:.1f}: {pub:6.1f} | {ewma_arl(lam, L, shift):6.1f} | {m:6.1f} +/- {se:.1f}")


def healthy_month(n_per: int) -> None:
    hist, month, step = 8640, 8640, 12  # 30-day baseline (the design), then one month
    field = SyntheticField(n_per, seed=55)
    cfg = DiagnosisConfig()
    print(f"\nhealthy month ({n_per} wells per lift type, tier every {step} samples, ARL0 target {cfg.arl0_samples:.0f} samples per well):")
    for lift in LIFT_TYPES:
        a = field.arrays(lift, hist + month)
        base = fit_baseline({k: v[:, :hist] for k, v in a.items()})
        st, rule_fires, cusum_wells, ewma_wells = None, 0, np.zeros(n_per, bool), np.zeros(n_per, bool)
        cusum_n = ewma_n = 0
        for end in range(hist + W, hist + month + 1, step):
            r = diagnose_window(lift, None, {k: v[:, end - W:end] for k, v in a.items()}, base, state=st,
                                new_steps=step if st is not None else W)
            st = r.state
            rule_fires += int((r.rule_scores.max(axis=1) >= FIRE_SCORE).sum())
            cusum_n += int(r.cusum_alarm.sum())
            ewma_n += int(r.spc_ewma_alarm.sum())
        print(f"  {lift:8s}: rule firings {rule_fires}, CUSUM signals {cusum_n} ({cusum_n / n_per:.2f} per well-month; "
              f"target {month / cfg.arl0_samples:.2f}), EWMA signals {ewma_n} ({ewma_n / n_per:.2f} per well-month)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wells", type=int, default=10000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arl-runs", type=int, default=4000)
    ap.add_argument("--month-wells", type=int, default=20)
    args = ap.parse_args()
    tier_throughput(args.wells, args.cycles)
    confusion(args.seeds)
    arl_tables(args.arl_runs)
    healthy_month(args.month_wells)
