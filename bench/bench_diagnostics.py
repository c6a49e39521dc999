"""Diagnostics benchmark: the service's 5-minute tier throughput, rule confusion matrix, ARL agreement, false alarms.

Run: python bench/bench_diagnostics.py [--wells 10000] [--cycles 3] [--history sqlite|none] [--seeds 3] [--tier-only]
Prints: (1) the full 5-minute tier through the service (``Service.run_tier("fast")``: monitoring, both
anomaly layers, health, SPC (EWMA) update, ISA-18.2 alarm evaluation, gas-lift heading, the writeback payloads
checked against the key table, and the run records in the history store) for the field, in wells/s, beside
its two anchors run on the same windows: the engine-only batch call (``diagnose_window`` once per lift type)
and the per-well loop (the same service with ``batch_steps=False``: every step once per well); (2) the 24-rule
confusion matrix on the synthetic field; (3) CUSUM and EWMA ARLs, Markov chain and simulation, against
Montgomery (2009) Tables 9.3 / 9.11; (4) healthy-month false alarms.

The buffer is the in-process one (``MemoryBuffer``, the embedded default; Redis adds a network round trip per
well that belongs to ``bench_buffer``). The history store is SQLite in a temporary file (the embedded default:
``--history sqlite``), so the figure includes writing every well's run and results as the service does;
``--history none`` leaves the store out (the history write is also timed and printed on its own). The writeback
is a sink that accepts the checked payloads (the REST/gRPC delivery runs on its own thread: ``bench_bridge``).
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import numpy as np

from engines.anomaly import diagnose_window, fit_baseline
from engines.anomaly.baseline import RobustBaseline
from engines.anomaly.cusum import CusumState, cusum_arl, cusum_update
from engines.anomaly.diagnosis import DiagnosisConfig, TierState
from engines.anomaly.rules import FIRE_SCORE, evaluate_rules
from engines.fielddata import FAULTS_BY_LIFT_TYPE, LIFT_TYPES, SyntheticField
from engines.spc.ewma import PUBLISHED_ARL, EwmaState, ewma_arl, ewma_update
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.config import load_settings
from tb_bridge.handlers.engine_steps import DIAGNOSTIC_WINDOW_SAMPLES, MIN_BASELINE_SAMPLES, diagnostics_step
from tb_bridge.history.store import HistoryStore
from tb_bridge.service import Service

PREFIX = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
W = 72


class SinkWriteback:
    """Accepts the checked payloads (counts them)."""

    def __init__(self) -> None:
        self.attributes = 0

    def write_attributes(self, entity_id, attributes, scope="SERVER_SCOPE"):
        self.attributes += 1

    def write_timeseries(self, entity_id, points):
        pass

    def flush(self):
        pass

    def close(self):
        pass


class NoHistory(HistoryStore):
    """The store's schema without the per-tier run records (``--history none``)."""

    def record_runs(self, runs):
        for _ in runs:
            pass
        return []


class Timed:
    """Wraps a callable, accumulating its wall time."""

    def __init__(self, fn) -> None:
        self.fn, self.s = fn, 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.s += time.perf_counter() - t0


def _service(buffer, history: str, workdir: str, name: str, batch: bool) -> Service:
    url = f"sqlite:///{workdir}/{name}.db"
    store = (NoHistory if history == "none" else HistoryStore)(url)
    service = Service(load_settings(database_url=url), SinkWriteback(), buffer=buffer, history=store, batch_steps=batch)
    service.history.record_runs = Timed(service.history.record_runs)
    return service


def _samples(field, arrays, t):
    for lift in LIFT_TYPES:
        a = arrays[lift]
        keys = list(a)
        block = np.stack([a[k][:, t] for k in keys], axis=1).tolist()
        for w in field.wells_of(lift):
            yield w.name, field.start_ms + t * field.step_s * 1000, dict(zip(keys, block[w.index]))


def tier_throughput(n_wells: int, cycles: int, history: str) -> None:
    per = n_wells // 4
    n = 4 * per
    field = SyntheticField(per, seed=1)
    first = MIN_BASELINE_SAMPLES - 1
    arrays = {lift: field.arrays(lift, first + cycles + 2) for lift in LIFT_TYPES}
    buffer = MemoryBuffer()
    workdir = tempfile.mkdtemp(prefix="atilax-bench-diag-")
    t0 = time.perf_counter()
    for t in range(first + 1):
        buffer.append_many(_samples(field, arrays, t))
    service = _service(buffer, history, workdir, "batched", batch=True)
    for w in field.wells:
        service.registry.update(w.name, w.attributes, name=w.name)
    print(f"setup: {n} wells, {first + 1} buffered samples each: {time.perf_counter() - t0:.1f} s "
          f"(history: {history}{' in ' + workdir if history != 'none' else ''})")
    now = lambda t: field.start_ms + t * field.step_s * 1000  # noqa: E731
    report = service.run_tier("fast", now(first))
    print(f"first run (fits {n} baselines, batched): {report.duration_s:.1f} s, {report.wells_failed} wells failed")
    batch_call = diagnostics_step.run_batch
    timed_batch = diagnostics_step.run_batch = Timed(batch_call)
    try:
        times, diag_s, hist_s = [], [], []
        for c in range(cycles):
            t = first + 1 + c
            buffer.append_many(_samples(field, arrays, t))
            timed_batch.s = service.history.record_runs.s = 0.0
            report = service.run_tier("fast", now(t))
            assert report.wells_failed == 0, report.errors
            times.append(report.duration_s)
            diag_s.append(timed_batch.s)
            hist_s.append(service.history.record_runs.s)
    finally:
        del diagnostics_step.run_batch
    best = int(np.argmin(times))
    tier_s = times[best]

    # Anchor 1, the engine alone: one diagnose_window per lift type over the same windows and state.
    t = first + cycles + 1
    buffer.append_many(_samples(field, arrays, t))
    engine_runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for lift in LIFT_TYPES:
            states = [service._well_state[w.name]["diagnostics"] for w in field.wells_of(lift)]
            window = {k: v[:, t + 1 - DIAGNOSTIC_WINDOW_SAMPLES:t + 1] for k, v in arrays[lift].items()}
            diagnose_window(lift, [w.attributes for w in field.wells_of(lift)], window,
                            RobustBaseline.stack([s.baseline for s in states]),
                            state=TierState.stack([s.tier_state for s in states]), new_steps=1)
        engine_runs.append(time.perf_counter() - t0)
    engine_s = min(engine_runs)

    # Anchor 2, the per-well loop: the same service, state and sample, every step once per well.
    anchor = _service(buffer, history, workdir, "per_well", batch=False)
    for w in field.wells:
        anchor.registry.update(w.name, w.attributes, name=w.name)
    # The diagnostics state (baselines, CUSUM/EWMA sums, health history) is copied; the alarm banks start empty
    # (their construction, tens of microseconds per well, is then inside the anchor's time).
    anchor._well_state = {w: {"diagnostics": copy.deepcopy(s["diagnostics"])} for w, s in service._well_state.items()}
    per_well = anchor.run_tier("fast", now(t))
    again = service.run_tier("fast", now(t))  # the batched tier on the same sample, for the side-by-side
    per_well_s = per_well.duration_s
    print(f"5-minute tier through the service, {n} wells ({per} per lift type), best of {cycles} cycles "
          f"(all: {', '.join(f'{x:.2f}' for x in times)} s):")
    print(f"  batched tier       {tier_s:7.2f} s  {n / tier_s:8,.0f} wells/s   (diagnostics batch {diag_s[best]:.2f} s, "
          f"history write {hist_s[best]:.2f} s, other per-well steps + payloads {tier_s - diag_s[best] - hist_s[best]:.2f} s)")
    print(f"  engine-only batch  {engine_s:7.2f} s  {n / engine_s:8,.0f} wells/s   tier / engine = {tier_s / engine_s:.1f}")
    print(f"  per-well loop      {per_well_s:7.2f} s  {n / per_well_s:8,.0f} wells/s   per-well / batched = "
          f"{per_well_s / again.duration_s:.2f} (same sample: batched {again.duration_s:.2f} s)")
    print(f"  goal: the whole field well under 60 s: batched tier = {tier_s / 60:.2f} of the budget")
    service.close()
    anchor.close()
    for name in ("batched.db", "per_well.db"):
        if os.path.exists(os.path.join(workdir, name)):
            os.remove(os.path.join(workdir, name))


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
    print(f"\nrule confusion matrix ({seeds} seeds; rows: injected fault or healthy well, columns: the rule that fired "
          f"(argmax of the scores >= {FIRE_SCORE}) or none; '.' = 0)")
    print(f"  correct {correct} / {mat.sum()}, off-diagonal {mat.sum() - correct}")
    print(" " * 36 + "".join(f"{j + 1:>3d}" for j in range(len(names))) + "  none")
    for i, rn in enumerate(row_names):
        cells = "".join(f"{int(v) if v else '.':>3}" for v in mat[i, :-1])
        print(f"  {rn:34s}{cells}  {int(mat[i, -1]) if mat[i, -1] else '.':>4}")
    print("  columns: " + ", ".join(f"{j + 1} {c}" for j, c in enumerate(cols[:-1])))


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
        st, rule_fires = None, 0
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
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--history", choices=("sqlite", "none"), default="sqlite")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arl-runs", type=int, default=4000)
    ap.add_argument("--month-wells", type=int, default=20)
    ap.add_argument("--tier-only", action="store_true", help="only (1), the tier throughput")
    args = ap.parse_args()
    tier_throughput(args.wells, args.cycles, args.history)
    if args.tier_only:
        raise SystemExit(0)
    confusion(args.seeds)
    arl_tables(args.arl_runs)
    healthy_month(args.month_wells)
