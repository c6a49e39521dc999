"""Nodal-analysis benchmarks (issue 5). Run: python bench/bench_nodal.py [--wells 10000] [--workers 2]

1. One Beggs & Brill VLP curve (100 rates x 100 segments), vectorized over rates, against a plain
   per-rate Python loop of the same code: time per curve and the ratio (goal >= 20x, < 5 ms).
2. Full nodal solve for a synthetic fleet: wells/s with the fleet solver (wells x rates vectorized;
   25 traversed VLP rates + 8 refinement rates, 100-point curves) on N worker processes, and the
   per-well solver (100 traversed rates + 16 refinement rates) on a sample, extrapolated.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from engines.nodal import BlackOilFluid, CompositeIpr, Wellbore, bottomhole_pressure, solve_operating_point  # noqa: E402
from engines.nodal.fleet import solve_fleet  # noqa: E402


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_curve(repeats: int) -> None:
    fluid = BlackOilFluid(oil_api=35.0, gas_sg=0.75, water_cut_frac=0.3, gor_scf_stb=800.0, bubble_point_psia=2500.0)
    well = Wellbore.vertical(8000.0, tubing_id_in=2.992)
    rates = np.linspace(20.0, 4000.0, 100)
    vec = best_of(lambda: bottomhole_pressure(rates, fluid, well, 200.0, correlation="beggs_brill", n_segments=100), repeats)
    loop = best_of(lambda: [bottomhole_pressure([q], fluid, well, 200.0, correlation="beggs_brill", n_segments=100) for q in rates], 1)
    a = bottomhole_pressure(rates, fluid, well, 200.0, n_segments=100)
    b = np.array([bottomhole_pressure([q], fluid, well, 200.0, n_segments=100)[0] for q in rates[:5]])
    assert np.allclose(a[:5], b, rtol=1e-12)
    print("1) Beggs & Brill VLP curve, 100 rates x 100 segments")
    print(f"   vectorized over rates : {vec * 1e3:8.1f} ms per curve")
    print(f"   per-rate Python loop  : {loop * 1e3:8.1f} ms per curve")
    print(f"   ratio loop/vectorized : {loop / vec:8.1f} x   (goal >= 20x; goal < 5 ms per curve: {'met' if vec < 5e-3 else 'NOT met'})")


def synthetic_fleet(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    iprs, fluids, wells, pwh = [], [], [], []
    for _ in range(n):
        depth = rng.uniform(4000.0, 10000.0)
        pr = rng.uniform(0.45, 0.6) * depth
        pb = rng.uniform(0.3, 0.9) * pr
        iprs.append(CompositeIpr(pr, pb, rng.uniform(0.3, 4.0)))
        fluids.append(BlackOilFluid(oil_api=rng.uniform(20.0, 42.0), gas_sg=rng.uniform(0.65, 0.9),
                                    water_cut_frac=rng.uniform(0.0, 0.9), gor_scf_stb=rng.uniform(100.0, 1500.0),
                                    bubble_point_psia=pb, bubble_point_temperature_f=180.0))
        wells.append(Wellbore.vertical(depth, tubing_id_in=float(rng.choice([1.995, 2.441, 2.992]))))
        pwh.append(rng.uniform(100.0, 300.0))
    return iprs, fluids, wells, np.array(pwh)


def _solve_chunk(args):
    start, stop, n_total, seed, n_segments = args
    iprs, fluids, wells, pwh = synthetic_fleet(n_total, seed)
    sl = slice(start, stop)
    results = solve_fleet(iprs[sl], fluids[sl], wells[sl], pwh[sl], n_segments=n_segments)
    return sum(r.flowing for r in results), len(results)


def bench_fleet(n_wells: int, workers: int, chunk: int, n_segments: int, sample: int) -> None:
    print(f"2) full nodal solve, {n_wells} synthetic wells, Beggs & Brill, {n_segments} segments, 100-point curves "
          f"(fleet: 25 + 8 traversed rates per well)")
    tasks = [(s, min(s + chunk, n_wells), n_wells, 0, n_segments) for s in range(0, n_wells, chunk)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(_solve_chunk, tasks))
    elapsed = time.perf_counter() - t0
    flowing = sum(d[0] for d in done)
    print(f"   fleet solver, {workers} worker(s): {elapsed:8.1f} s  = {n_wells / elapsed:8.1f} wells/s  ({flowing} flowing)")
    iprs, fluids, wells, pwh = synthetic_fleet(sample, 0)
    t0 = time.perf_counter()
    for i in range(sample):
        solve_operating_point(iprs[i], fluids[i], wells[i], pwh[i], n_segments=n_segments)
    per_well = (time.perf_counter() - t0) / sample
    print(f"   per-well solver, 1 process : {1.0 / per_well:8.1f} wells/s (sample of {sample}); "
          f"fleet speed-up {n_wells / elapsed * per_well:5.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wells", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_curve(args.repeats)
    bench_fleet(args.wells, args.workers, args.chunk, args.segments, args.sample)


if __name__ == "__main__":
    main()
