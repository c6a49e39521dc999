"""Field-development planner benchmarks (run: python bench/bench_reservoir.py [--quick]).

1. Full GA run on the 5x5 reference case (population 50, 100 generations): wall time of the default
   (elitist) GA and of the reference study's simple GA, and the ratio to the study's 15-48 hours.
2. Batched simulator throughput (configurations/s) on the 5x5 and the 20x20 channelized case, and
   OPM Flow's wall time per configuration on the same decks (ratio).
3. Certified optimum of the 5x5 case (symmetry + bound pruning), with and without a GA incumbent.
4. Brute force over all 2^25 plans: measured throughput on a sample, extrapolated (labelled as such).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from engines.reservoir.case import load_case
from engines.reservoir.certify import certify
from engines.reservoir.ga import ElitistGA, SimpleGA
from engines.reservoir.opm import find_flow, run_flow, write_deck
from engines.reservoir.planner import build_problem

THESIS_HOURS = (15.0, 48.0)


def random_plans(rng, n_plans, n_columns, k_lo, k_hi):
    m = np.zeros((n_plans, n_columns), dtype=bool)
    for b in range(n_plans):
        m[b, rng.choice(n_columns, rng.integers(k_lo, k_hi + 1), replace=False)] = True
    return m


def bench_ga(case):
    print("== 1. full GA run, 5x5 case, population 50, 100 generations ==")
    for name, algo in (("default (elitist + cache + local search)", ElitistGA()), ("reference simple GA", SimpleGA())):
        problem = build_problem(case)
        t, c = time.perf_counter(), time.process_time()
        res = algo.run(problem, 0)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"{name:42s} wall {wall:7.2f} s (CPU {cpu:.2f} s)  NPV {res.best_npv_usd / 1e6:8.3f} M$  plans simulated {problem.n_simulated:5d}"
              f"  speed-up vs thesis {THESIS_HOURS[0] * 3600 / wall:,.0f}x - {THESIS_HOURS[1] * 3600 / wall:,.0f}x")


def bench_throughput(case, n_plans, label, k_lo, k_hi, flow_plans=2):
    problem = build_problem(case)
    rng = np.random.default_rng(0)
    plans = random_plans(rng, n_plans, case.reservoir.n_columns, k_lo, k_hi)
    problem.simulator.run(plans[: min(8, n_plans)])  # warm-up
    t, c = time.perf_counter(), time.process_time()
    out = problem.simulator.run(plans)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    rate = n_plans / wall
    print(f"{label}: {n_plans} plans in {wall:.2f} s (CPU {cpu:.2f} s) -> {rate:,.1f} configurations/s "
          f"(max material-balance error {out.material_balance_error.max():.1e}, solver {problem.simulator.linear_solver})")
    if find_flow() is None:
        print("  OPM Flow not installed: no ratio")
        return rate
    walls = []
    for cols in plans[:flow_plans]:
        t = time.perf_counter()
        run_flow(write_deck(case, np.flatnonzero(cols)))
        walls.append(time.perf_counter() - t)
    per = float(np.mean(walls))
    print(f"  OPM Flow: {per:.2f} s per configuration (one process, fixed steps) -> built-in batched is {per * rate:,.0f}x faster")
    return rate


def bench_certify(case):
    print("== 3. certified optimum, 5x5 case ==")
    problem = build_problem(case)
    t = time.perf_counter()
    ga = ElitistGA().run(problem, 0)
    t_ga = time.perf_counter() - t
    problem = build_problem(case)
    t, c = time.perf_counter(), time.process_time()
    cert = certify(problem, incumbent_npv_usd=ga.best_npv_usd, workers=2)
    t_c, c_c = time.perf_counter() - t, time.process_time() - c
    print(f"with GA incumbent, 2 threads: certify {t_c:.2f} s (CPU {c_c:.2f} s) (+ GA {t_ga:.2f} s); NPV {cert.best_npv_usd / 1e6:.4f} M$, "
          f"{cert.best_well_count} wells at columns {np.flatnonzero(cert.best_mask).tolist()}, "
          f"{cert.n_simulated} orbit representatives simulated, pruned counts {list(cert.pruned_counts)}")
    problem = build_problem(case)
    t = time.perf_counter()
    cert2 = certify(problem, workers=2)
    print(f"without incumbent, 2 threads: certify {time.perf_counter() - t:.2f} s, {cert2.n_simulated} simulated, same optimum: "
          f"{abs(cert2.best_npv_usd - cert.best_npv_usd) <= 1e-9 * cert.best_npv_usd}")
    print(f"GA gap to certified optimum: {(cert.best_npv_usd - ga.best_npv_usd) / cert.best_npv_usd:.2e}")


def bench_brute_force(case, sample):
    print("== 4. brute force over 2^25 plans (no pruning, no symmetry) ==")
    problem = build_problem(case)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 2**25, size=sample)
    plans = ((codes[:, None] >> np.arange(25)) & 1).astype(bool)
    t = time.perf_counter()
    for s in range(0, sample, 4096):
        problem.simulate_npv(plans[s:s + 4096])
    wall = time.perf_counter() - t
    rate = sample / wall
    print(f"measured {sample} random plans in {wall:.2f} s -> {rate:,.0f} plans/s on one process; "
          f"2^25 plans EXTRAPOLATED: {2**25 / rate / 60:.1f} min (one core), {2**25 / rate / 120:.1f} min (two cores)")


def main() -> None:
    import os

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall times include waiting for the CPU; CPU times do not)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller samples")
    args = ap.parse_args()
    thesis = load_case("thesis_5x5")
    channel = load_case("channel_20x20")
    bench_ga(thesis)
    print("== 2. batched simulator throughput (CPU) ==")
    bench_throughput(thesis, 1024 if args.quick else 4096, "5x5 case", 1, 8)
    bench_throughput(channel, 16 if args.quick else 64, "20x20 case", 2, 10)
    bench_certify(thesis)
    bench_brute_force(thesis, 4096 if args.quick else 16384)


if __name__ == "__main__":
    main()
