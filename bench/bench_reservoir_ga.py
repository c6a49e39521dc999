"""GA success rates and wall times on the 5x5 reference case over 20 seeds
(run: python bench/bench_reservoir_ga.py).

The certified optimum comes from the exhaustive search (engines.reservoir.certify); a run succeeds
when its best NPV equals it within 1e-9 relative.  Every run gets a fresh problem (empty evaluation
cache), so its wall time is that of a full GA run (population 50, 100 generations) with the kernel
already loaded (warm); the ratio to the reference study's 15-48 hours is printed.
"""
from __future__ import annotations

import time

import numpy as np

from engines.reservoir.case import load_case
from engines.reservoir.certify import certify
from engines.reservoir.ga import ElitistGA, SimpleGA
from engines.reservoir.planner import build_problem

THESIS_HOURS = (15.0, 48.0)


def main(n_seeds: int = 20) -> None:
    case = load_case("thesis_5x5")
    cert = certify(build_problem(case))
    best = cert.best_npv_usd
    print(f"certified optimum: NPV {best / 1e6:.4f} M$, {cert.best_well_count} wells, columns "
          f"{np.flatnonzero(cert.best_mask).tolist()}")
    build_problem(case).simulate_npv(np.eye(25, dtype=bool))     # kernel loaded
    for name, algo in (("default elitist GA", ElitistGA()), ("reference simple GA", SimpleGA())):
        hits, gaps, walls, sims = 0, [], [], 0
        for seed in range(n_seeds):
            problem = build_problem(case)
            t = time.perf_counter()
            res = algo.run(problem, seed)
            walls.append(time.perf_counter() - t)
            sims += problem.n_simulated
            gap = (best - res.best_npv_usd) / best
            gaps.append(gap)
            hits += gap <= 1e-9
        med = float(np.median(walls))
        print(f"{name:22s}: {hits}/{n_seeds} seeds reach the optimum; mean gap {np.mean(gaps):.2e}, worst gap "
              f"{np.max(gaps):.2e}; wall per run median {med:.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s "
              f"({sims / n_seeds:.0f} plans simulated per run); median speed-up vs the thesis' 15-48 h: "
              f"{THESIS_HOURS[0] * 3600 / med:,.0f}x - {THESIS_HOURS[1] * 3600 / med:,.0f}x")


if __name__ == "__main__":
    main()
