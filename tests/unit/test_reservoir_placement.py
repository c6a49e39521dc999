"""Placement problem, genetic algorithms and certified optimum (exhaustive search with symmetry and
bound pruning) on the reference 5x5 case of González Nieves (2018) and on a 3x3 variant that is
small enough to enumerate without any pruning."""
from __future__ import annotations

import json
import threading
from itertools import product
from math import comb

import numpy as np
import pytest

from engines.reservoir.case import CASES_DIR, case_from_dict, load_case
from engines.reservoir.certify import certify, orbit_representatives
from engines.reservoir.ga import ElitistGA, SimpleGA, _neighbour_table
from engines.reservoir.planner import build_problem, run_placement
from engines.reservoir.reservoir import square_symmetries


def small_case_doc(n=3, **over):
    """The thesis case shrunk to an n x n grid and 12 steps (fast GA and exhaustive runs)."""
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["name"] = f"thesis_{n}x{n}"
    doc["grid"].update(nx=n, ny=n)
    doc["schedule"]["n_steps"] = 12
    doc["optimizer"].update(pop_size=12, n_generations=8)
    for k, v in over.items():
        doc[k].update(v)
    return doc


@pytest.fixture(scope="module")
def thesis_problem():
    return build_problem(load_case("thesis_5x5"))


@pytest.fixture(scope="module")
def certified(thesis_problem):
    return certify(thesis_problem)


def _burnside_orbits(n_var: int, k: int, perms: np.ndarray) -> int:
    """Orbits of k-subsets under a permutation group: average over g of the k-subsets g fixes, i.e.
    the x^k coefficient of prod over cycles of (1 + x^len) (Burnside's lemma)."""
    total = 0
    for q in perms:
        seen = np.zeros(n_var, dtype=bool)
        poly = np.zeros(n_var + 1, dtype=object)
        poly[0] = 1
        for start in range(n_var):
            if seen[start]:
                continue
            length, c = 0, start
            while not seen[c]:
                seen[c] = True
                c = q[c]
                length += 1
            new = poly.copy()
            new[length:] += poly[:-length] if length else 0
            poly = new
        total += poly[k]
    assert total % len(perms) == 0
    return total // len(perms)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_orbit_representatives_match_burnside(k):
    perms = square_symmetries(5)
    reps = orbit_representatives(np.arange(25), k, perms, 25)
    assert reps.shape[0] == _burnside_orbits(25, k, perms)
    assert np.all(reps.sum(axis=1) == k)
    # every k-subset is the image of exactly one representative's orbit
    images = {tuple(np.flatnonzero(r[q])) for r in reps for q in perms}
    assert len(images) == comb(25, k)


def test_certified_optimum_of_thesis_case_is_consistent(thesis_problem, certified):
    cert = certified
    # bounds are valid: no enumerated well count beats its analytic upper bound
    for k, best in cert.best_npv_by_count_usd.items():
        assert best <= cert.upper_bound_usd[k] + 1e-6
    # pruned counts cannot beat the optimum; enumeration + pruning covers all 2^25 plans
    assert all(cert.upper_bound_usd[k] < cert.best_npv_usd for k in cert.pruned_counts)
    pruned_plans = sum(comb(25, k) for k in cert.pruned_counts)
    assert cert.n_plans_covered + pruned_plans == 2**25 == cert.n_plans_total
    # independent check: no single-well flip or move improves the certified plan
    best = cert.best_mask
    nb = _neighbour_table(5, 5)
    cand = [np.logical_xor(best, np.eye(25, dtype=bool)[i]) for i in range(25)]
    for w in np.flatnonzero(best):
        for c in nb[w][nb[w] >= 0]:
            if not best[c]:
                m = best.copy()
                m[w], m[c] = False, True
                cand.append(m)
    npv = thesis_problem.simulate_npv(np.array(cand))
    assert npv.max() < cert.best_npv_usd
    re = thesis_problem.simulate_npv(best[None])[0]
    assert re == pytest.approx(cert.best_npv_usd, rel=1e-9)
    assert cert.best_well_count == int(best.sum()) and cert.best_npv_usd > 0


def test_default_ga_reaches_certified_optimum(thesis_problem, certified):
    # bench/bench_reservoir_ga.py runs 20 seeds; two here keep the suite fast
    for seed in (0, 1):
        res = ElitistGA().run(thesis_problem, seed)
        assert res.best_npv_usd == pytest.approx(certified.best_npv_usd, rel=1e-9)
        assert np.all(np.diff(res.history_best_usd) >= 0)
        assert res.history_best_usd.size == 101


def test_simple_ga_never_exceeds_the_certified_optimum(thesis_problem, certified):
    res = SimpleGA(n_generations=15).run(thesis_problem, 3)
    assert res.best_npv_usd <= certified.best_npv_usd * (1 + 1e-9)
    assert np.all(np.diff(res.history_best_usd) >= 0)
    assert res.n_generations == 15


def test_certify_equals_brute_force_on_3x3_with_constraints():
    case = case_from_dict(small_case_doc(3, constraints={"max_wells": 4, "min_spacing_ft": 800.0,
                                                         "forbidden_columns": [0]}))
    problem = build_problem(case)
    cert = certify(problem)
    masks = np.array(list(product([False, True], repeat=9)))
    npv = np.where(problem.is_feasible(masks), problem.simulate_npv(masks), -np.inf)
    assert cert.best_npv_usd == pytest.approx(npv.max(), rel=1e-9)
    assert problem.is_feasible(cert.best_mask[None])[0]
    # the forbidden corner breaks the square's symmetry down to the diagonal mirror
    assert problem.symmetries.shape[0] == 2 and problem.value_symmetries.shape[0] == 8


def test_repair_enforces_constraints():
    case = case_from_dict(small_case_doc(5, constraints={"max_wells": 3, "min_spacing_ft": 1500.0,
                                                         "forbidden_columns": [12, 6]}))
    problem = build_problem(case)
    rng = np.random.default_rng(0)
    masks = rng.random((200, 25)) < 0.5
    fixed = problem.repair(masks, rng)
    assert problem.is_feasible(fixed).all()
    assert not fixed[:, [12, 6]].any() and fixed.sum(axis=1).max() <= 3
    assert np.all(fixed <= masks)  # repair only removes wells
    assert np.all(problem.evaluate(masks[~problem.is_feasible(masks)]) == -np.inf)


def test_elitist_ga_with_constraints_and_seeded_plan():
    doc = small_case_doc(5, constraints={"max_wells": 2, "min_spacing_ft": 0.0, "forbidden_columns": [12]})
    doc["optimizer"]["initial_plans"] = [[6, 18]]
    case = case_from_dict(doc)
    problem = build_problem(case)
    res = run_placement(case, 4, problem=problem)
    assert problem.is_feasible(np.array([np.isin(np.arange(25), res.well_columns)]))[0]
    # the seeded plan is in generation 0, so the best NPV is at least its NPV
    seeded = problem.simulate_npv(np.isin(np.arange(25), [6, 18])[None])[0]
    assert res.history_best_npv_usd[0] >= seeded - 1e-6
    assert res.npv_usd >= seeded - 1e-6


def test_run_placement_result_is_consistent_and_stoppable():
    case = case_from_dict(small_case_doc(3))
    stop = threading.Event()
    seen = []

    def cb(gen, best, mean):
        seen.append(gen)
        if gen == 3:
            stop.set()

    res = run_placement(case, 1, progress_callback=cb, stop_event=stop)
    assert res.stopped and seen == [1, 2, 3] and res.history_best_npv_usd.size == 4
    dt = case.dt_days
    np.testing.assert_allclose(res.cumulative_oil_stb, np.cumsum(res.oil_rate_stb_d * dt), rtol=1e-12)
    np.testing.assert_allclose(res.well_rates_stb_d.sum(axis=1), res.oil_rate_stb_d, rtol=1e-12)
    assert res.npv_usd == pytest.approx(res.economics["npv_usd"])
    assert res.well_count == len(res.well_columns) == len(res.well_cells)
    assert all(r * 3 + c == col for (r, c), col in zip(res.well_cells, res.well_columns))
    e = res.economics
    assert e["utility_index"] == pytest.approx(res.npv_usd / e["pvi_usd"])
    assert e["revenue_usd"] - e["royalty_usd"] - e["opex_usd"] - e["tax_usd"] == pytest.approx(res.cash_flow_usd.sum())
