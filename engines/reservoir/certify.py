"""Certified global optimum of a placement problem by exhaustive search with symmetry and bounds.

Every feasible plan is enumerated by well count ``k``; under the reservoir's symmetry group (the 8
symmetries of the square for a symmetric square grid) only one representative per orbit is simulated
(Burnside: about 2^25 / 8 orbits for 5x5).  Well counts are visited by decreasing upper bound

    UB(k) = max discounted cash of min(k q_max dt, N_rec) taken as early as possible - capital(k)

with ``q_max`` the largest rate a well can have (initial cell pressure, largest 1/(mu B) on
[p_wf, p_init]) and ``N_rec`` the oil a closed reservoir can release when every cell falls to the
well pressure (pore volume lower bound (1 + cr (p_wf - p_init)), largest Bo on the interval).  A well
count whose bound cannot beat the incumbent is pruned, which proves optimality of the incumbent over it.

:func:`exhaustive_search` is the brute force: every plan code simulated, no pruning, optionally one plan
per symmetry orbit; a throughput benchmark of the batched simulator and an independent check.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Callable

import numpy as np

from engines.reservoir.economics import (capital_cost_usd, discount_factors, npv_from_discounted_volume,
                                        recoverable_cash_bound_usd)
from engines.reservoir.problem import PlacementProblem
from engines.reservoir.reservoir import FT3_PER_BBL


@dataclass(frozen=True)
class CertificationResult:
    """Certified optimum: ``best_masks`` lists every optimal orbit representative (within ``rtol``)."""

    best_mask: np.ndarray
    best_npv_usd: float
    best_well_count: int
    best_masks: np.ndarray
    upper_bound_usd: dict
    best_npv_by_count_usd: dict
    pruned_counts: tuple
    n_simulated: int
    n_plans_covered: int
    n_plans_total: int


def recoverable_oil_bound_stb(problem: PlacementProblem) -> float:
    """Upper bound of the oil a closed reservoir can produce to the wells' pressure, STB."""
    sim = problem.simulator
    res = sim.reservoir
    p0 = sim._p0
    pwf = sim.cell_pwf
    m0 = sim._pv0 / (res.pvt.bo(p0) * FT3_PER_BBL)
    pv_low = sim._pv0 * (1 + res.rock_compressibility_1_psi * (np.minimum(pwf, p0) - p0))
    b_max = _max_bo_on_interval(res.pvt, pwf, p0)
    return float(np.sum(np.maximum(m0 - pv_low / (b_max * FT3_PER_BBL), 0.0)))


def max_well_rate_stb_d(problem: PlacementProblem) -> float:
    """Upper bound of any single well's rate over the whole run, STB/d."""
    sim = problem.simulator
    res = sim.reservoir
    pvt = res.pvt
    p0 = sim._p0
    pwf = sim.cell_pwf
    # on each table interval mu B is a quadratic in p: its minimum (largest 1/(mu B)) is at an end,
    # a knot, or the quadratic's vertex
    lo, hi = float(pwf.min()), float(p0.max())
    ms, bs = pvt._mu_slope, pvt._b_slope
    mk, bk, pk = pvt.viscosity_cp[:-1], pvt.bo_rb_stb[:-1], pvt.pressure_psi[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(ms * bs != 0, pk - (mk * bs + bk * ms) / (2 * ms * bs), np.nan)
    grid = np.concatenate([pvt.pressure_psi, [lo, hi], vertex[np.isfinite(vertex)]])
    grid = grid[(grid >= lo) & (grid <= hi)]
    b, _, mu, _ = pvt.evaluate(grid)
    lam_max = float(np.max(1.0 / (b * mu)))
    per_cell = sim.cell_wi * lam_max * np.maximum(p0 - pwf, 0.0)
    per_col = np.bincount(res.column_of_cell, weights=per_cell, minlength=res.n_columns)
    return float(per_col[~problem.forbidden].max()) if (~problem.forbidden).any() else 0.0


def _max_bo_on_interval(pvt, lo, hi):
    """Largest Bo of the piecewise-linear table on [lo, hi] (at an end or at a knot inside)."""
    lo = np.minimum(lo, hi)
    out = np.maximum(pvt.bo(lo), pvt.bo(hi))
    for pk, bk in zip(pvt.pressure_psi, pvt.bo_rb_stb):
        out = np.where((pk > lo) & (pk < hi), np.maximum(out, bk), out)
    return out


def well_count_bounds_usd(problem: PlacementProblem, max_wells: int) -> dict:
    """UB(k) for k = 0..max_wells."""
    n_rec = recoverable_oil_bound_stb(problem)
    q_max = max_well_rate_stb_d(problem)
    dt = problem.simulator.dt_days
    t = np.cumsum(dt)
    out = {0: 0.0}
    for k in range(1, max_wells + 1):
        cash = recoverable_cash_bound_usd(n_rec, k * q_max * dt, t, problem.economics)
        out[k] = float(cash - capital_cost_usd(k, problem.economics))
    return out


def orbit_representatives(columns: np.ndarray, k: int, symmetries: np.ndarray, n_var: int) -> np.ndarray:
    """All k-subsets of ``columns`` whose bit code is the smallest in its orbit, as masks (M, n_var)."""
    combos = np.array(list(combinations(columns.tolist(), k)), dtype=np.int64).reshape(-1, k)
    codes = np.zeros(combos.shape[0], dtype=np.int64)
    for c in range(k):
        codes |= np.int64(1) << combos[:, c]
    canon = codes.copy()
    for q in symmetries[1:]:
        img = np.zeros_like(codes)
        for c in range(k):
            img |= np.int64(1) << q[combos[:, c]]
        np.minimum(canon, img, out=canon)
    keep = combos[canon == codes]
    masks = np.zeros((keep.shape[0], n_var), dtype=bool)
    if k:
        masks[np.arange(keep.shape[0])[:, None], keep] = True
    return masks


def certify(problem: PlacementProblem, *, incumbent_npv_usd: float | None = None, rtol: float = 1e-9,
            batch_size: int = 2048, workers: int = 1,
            progress_callback: Callable[[int, int], None] | None = None) -> CertificationResult:
    """Exhaustive search for the global optimum of ``problem``, pruned by the well-count bound.

    ``incumbent_npv_usd``: NPV of a known feasible plan (e.g. from a GA run) to prune with from the
    start.  ``workers``: batches simulated concurrently in threads (NumPy and LAPACK release the
    GIL).  ``progress_callback(k, n_plans)`` is called before each well count is enumerated."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if problem.n_var > 62:
        raise ValueError("exhaustive certification is limited to 62 columns")
    kmax = min(problem.max_wells, int((~problem.forbidden).sum()))
    ub = well_count_bounds_usd(problem, kmax)
    columns = np.flatnonzero(~problem.forbidden)
    syms = problem.symmetries
    incumbent = 0.0 if incumbent_npv_usd is None else max(0.0, float(incumbent_npv_usd))
    best_found = 0.0
    candidates: list[tuple[np.ndarray, float]] = [(np.zeros(problem.n_var, dtype=bool), 0.0)]
    by_count: dict = {0: 0.0}
    pruned = []
    n_sim = 0
    covered = 1
    total = sum(comb(columns.size, k) for k in range(kmax + 1))
    for k in sorted(range(1, kmax + 1), key=lambda kk: -ub[kk]):
        if ub[k] < max(incumbent, best_found):
            pruned.append(k)
            continue
        if progress_callback is not None:
            progress_callback(k, comb(columns.size, k))
        reps = orbit_representatives(columns, k, syms, problem.n_var)
        if problem.too_close.any():
            reps = reps[problem.is_feasible(reps)]
        covered += comb(columns.size, k)
        kbest = -np.inf
        chunks = [reps[s:s + batch_size] for s in range(0, reps.shape[0], batch_size)]
        if workers > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=workers) as ex:
                values = list(ex.map(problem.simulate_npv, chunks))
        else:
            values = map(problem.simulate_npv, chunks)
        for chunk, f in zip(chunks, values):
            n_sim += chunk.shape[0]
            kbest = max(kbest, float(f.max()))
            best_found = max(best_found, kbest)
            thresh = best_found - rtol * abs(best_found)
            candidates = [(m, v) for m, v in candidates if v >= thresh]
            candidates += [(m.copy(), float(v)) for m, v in zip(chunk, f) if v >= thresh]
        by_count[k] = kbest
    candidates.sort(key=lambda mv: -mv[1])
    best, best_v = candidates[0]
    return CertificationResult(best, best_v, int(best.sum()), np.array([m for m, _ in candidates]), ub, by_count,
                               tuple(sorted(pruned)), n_sim, covered, total)


@dataclass(frozen=True)
class ExhaustiveResult:
    """Outcome of :func:`exhaustive_search`: the best plan among those evaluated (ties: lowest code),
    ``n_simulated`` plans simulated, ``n_covered`` plans covered (with ``symmetric``, every simulated
    orbit representative stands for its whole orbit)."""

    best_mask: np.ndarray
    best_npv_usd: float
    best_well_count: int
    n_simulated: int
    n_covered: int


def plan_codes_to_masks(codes: np.ndarray, n_var: int) -> np.ndarray:
    """Masks (B, n_var) of plan codes (bit c set = a well in column c)."""
    codes = np.asarray(codes, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n_var, dtype=np.int64)) & 1).astype(bool)


def canonical_codes(codes: np.ndarray, symmetries: np.ndarray) -> np.ndarray:
    """Smallest code in the orbit of each plan code under the column permutations ``symmetries``."""
    codes = np.asarray(codes, dtype=np.int64)
    n_var = symmetries.shape[1]
    bits = [(codes >> c) & 1 for c in range(n_var)]
    canon = codes.copy()
    for q in symmetries:
        img = np.zeros_like(codes)
        for c in range(n_var):
            img |= bits[c] << np.int64(q[c])
        np.minimum(canon, img, out=canon)
    return canon


def _popcount(codes: np.ndarray) -> np.ndarray:
    """Number of set bits (wells) of each int64 plan code (SWAR bit count)."""
    x = codes.astype(np.uint64)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


def exhaustive_search(problem: PlacementProblem, codes=None, *, chunk: int = 65536, symmetric: bool = False,
                      progress_callback: Callable[[int, int], None] | None = None) -> ExhaustiveResult:
    """Brute force: simulate every plan (all ``2^n_var`` codes, or the given ``codes``) in batches, with no
    bound pruning and no cache, keeping a running argmax of the NPV (infeasible plans count as -inf).

    ``symmetric``: simulate only the plans whose code is the smallest of its orbit under the problem's
    symmetries (each orbit once; the optimum is unchanged because symmetric plans have equal NPVs).
    ``progress_callback(done, total)`` is called after every chunk.  Within a chunk the plans are
    simulated in order of well count (stable), which groups plans that need similar Newton iteration
    counts into the same kernel blocks; the result does not depend on the order (ties: lowest code).
    A throughput benchmark of the batched simulator as much as a proof: :func:`certify` reaches the same
    optimum far faster."""
    n = problem.n_var
    if codes is None and n > 40:
        raise ValueError("exhaustive_search over all plans is limited to 40 columns")
    total = (1 << n) if codes is None else int(np.size(codes))
    all_codes = None if codes is None else np.asarray(codes, dtype=np.int64)
    if getattr(problem.simulator, "backend", None) == "cuda" and not symmetric:
        return _exhaustive_cuda(problem, all_codes, total, chunk, progress_callback)

    def simulate(s):
        e = min(s + chunk, total)
        c = np.arange(s, e, dtype=np.int64) if all_codes is None else all_codes[s:e]
        if symmetric:
            c = c[canonical_codes(c, problem.symmetries) == c]
        # simulate the chunk's plans by well count (a stable order of evaluation only: every plan is still
        # simulated on its own): plans with as many wells converge alike, so the lanes of a kernel block
        # need similar Newton iteration counts and fewer lanes idle while the slowest one converges
        c = c[np.argsort(_popcount(c), kind="stable")]
        masks = plan_codes_to_masks(c, n)
        return e, c, masks, (problem.simulator.run(masks) if c.size else None)

    best_code, best_v = 0, -np.inf
    n_sim = 0
    # two stages: the next chunk simulates (the kernel's threads, GIL released) while this thread
    # computes the economics and the argmax of the last one, so no core waits on the Python part
    with ThreadPoolExecutor(max_workers=1) as runner:
        pending = runner.submit(simulate, 0) if total else None
        while pending is not None:
            e, c, masks, sim = pending.result()
            pending = runner.submit(simulate, e) if e < total else None
            if c.size:
                v = problem.economics_of(masks, sim).npv_usd
                v = np.where(problem.is_feasible(masks), v, -np.inf)
                n_sim += c.size
                best_code, best_v = _keep_best(best_code, best_v, c, v)
            if progress_callback is not None:
                progress_callback(e, total)
    done = total
    best = plan_codes_to_masks(np.array([best_code]), n)[0]
    return ExhaustiveResult(best, best_v, int(best.sum()), n_sim, done)


def _keep_best(best_code: int, best_v: float, codes: np.ndarray, v: np.ndarray) -> tuple[int, float]:
    """The running argmax after one chunk of plan ``codes`` with NPVs ``v``; ties go to the lowest code,
    whatever the evaluation order."""
    i = int(np.argmax(v))
    code = int(codes[v == v[i]].min())
    if v[i] > best_v or (v[i] == best_v and code < best_code):
        return code, float(v[i])
    return best_code, best_v


def _codes_feasible(problem: PlacementProblem, codes: np.ndarray, n_wells: np.ndarray) -> np.ndarray:
    """``problem.is_feasible`` of plan codes: bit tests for forbidden columns and the well count, the
    masks only when a spacing constraint needs them."""
    forbidden = int(np.sum(problem.forbidden.astype(np.int64) << np.arange(problem.n_var, dtype=np.int64)))
    ok = ((codes & forbidden) == 0) & (n_wells <= problem.max_wells)
    if problem.too_close.any():
        ok &= problem.is_feasible(plan_codes_to_masks(codes, problem.n_var))
    return ok


def _exhaustive_cuda(problem, all_codes, total, chunk, progress_callback) -> ExhaustiveResult:
    """``exhaustive_search`` on the GPU kernel (engines.reservoir.gpu_kernel): no masks are built; each
    thread decodes its plan from ``code_base + offsets[t]`` and returns its discounted volume, from which
    the NPV follows exactly (:func:`engines.reservoir.economics.npv_from_discounted_volume`).  The codes
    of each chunk of the full enumeration are taken by well count (offsets: the low bits sorted by their
    bit count, the same permutation for every aligned chunk) so the threads of a warp need similar Newton
    iteration counts.  The host computes one chunk's NPVs and argmax while the GPU simulates the next."""
    from engines.reservoir.gpu_kernel import to_host

    sim = problem.simulator
    kern = sim._cuda
    n = problem.n_var
    weights = sim.dt_days * discount_factors(np.cumsum(sim.dt_days), problem.economics)
    size = 1 << max(0, min(int(chunk).bit_length() - 1, n))
    if all_codes is None:
        low = np.arange(size, dtype=np.int64)
        offsets = low[np.argsort(_popcount(low), kind="stable")]
        offsets_dev = kern._to(offsets)
        low_count = _popcount(offsets)

    def launch(s):
        e = min(s + size, total)
        if all_codes is None:       # total = 2^n, a multiple of size
            codes = s + offsets
            out = kern.discounted_volumes(weights, code_base=s, offsets=offsets_dev)
            wells = low_count + int(_popcount(np.array([s]))[0])
        else:
            codes = all_codes[s:e]
            codes = codes[np.argsort(_popcount(codes), kind="stable")]
            out = kern.discounted_volumes(weights, code_base=0, offsets=codes)
            wells = _popcount(codes)
        return e, codes, wells, out

    best_code, best_v, n_sim = 0, -np.inf, 0
    pending = launch(0) if total else None
    while pending is not None:
        e, codes, wells, (dv, err, status) = pending
        dv, status = to_host(dv), to_host(status)      # waits for this chunk's kernel
        pending = launch(e) if e < total else None                   # the GPU goes on with the next one
        if np.any(status):
            step = int(status[status > 0].min())
            raise RuntimeError(f"Newton did not converge in {sim.max_newton} iterations at step {step}")
        v = npv_from_discounted_volume(dv, wells, problem.economics)
        v = np.where(_codes_feasible(problem, codes, wells), v, -np.inf)
        n_sim += codes.size
        with problem._lock:
            problem.n_simulated += codes.size
        best_code, best_v = _keep_best(best_code, best_v, codes, v)
        if progress_callback is not None:
            progress_callback(e, total)
    best = plan_codes_to_masks(np.array([best_code]), n)[0]
    return ExhaustiveResult(best, best_v, int(best.sum()), n_sim, total)
