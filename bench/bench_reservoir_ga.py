"""GA success rates on the 5x5 reference case over 20 seeds (run: python bench/bench_reservoir_ga.py).

The certified optimum comes from the exhaustive search (engines.reservoir.certify); a run succeeds
when its best NPV equals it within 1e-9 relative.  Each algorithm shares one problem (and so one
evaluation cache) over its 20 seeds: the cache changes cost, never a run's trajectory.
"""
from __future__ import annotations

import time

import numpy as np

from engines.reservoir.case import load_case
from engines.reservoir.certify import certify
from engines.reservoir.ga import ElitistGA, SimpleGA
from engines.reservoir.planner import build_problem


def main(n_seeds: int = 20) -> None:
    case = load_case("thesis_5x5")
    cert = certify(build_problem(case))
    best = cert.best_npv_usd
    print(f"certified optimum: NPV {best / 1e6:.4f} M$, {cert.best_well_count} wells, columns "
          f"{np.flatnonzero(cert.best_mask).tolist()}")
    for name, algo in (("default elitist GA", ElitistGA()), ("reference simple GA", SimpleGA())):
        problem = build_problem(case)
        hits, gaps = 0, []
        t = time.perf_counter()
        for seed in range(n_seeds):
            res = algo.run(problem, seed)
            gap = (best - res.best_npv_usd) / best
            gaps.append(gap)
            hits += gap <= 1e-9
        wall = time.perf_counter() - t
        print(f"{name:22s}: {hits}/{n_seeds} seeds reach the optimum; mean gap {np.mean(gaps):.2e}, worst gap "
              f"{np.max(gaps):.2e}; {wall:.1f} s for {n_seeds} runs ({problem.n_simulated} plans simulated)")


if __name__ == "__main__":
    main()
