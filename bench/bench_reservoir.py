"""Field-development planner benchmarks (run: python bench/bench_reservoir.py [--quick]).

1. Full GA run on the 5x5 reference case (population 50, 100 generations): wall time of the default
   (elitist) GA and of the reference study's simple GA, warm (kernel loaded) and cold (a fresh process,
   with the compiled kernel loaded from Numba's cache, and with an empty cache, i.e. compiling), and the
   ratio to the study's 15-48 hours.
2. Batched simulator throughput (configurations/s) on the 5x5 and the 20x20 channelized case for the
   numpy, numba and torch backends (torch on the CPU, and on CUDA when available), and OPM Flow's wall
   time per configuration on the same decks (ratio).
3. Certified optimum of the 5x5 case (symmetry + bound pruning), with and without a GA incumbent.
4. Brute force over all 2^25 plans: measured throughput on a sample, projected (labelled as such);
   bench/bench_reservoir_bruteforce.py runs the full enumeration.
5. The compiled kernel's linear solver (``--lu`` runs only this): 5x5 throughput of the whole kernel
   with the banded LU against the straight-line sparse LU generated for the grid's pattern
   (engines.reservoir.sparse_lu), and the multiply-adds of each elimination.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from engines.reservoir.case import load_case
from engines.reservoir.certify import certify, exhaustive_search
from engines.reservoir.ga import ElitistGA, SimpleGA
from engines.reservoir.opm import find_flow, run_flow, write_deck
from engines.reservoir.planner import build_problem

THESIS_HOURS = (15.0, 48.0)


def random_plans(rng, n_plans, n_columns, k_lo, k_hi):
    m = np.zeros((n_plans, n_columns), dtype=bool)
    for b in range(n_plans):
        m[b, rng.choice(n_columns, rng.integers(k_lo, k_hi + 1), replace=False)] = True
    return m


_COLD_GA = """
import time
t0 = time.perf_counter()
from engines.reservoir.case import load_case
from engines.reservoir.ga import ElitistGA
from engines.reservoir.planner import build_problem
case = load_case("thesis_5x5")
t1 = time.perf_counter()
res = ElitistGA().run(build_problem(case), 0)
t2 = time.perf_counter()
print(f"{t2 - t1:.3f} {t1 - t0:.3f} {res.best_npv_usd:.6f}")
"""


def _cold_ga(cache_dir: str | None) -> tuple[float, float]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", _COLD_GA], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ga, imp, _ = out.stdout.split()
    return float(ga), float(imp)


def bench_ga(case):
    print("== 1. full GA run, 5x5 case, population 50, 100 generations ==")
    _cold_ga(None)                                 # fills Numba's cache if this checkout has not compiled it yet
    ga, imp = _cold_ga(None)
    print(f"cold, fresh process, compiled kernel in Numba's cache: default GA {ga:.2f} s (+ {imp:.2f} s of imports)")
    with tempfile.TemporaryDirectory() as tmp:
        ga0, imp0 = _cold_ga(tmp)
    print(f"cold, fresh process, empty Numba cache (compiles the kernel): default GA {ga0:.2f} s (+ {imp0:.2f} s of imports)")
    build_problem(case).simulate_npv(np.eye(25, dtype=bool))   # kernel loaded: the runs below are warm
    for name, algo in (("default (elitist + cache + local search)", ElitistGA()), ("reference simple GA", SimpleGA())):
        walls = []
        for _ in range(3):
            problem = build_problem(case)
            t, c = time.perf_counter(), time.process_time()
            res = algo.run(problem, 0)
            walls.append((time.perf_counter() - t, time.process_time() - c))
        wall, cpu = min(walls)
        print(f"warm {name:42s} wall {wall:6.3f} s (best of 3; CPU {cpu:.2f} s)  NPV {res.best_npv_usd / 1e6:8.3f} M$  "
              f"plans simulated {problem.n_simulated:5d}  speed-up vs thesis {THESIS_HOURS[0] * 3600 / wall:,.0f}x - "
              f"{THESIS_HOURS[1] * 3600 / wall:,.0f}x")


def bench_throughput(case, n_plans, label, k_lo, k_hi, flow_plans=2):
    rng = np.random.default_rng(0)
    plans = random_plans(rng, n_plans, case.reservoir.n_columns, k_lo, k_hi)
    rates = {}
    devices = ["cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            devices.append("cuda")
    except ImportError:
        torch = None
    runs = [("numpy", None, max(16, n_plans // 4)), ("numba", None, n_plans)]
    if torch is not None:
        runs += [("torch", d, n_plans if d == "cuda" else max(16, n_plans // 2)) for d in devices]
    else:
        print("  torch not installed: no torch figure")
    from engines.reservoir.gpu_kernel import cuda_available

    if cuda_available():
        runs.append(("cuda", None, n_plans))
    else:
        print(f"{label} cuda (one thread per plan): not measured (no CUDA GPU / numba-cuda on this machine)")
    for backend, device, nb in runs:
        kw = {"device": device} if backend == "torch" else {}
        try:
            problem = build_problem(case, backend=backend, **kw)
        except ValueError as exc:       # the plan kernel's straight-line LU does not fit this grid
            print(f"{label} {backend}: not measured ({exc})")
            continue
        sim = problem.simulator
        sim.run(plans[: min(8, nb)])  # warm-up (kernel load, torch init)
        best = None
        for _ in range(2):
            t, c = time.perf_counter(), time.process_time()
            out = sim.run(plans[:nb])
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            if best is None or wall < best[0]:
                best = (wall, cpu)
        wall, cpu = best
        rate = nb / wall
        rates[(backend, device)] = rate
        name = backend if device is None else f"{backend} ({device})"
        print(f"{label} {name:12s}: {nb:5d} plans in {wall:6.2f} s (best of 2; CPU {cpu:.2f} s) -> {rate:9,.1f} configurations/s "
              f"(max material-balance error {out.material_balance_error[:, 1:].max():.1e})")
    if ("torch", "cuda") not in rates:
        print(f"{label} torch (cuda): not measured (no GPU on this machine)")
    if find_flow() is None:
        print("  OPM Flow not installed: no ratio")
        return rates
    walls = []
    for cols in plans[:flow_plans]:
        t = time.perf_counter()
        run_flow(write_deck(case, np.flatnonzero(cols)))
        walls.append(time.perf_counter() - t)
    per = float(np.mean(walls))
    print(f"  OPM Flow: {per:.2f} s per configuration (one process, fixed steps); built-in batched per configuration is "
          + ", ".join(f"{k[0]}{'' if k[1] is None else '/' + k[1]} {per * r:,.0f}x" for k, r in rates.items()) + " faster")
    return rates


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
    codes = np.random.default_rng(1).integers(0, 2**25, size=sample)
    exhaustive_search(problem, codes[:8192])         # loads the sparse-LU kernel that batches this large use
    t, c = time.perf_counter(), time.process_time()
    exhaustive_search(problem, codes)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    rate = sample / wall
    print(f"measured {sample} random plans in {wall:.2f} s (CPU {cpu:.2f} s) -> {rate:,.0f} plans/s (2 threads); "
          f"2^25 plans PROJECTED: {2**25 / rate / 60:.1f} min (bench/bench_reservoir_bruteforce.py --full runs it)")


def bench_linear_solvers(case, n_plans=65536):
    print("== 5. the kernel's linear solver, 5x5 case ==")
    from engines.reservoir import sparse_lu
    from engines.reservoir.simulator import BatchSimulator

    base = build_problem(case).simulator
    n, ci, cj = base.reservoir.n_cells, base._ci, base._cj
    plan = sparse_lu.symbolic_lu(n, ci, cj)
    nat = sparse_lu.symbolic_lu(n, ci, cj, order=np.arange(n))
    w = base._bandwidth
    print(f"elimination: minimum-degree order {plan.n_fma} multiply-adds, {plan.n_fill} fill entries; natural order "
          f"{nat.n_fma}, {nat.n_fill}; the banded LU works on the whole band, {n * w * w} multiply-adds")
    codes = np.random.default_rng(1).integers(0, 2**25, size=n_plans)
    codes = codes[np.argsort([bin(int(c)).count("1") for c in codes], kind="stable")]
    masks = ((codes[:, None] >> np.arange(25)) & 1).astype(bool)
    out = {}
    for solver in ("banded", "sparse"):
        sim = BatchSimulator(base.reservoir, base.design, base.dt_days, backend="numba", linear_solver=solver)
        t = time.perf_counter()
        sim.run(masks[:256])                           # load (or generate and compile) the kernel
        load = time.perf_counter() - t
        best = None
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            out[solver] = sim.run(masks)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            best = (wall, cpu) if best is None or wall < best[0] else best
        print(f"{solver:7s} LU: {n_plans} random plans in {best[0]:.2f} s (best of 3; CPU {best[1]:.2f} s) -> "
              f"{n_plans / best[0]:,.0f} plans/s, {best[1] / n_plans * 1e6:.1f} CPU-us per plan (kernel load {load:.1f} s)")
    peak = np.abs(out["banded"].oil_rate_stb_d).max()
    print(f"  the two agree to {np.abs(out['banded'].oil_rate_stb_d - out['sparse'].oil_rate_stb_d).max() / peak:.1e} "
          f"of the peak rate")


def main() -> None:
    import os

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall times include waiting for the CPU; CPU times do not)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller samples")
    ap.add_argument("--lu", action="store_true", help="only the kernel's linear-solver benchmark (section 5)")
    args = ap.parse_args()
    thesis = load_case("thesis_5x5")
    if args.lu:
        bench_linear_solvers(thesis)
        return
    channel = load_case("channel_20x20")
    bench_ga(thesis)
    print("== 2. batched simulator throughput ==")
    bench_throughput(thesis, 1024 if args.quick else 8192, "5x5 case", 1, 8)
    bench_throughput(channel, 16 if args.quick else 128, "20x20 case", 2, 10)
    bench_certify(thesis)
    bench_brute_force(thesis, 16384 if args.quick else 131072)
    bench_linear_solvers(thesis, 8192 if args.quick else 65536)


if __name__ == "__main__":
    main()
