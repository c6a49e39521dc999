"""Brute force over every well configuration of the 5x5 reference case (2^25 plans, no pruning).

Run: python bench/bench_reservoir_bruteforce.py [--sample N] [--slice START] [--full] [--symmetric]
[--backend numba]

A throughput benchmark of the batched simulator (issue goal: all 2^25 plans in under 5 minutes on 2
cores).  ``--sample N``: simulate N random plan codes and project the full run's wall time from the
measured rate (labelled as a projection); with ``--slice START`` the N consecutive codes from START
instead (the order of ``--full``; ``--slice 22020096`` = 21 << 20, the fixed 2^20 slice used to compare
kernel versions, has bits 20-24 set to 10101: 13 wells on average, 12.5 over the whole space).
``--full``: simulate all 2^25 codes in chunks, streaming a running argmax, and check that it is the
certified optimum (exhaustive search with symmetry and bounds, engines.reservoir.certify) up to a
symmetry of the square.  ``--symmetric``: one plan per orbit of the
square's 8 symmetries (reported as a separate figure: it is not the brute force).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from engines.reservoir.case import load_case
from engines.reservoir.certify import canonical_codes, certify, exhaustive_search
from engines.reservoir.planner import build_problem
from engines.reservoir.simulator import SPARSE_MIN_BATCH


def _code(mask) -> int:
    return int(np.sum(np.asarray(mask, dtype=np.int64) << np.arange(mask.size)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=2**20, help="random plans for the rate measurement (default 2^20)")
    ap.add_argument("--full", action="store_true", help="simulate all 2^25 plans")
    ap.add_argument("--slice", type=int, default=None, metavar="START",
                    help="simulate the --sample consecutive codes START, START+1, ... (the enumeration order of "
                         "--full) instead of random codes")
    ap.add_argument("--symmetric", action="store_true", help="one plan per symmetry orbit (not the brute force)")
    ap.add_argument("--backend", default="numba", choices=("numba", "numpy", "torch", "cuda"))
    ap.add_argument("--chunk", type=int, default=2**16)
    args = ap.parse_args()
    import numba

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; numba threads "
          f"{numba.get_num_threads()}; backend {args.backend}", flush=True)
    case = load_case("thesis_5x5")
    problem = build_problem(case, backend=args.backend)
    t = time.perf_counter()
    problem.simulate_npv(np.eye(25, dtype=bool)[:64])      # compile / load the kernels: banded (small batches)
    if args.backend == "numba":
        problem.simulator._sparse_kernel(SPARSE_MIN_BATCH)  # and the generated sparse LU (the chunks' batches)
    print(f"first call (kernel load or compile): {time.perf_counter() - t:.2f} s", flush=True)
    cert = certify(build_problem(case))
    print(f"certified optimum: NPV {cert.best_npv_usd / 1e6:.4f} M$, wells at columns "
          f"{np.flatnonzero(cert.best_mask).tolist()}", flush=True)
    total = 2**25
    if not args.full:
        if args.slice is not None:
            codes = np.arange(args.slice, min(args.slice + args.sample, total), dtype=np.int64)
        else:
            codes = np.random.default_rng(1).integers(0, total, size=args.sample)
        t, c = time.perf_counter(), time.process_time()
        res = exhaustive_search(problem, codes, chunk=args.chunk, symmetric=args.symmetric)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        rate = res.n_covered / wall
        print(f"sample: {res.n_simulated:,} plans simulated ({res.n_covered:,} covered) in {wall:.1f} s (CPU {cpu:.1f} s) "
              f"-> {res.n_simulated / wall:,.0f} simulated plans/s, {rate:,.0f} covered plans/s", flush=True)
        print(f"PROJECTED full run over 2^25 plans{' (symmetric)' if args.symmetric else ''}: "
              f"{total / rate / 60:.1f} min at this rate", flush=True)
        return
    last = [time.perf_counter()]

    def progress(done, tot):
        now = time.perf_counter()
        if now - last[0] > 30 or done == tot:
            last[0] = now
            print(f"  {done:,}/{tot:,} plans ({100 * done / tot:.1f} %), {now - t0:.0f} s", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    res = exhaustive_search(problem, chunk=args.chunk, symmetric=args.symmetric, progress_callback=progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    syms = problem.value_symmetries
    same_orbit = canonical_codes(np.array([_code(res.best_mask)]), syms)[0] == canonical_codes(
        np.array([_code(cert.best_mask)]), syms)[0]
    same_npv = abs(res.best_npv_usd - cert.best_npv_usd) <= 1e-9 * abs(cert.best_npv_usd)
    print(f"{'SYMMETRIC (one plan per orbit)' if args.symmetric else 'FULL brute force'}: {res.n_simulated:,} plans "
          f"simulated ({res.n_covered:,} covered) in {wall:.1f} s = {wall / 60:.2f} min (CPU {cpu:.1f} s), "
          f"{res.n_simulated / wall:,.0f} plans/s", flush=True)
    print(f"argmax: NPV {res.best_npv_usd / 1e6:.4f} M$, {res.best_well_count} wells at columns "
          f"{np.flatnonzero(res.best_mask).tolist()}; equals the certified optimum (same orbit: {same_orbit}, "
          f"NPV within 1e-9: {same_npv})", flush=True)
    sys.exit(0 if (same_orbit and same_npv) else 1)


if __name__ == "__main__":
    main()
