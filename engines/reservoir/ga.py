"""Genetic algorithms for well placement (binary chromosome, one bit per column).

``SimpleGA`` is the reference study's baseline (González Nieves 2018, sec. 3.3 and Annex B; Goldberg
1989): random binary initial population, binary tournament selection, one-point crossover with
probability ``p_crossover``, bit-flip mutation with probability ``p_mutation`` per bit, generational
replacement (no elitism).  ``ElitistGA`` is the default: initial plans drawn with a uniform well count,
(mu + lambda) elitist survival without duplicates, uniform crossover, bit-flip plus "move a well to a
neighbouring column" mutation, constraint repair, engineer-seeded plans, cached evaluations, and a
final best-improvement local search (flip or move one well) from the best plan.  Both track the best
NPV of every generation and honour a ``stop_event`` (anything with ``is_set()``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engines.reservoir.problem import PlacementProblem

ProgressCallback = Callable[[int, float, float], None]


@dataclass(frozen=True)
class OptimizationResult:
    """Best plan and convergence history (``history_best_usd[g]`` = best NPV after generation g,
    g = 0 is the initial population)."""

    best_mask: np.ndarray
    best_npv_usd: float
    history_best_usd: np.ndarray
    history_mean_usd: np.ndarray
    n_generations: int
    n_requested: int
    n_simulated: int
    stopped: bool


def _tournament(fit: np.ndarray, n: int, rng: np.random.Generator, size: int = 2) -> np.ndarray:
    cand = rng.integers(0, fit.size, size=(n, size))
    return cand[np.arange(n), np.argmax(fit[cand], axis=1)]


def _finite_mean(f: np.ndarray) -> float:
    ok = np.isfinite(f)
    return float(f[ok].mean()) if ok.any() else float("nan")


@dataclass(frozen=True)
class SimpleGA:
    """The reference study's simple GA (defaults: Table 4.5 of González Nieves 2018)."""

    pop_size: int = 50
    n_generations: int = 100
    p_crossover: float = 0.9
    p_mutation: float = 0.01
    tournament_size: int = 2

    def run(self, problem: PlacementProblem, seed: int, *, initial_population=None,
            progress_callback: ProgressCallback | None = None, stop_event=None) -> OptimizationResult:
        _check_common(self.pop_size, self.n_generations, self.p_crossover, self.p_mutation)
        rng = np.random.default_rng(seed)
        n = problem.n_var
        pop = rng.random((self.pop_size, n)) < 0.5
        pop = _seed(pop, initial_population, n)
        pop = problem.repair(pop, rng)
        fit = problem.evaluate(pop)
        best_i = int(np.argmax(fit))
        best, best_f = pop[best_i].copy(), float(fit[best_i])
        hist_b, hist_m = [best_f], [_finite_mean(fit)]
        stopped = False
        for gen in range(1, self.n_generations + 1):
            if stop_event is not None and stop_event.is_set():
                stopped = True
                break
            parents = pop[_tournament(fit, self.pop_size, rng, self.tournament_size)]
            children = parents.copy()
            for k in range(0, self.pop_size - 1, 2):
                if rng.random() < self.p_crossover:
                    cut = rng.integers(1, n)
                    children[k, cut:], children[k + 1, cut:] = parents[k + 1, cut:], parents[k, cut:]
            children ^= rng.random(children.shape) < self.p_mutation
            pop = problem.repair(children, rng)
            fit = problem.evaluate(pop)
            i = int(np.argmax(fit))
            if fit[i] > best_f:
                best, best_f = pop[i].copy(), float(fit[i])
            hist_b.append(best_f)
            hist_m.append(_finite_mean(fit))
            if progress_callback is not None:
                progress_callback(gen, best_f, hist_m[-1])
        return OptimizationResult(best, best_f, np.array(hist_b), np.array(hist_m), len(hist_b) - 1,
                                  problem.n_requested, problem.n_simulated, stopped)


@dataclass(frozen=True)
class ElitistGA:
    """Default optimizer: elitist GA with duplicate elimination, repair and a local-search polish.

    ``max_initial_wells``: initial plans get a well count uniform in 1..this (None = the problem's
    ``max_wells`` capped at n/3); ``p_move``: probability that a child also moves one well to a
    neighbouring column; ``p_mutation`` None = 1/n per bit; ``local_search``: polish the best plan;
    ``n_offspring``: children per generation (lambda; None = ``pop_size``).  With a fixed budget
    ``n_offspring * n_generations``, a larger lambda means fewer, larger simulation batches."""

    pop_size: int = 50
    n_generations: int = 100
    p_crossover: float = 0.9
    p_mutation: float | None = None
    p_move: float = 0.5
    max_initial_wells: int | None = None
    local_search: bool = True
    n_offspring: int | None = None

    def run(self, problem: PlacementProblem, seed: int, *, initial_population=None,
            progress_callback: ProgressCallback | None = None, stop_event=None) -> OptimizationResult:
        pm = self.p_mutation if self.p_mutation is not None else 1.0 / problem.n_var
        _check_common(self.pop_size, self.n_generations, self.p_crossover, pm)
        rng = np.random.default_rng(seed)
        n = problem.n_var
        nx = problem.simulator.reservoir.nx
        neighbours = _neighbour_table(nx, n // nx)
        kmax = self.max_initial_wells or min(problem.max_wells, max(1, n // 3))
        counts = rng.integers(1, kmax + 1, size=self.pop_size)
        pop = np.zeros((self.pop_size, n), dtype=bool)
        allowed = np.flatnonzero(~problem.forbidden)
        for b, k in enumerate(counts):
            pop[b, rng.choice(allowed, min(k, allowed.size), replace=False)] = True
        pop = problem.repair(_seed(pop, initial_population, n), rng)
        fit = problem.evaluate(pop)
        pop, fit = _unique_best(pop, fit, self.pop_size)
        hist_b, hist_m = [float(fit[0])], [_finite_mean(fit)]
        stopped = False
        for gen in range(1, self.n_generations + 1):
            if stop_event is not None and stop_event.is_set():
                stopped = True
                break
            lam = self.n_offspring or self.pop_size
            parents = pop[_tournament(fit, 2 * lam, rng)].reshape(lam, 2, n)
            swap = rng.random((lam, n)) < 0.5
            do_x = (rng.random(lam) < self.p_crossover)[:, None]
            children = np.where(do_x & swap, parents[:, 1], parents[:, 0])
            children ^= rng.random(children.shape) < pm
            for b in np.flatnonzero(rng.random(lam) < self.p_move):
                _move_one(children[b], neighbours, rng)
            children = problem.repair(children, rng)
            cfit = problem.evaluate(children)
            pop, fit = _unique_best(np.vstack([pop, children]), np.concatenate([fit, cfit]), self.pop_size)
            hist_b.append(float(fit[0]))
            hist_m.append(_finite_mean(fit))
            if progress_callback is not None:
                progress_callback(gen, hist_b[-1], hist_m[-1])
        best, best_f = pop[0].copy(), float(fit[0])
        if self.local_search and not stopped:
            best, best_f = local_search(problem, best, best_f, neighbours, stop_event)
            hist_b[-1] = best_f
        return OptimizationResult(best, best_f, np.array(hist_b), np.array(hist_m), len(hist_b) - 1,
                                  problem.n_requested, problem.n_simulated, stopped)


def local_search(problem: PlacementProblem, mask: np.ndarray, npv: float, neighbours: np.ndarray,
                 stop_event=None) -> tuple[np.ndarray, float]:
    """Best-improvement hill climbing over single-bit flips and single-well moves to a neighbour."""
    best, best_f = mask.copy(), npv
    while stop_event is None or not stop_event.is_set():
        cand = np.repeat(best[None], problem.n_var, axis=0)
        cand[np.arange(problem.n_var), np.arange(problem.n_var)] ^= True
        moves = []
        for w in np.flatnonzero(best):
            for c in neighbours[w]:
                if c >= 0 and not best[c]:
                    m = best.copy()
                    m[w], m[c] = False, True
                    moves.append(m)
        if moves:
            cand = np.vstack([cand, np.array(moves)])
        f = problem.evaluate(cand)
        i = int(np.argmax(f))
        if not f[i] > best_f:
            break
        best, best_f = cand[i].copy(), float(f[i])
    return best, best_f


def _neighbour_table(nx: int, ny: int) -> np.ndarray:
    """8-neighbourhood of every column, padded with -1, shape (nx*ny, 8)."""
    out = -np.ones((nx * ny, 8), dtype=int)
    for c in range(nx * ny):
        j, i = divmod(c, nx)
        k = 0
        for dj in (-1, 0, 1):
            for di in (-1, 0, 1):
                if (di or dj) and 0 <= i + di < nx and 0 <= j + dj < ny:
                    out[c, k] = (j + dj) * nx + i + di
                    k += 1
    return out


def _move_one(row: np.ndarray, neighbours: np.ndarray, rng: np.random.Generator) -> None:
    wells = np.flatnonzero(row)
    if wells.size == 0:
        return
    w = rng.choice(wells)
    free = [c for c in neighbours[w] if c >= 0 and not row[c]]
    if free:
        row[w] = False
        row[rng.choice(free)] = True


def _unique_best(pop: np.ndarray, fit: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``size`` best distinct plans (sorted best first); refill with the best duplicates if
    there are fewer distinct ones."""
    order = np.argsort(-fit, kind="stable")
    _, first = np.unique(pop[order], axis=0, return_index=True)
    keep = order[np.sort(first)]
    if keep.size < size:
        rest = np.setdiff1d(order, keep, assume_unique=True)
        keep = np.concatenate([keep, rest[np.argsort(-fit[rest], kind="stable")][: size - keep.size]])
    keep = keep[:size]
    return pop[keep].copy(), fit[keep].copy()


def _seed(pop: np.ndarray, initial_population, n: int) -> np.ndarray:
    if initial_population is None:
        return pop
    seeds = np.atleast_2d(np.asarray(initial_population)).astype(bool)
    if seeds.shape[1] != n:
        raise ValueError(f"initial_population rows must have {n} entries")
    k = min(seeds.shape[0], pop.shape[0])
    pop = pop.copy()
    pop[:k] = seeds[:k]
    return pop


def _check_common(pop_size: int, n_gen: int, pc: float, pm: float) -> None:
    if pop_size < 2 or n_gen < 0:
        raise ValueError("pop_size must be >= 2 and n_generations >= 0")
    if not (0 <= pc <= 1 and 0 <= pm <= 1):
        raise ValueError("p_crossover and p_mutation must be probabilities")
