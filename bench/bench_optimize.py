"""Benchmark of the Pareto setpoint optimization (issue 21; not run by CI).

1. One well, per lift type (the example wells): NSGA-II 100 x 200 (goal < 2 s on 2 cores), NSGA-III 100 x 200 and
   the exact grid enumeration (201 points per continuous variable), with the time spent in the lift engines'
   evaluation (20,000 setpoints) apart from pymoo's own bookkeeping; the problem build (nodal curves, cached per
   configuration in the service) is shown apart.
2. A field at the hourly tier (goal: 1,000 wells < 5 min on 2 cores): synthetic wells of the four lift types
   (``bench_lift.synthetic_attributes``) on a process pool, cold (first hour: nodal curves built) and warm (later
   hours: configuration curves cached, as the service's ``LiftCache``), with the hourly default (grid); NSGA-II
   100 x 200 on ``--nsga-wells`` of them, projected to the field.

    python bench/bench_optimize.py [--wells 1000] [--workers 2] [--nsga-wells 40] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402


def bench_single() -> None:
    from engines.optimize import pareto as P
    from tb_bridge.handlers.pareto_steps import pareto_problem
    from tb_bridge.wells.model import parse_well_config

    print("One well (example wells), population 100 x 200 generations; seconds")
    print("  (wall seconds; 'cpu' is the NSGA-II run's process CPU time, what it takes on an idle core of a loaded machine)")
    print(f"  {'lift':9s} {'build':>7s} {'nsga2':>7s} {'cpu':>6s} {'nsga3':>7s} {'grid':>7s} {'eval 20k':>9s} {'front':>6s} {'hv nsga2':>9s} {'hv grid':>8s}")
    for lift in ("esp", "srp", "pcp", "gas_lift"):
        with open(os.path.join("examples", f"well_{lift}.json"), encoding="utf-8") as fh:
            attrs = json.load(fh)
        well = parse_well_config(f"bench-{lift}", attrs.pop("name"), attrs)
        t0 = time.perf_counter()
        problem = pareto_problem(well, {})
        build = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        r2 = P.solve_nsga(problem, "nsga2", seed=1)
        t_nsga2, c_nsga2 = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        P.solve_nsga(problem, "nsga3", seed=1)
        t_nsga3 = time.perf_counter() - t0
        t0 = time.perf_counter()
        rg = P.solve_grid(problem)
        t_grid = time.perf_counter() - t0
        lo, hi = problem.variables[0].lower, problem.variables[0].upper
        x = np.linspace(lo, hi, 100)
        if len(problem.variables) > 1:
            x = np.column_stack([x, np.full(100, problem.variables[1].lower)])
        t0 = time.perf_counter()
        for _ in range(200):
            problem.evaluate(x)
        t_eval = time.perf_counter() - t0
        print(f"  {lift:9s} {build:7.2f} {t_nsga2:7.2f} {c_nsga2:6.2f} {t_nsga3:7.2f} {t_grid:7.3f} {t_eval:9.2f} {r2.size:6d} "
              f"{r2.hypervolume:9.4f} {rg.hypervolume:8.4f}")


_CACHE = None


def _hourly(job):
    """One well's hourly Pareto work in a worker (per-worker LiftCache, as the service holds one per process)."""
    global _CACHE
    from tb_bridge.adapters.lift import LiftCache
    from tb_bridge.handlers.pareto_steps import pareto_payload, pareto_problem, run_pareto
    from tb_bridge.wells.model import parse_well_config
    from tb_bridge.writeback.keys import pareto_attributes

    if _CACHE is None:
        _CACHE = LiftCache()
    i, attrs, method = job
    t0 = time.perf_counter()
    try:
        well = parse_well_config(f"w{i}", f"W{i}", attrs)
        problem = pareto_problem(well, {}, _CACHE)
        t1 = time.perf_counter()
        result = run_pareto(problem, method)
        pareto_attributes(pareto_payload(result, (1.0, 1.0, 1.0), None, None))
        ok = "ok"
    except ValueError as exc:  # a synthetic well the engines reject (no feasible setpoint, pump cannot lift)
        t1 = time.perf_counter()
        ok = type(exc).__name__
    return attrs["lift_type"], t1 - t0, time.perf_counter() - t1, ok


def bench_field(n_wells: int, workers: int, nsga_wells: int, seed: int) -> None:
    from bench_lift import synthetic_attributes

    rng = np.random.default_rng(seed)
    wells = [(i, synthetic_attributes(rng, i)) for i in range(n_wells)]
    chunk = max(1, n_wells // max(workers, 1))
    print(f"\nField at the hourly tier: {n_wells} synthetic wells (25 % of each lift type), {workers} worker(s)")
    with ProcessPoolExecutor(workers) as pool:
        for label in ("cold (nodal curves built)", "warm (curves cached)"):
            t0 = time.perf_counter()
            results = list(pool.map(_hourly, [(i, a, "grid") for i, a in wells], chunksize=chunk))
            wall = time.perf_counter() - t0
            n_ok = sum(1 for r in results if r[3] == "ok")
            print(f"  grid, {label}: wall {wall:.1f} s ({wall / 60:.2f} min) for {n_wells} wells, {n_ok} fronts"
                  f" (rejected: {n_wells - n_ok})")
            for lift in ("esp", "srp", "pcp", "gas_lift"):
                build = [r[1] for r in results if r[0] == lift]
                solve = [r[2] for r in results if r[0] == lift and r[3] == "ok"]
                print(f"    {lift:9s} build {np.mean(build) * 1e3:8.1f} ms   solve {np.mean(solve) * 1e3 if solve else float('nan'):7.1f} ms/well")
        print(f"  (load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        sub = wells[:nsga_wells]
        pool.map(_hourly, [(i, a, "grid") for i, a in sub], chunksize=max(1, len(sub) // workers))  # warm their curves
        t0 = time.perf_counter()
        results = list(pool.map(_hourly, [(i, a, "nsga2") for i, a in sub], chunksize=max(1, len(sub) // workers)))
        wall = time.perf_counter() - t0
        solve = [r[2] for r in results if r[3] == "ok"]
        print(f"  nsga2 100 x 200, warm: {len(sub)} wells in {wall:.1f} s, {np.mean(solve):.2f} s/well per worker"
              f" -> projected {n_wells} wells: {wall / len(sub) * n_wells / 60:.1f} min on {workers} worker(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nsga-wells", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-single", action="store_true")
    args = parser.parse_args()
    if not args.skip_single:
        bench_single()
    bench_field(args.wells, args.workers, args.nsga_wells, args.seed)


if __name__ == "__main__":
    main()
