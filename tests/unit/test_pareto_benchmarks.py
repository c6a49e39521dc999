"""NSGA-II / NSGA-III settings of :mod:`engines.optimize.pareto` on pymoo's published test problems (issue 21: 2).

Published hypervolumes (pymoo 0.6.2, reference point 1.1 per objective, mean of 5 seeds): ZDT1 0.8678,
ZDT2 0.5340, ZDT3 1.3256 and 3-objective DTLZ2 0.702 for NSGA-II (population 100, 200 generations);
NSGA-III with 91 reference directions and 300 generations reaches about 0.745 on DTLZ2. The runs use the
module's own algorithm factory (SBX eta 20 prob 0.9, polynomial mutation eta 20) and generation loop.
Measured here (pymoo 0.6.2, seeds 1-5): ZDT1 0.8677, ZDT2 0.5340, ZDT3 1.3257, DTLZ2 0.7018 (NSGA-II),
DTLZ2 0.7441 (NSGA-III). Tolerances: 0.003 on ZDT (a run that stops 20 generations short misses by more),
0.01 on DTLZ2 (its seed-to-seed spread is 0.01).
"""
from __future__ import annotations

import numpy as np
import pytest

from engines.optimize import pareto as P

pytestmark = pytest.mark.slow
SEEDS = (1, 2, 3, 4, 5)


def _mean_hv(name: str, algorithm: str, n_gen: int, pop_size: int = 100) -> float:
    from pymoo.problems import get_problem

    problem = get_problem(name) if name.startswith("zdt") else get_problem(name, n_var=12, n_obj=3)
    hvs = []
    for seed in SEEDS:
        res, gens, stopped = P.run_pymoo(problem, P.make_algorithm(algorithm, pop_size, problem.n_obj), n_gen, seed)
        assert gens == n_gen and not stopped
        hvs.append(P.hypervolume(res.F, 1.1))
    return float(np.mean(hvs))


def test_pymoo_version_of_the_published_numbers():
    import pymoo

    assert pymoo.__version__ == "0.6.2"


@pytest.mark.parametrize("name, published, tol", [("zdt1", 0.8678, 0.003), ("zdt2", 0.5340, 0.003), ("zdt3", 1.3256, 0.003),
                                                  ("dtlz2", 0.702, 0.01)])
def test_nsga2_reaches_the_published_hypervolume(name, published, tol):
    assert _mean_hv(name, "nsga2", P.DEFAULT_GENERATIONS) == pytest.approx(published, abs=tol)


def test_nsga3_with_91_reference_directions_on_dtlz2():
    from pymoo.util.ref_dirs import get_reference_directions

    assert len(get_reference_directions("das-dennis", 3, n_partitions=P.NSGA3_PARTITIONS)) == 91
    assert _mean_hv("dtlz2", "nsga3", 300, pop_size=91) == pytest.approx(0.745, abs=0.005)
