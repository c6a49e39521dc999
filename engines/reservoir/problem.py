"""The well-placement problem: which columns of a reservoir get a vertical producer, to maximize NPV.

A decision vector is a boolean mask over the ``nx * ny`` columns (``column = nx * row + col``).  The
problem owns the simulator, the economics and the constraints (maximum well count, minimum spacing,
forbidden columns), evaluates batches of masks in one batched simulation, and caches every result
under the mask's canonical form (the smallest image under the symmetries of the reservoir), so a
placement and its mirror images are simulated once.  Optimizers only see ``evaluate`` and ``repair``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engines.reservoir.economics import EconomicParameters, NpvBreakdown, npv_breakdown
from engines.reservoir.reservoir import square_symmetries
from engines.reservoir.simulator import BatchSimulator, SimulationResult


@dataclass(frozen=True)
class PlacementConstraints:
    """``max_wells``: most producers a plan may have (None = no limit); ``min_spacing_ft``: smallest
    allowed distance between two wells' centres (ft, 0 = none); ``forbidden_columns``: columns that
    may not hold a well."""

    max_wells: int | None = None
    min_spacing_ft: float = 0.0
    forbidden_columns: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.max_wells is not None and self.max_wells < 1:
            raise ValueError("max_wells must be >= 1 or None")
        if not (np.isfinite(self.min_spacing_ft) and self.min_spacing_ft >= 0):
            raise ValueError("min_spacing_ft must be >= 0")


class PlacementProblem:
    """Maximize NPV over column masks, with caching and constraint repair."""

    def __init__(self, simulator: BatchSimulator, economics: EconomicParameters,
                 constraints: PlacementConstraints = PlacementConstraints(), *, batch_size: int = 4096) -> None:
        res = simulator.reservoir
        self.simulator = simulator
        self.economics = economics
        self.constraints = constraints
        self.n_var = res.n_columns
        self.batch_size = int(batch_size)
        forb = np.zeros(self.n_var, dtype=bool)
        if constraints.forbidden_columns:
            idx = np.asarray(constraints.forbidden_columns, dtype=int)
            if np.any(idx < 0) or np.any(idx >= self.n_var):
                raise ValueError(f"forbidden_columns must be within 0..{self.n_var - 1}")
            forb[idx] = True
        self.forbidden = forb
        jj, ii = np.divmod(np.arange(self.n_var), res.nx)
        x = ii * res.dx_ft
        y = jj * res.dy_ft
        dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
        self.too_close = (dist < constraints.min_spacing_ft) & ~np.eye(self.n_var, dtype=bool)
        self.max_wells = constraints.max_wells if constraints.max_wells is not None else self.n_var
        # symmetries of the reservoir (value-preserving) and of the feasible set
        if res.is_square_symmetric():
            perms = square_symmetries(res.nx)
        else:
            perms = np.arange(self.n_var)[None, :]
        self.value_symmetries = perms
        self.symmetries = np.array([q for q in perms if np.array_equal(forb[q], forb)])
        self._weights = (1 << np.arange(self.n_var, dtype=np.int64)) if self.n_var <= 62 else None
        self._cache: dict[object, float] = {}
        self.n_simulated = 0
        self.n_requested = 0
        self._lock = threading.Lock()

    # ----- keys and constraints ---------------------------------------------------------------
    def canonical_keys(self, masks: np.ndarray) -> list:
        """Cache key of each mask: the smallest encoding among its images under the symmetries."""
        m = masks.astype(bool)
        if self._weights is not None:
            codes = np.stack([m[:, q] @ self._weights for q in self.value_symmetries])
            return codes.min(axis=0).tolist()
        return [min(np.packbits(row[q]).tobytes() for q in self.value_symmetries) for row in m]

    def is_feasible(self, masks: np.ndarray) -> np.ndarray:
        m = np.atleast_2d(masks).astype(bool)
        ok = ~np.any(m & self.forbidden, axis=1) & (m.sum(axis=1) <= self.max_wells)
        if self.too_close.any():
            ok &= ~np.einsum("bi,ij,bj->b", m.astype(np.int8), self.too_close.astype(np.int8), m.astype(np.int8)).astype(bool)
        return ok

    def repair(self, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Make masks feasible: clear forbidden columns, drop random wells that break the spacing,
        then random wells above ``max_wells``."""
        m = np.atleast_2d(masks).astype(bool) & ~self.forbidden
        for b in np.flatnonzero(~self.is_feasible(m)):
            row = m[b]
            if self.too_close.any():
                for c in rng.permutation(np.flatnonzero(row)):
                    if row[c] and np.any(row & self.too_close[c]):
                        row[c] = False
            wells = np.flatnonzero(row)
            if wells.size > self.max_wells:
                row[rng.choice(wells, wells.size - self.max_wells, replace=False)] = False
        return m

    # ----- evaluation -------------------------------------------------------------------------
    def evaluate(self, masks: np.ndarray) -> np.ndarray:
        """NPV (US$) of each mask; infeasible masks get -inf.  Cached by canonical form."""
        m = np.atleast_2d(masks).astype(bool)
        self.n_requested += m.shape[0]
        keys = self.canonical_keys(m)
        out = np.empty(m.shape[0])
        todo: dict[object, int] = {}
        for i, k in enumerate(keys):
            v = self._cache.get(k)
            if v is None:
                todo.setdefault(k, i)
            else:
                out[i] = v
        if todo:
            idx = np.fromiter(todo.values(), dtype=int)
            vals = self.simulate_npv(m[idx])
            for k, v in zip(todo.keys(), vals):
                self._cache[k] = float(v)
            for i, k in enumerate(keys):
                if k in todo:
                    out[i] = self._cache[k]
        feasible = self.is_feasible(m)
        return np.where(feasible, out, -np.inf)

    def simulate_npv(self, masks: np.ndarray) -> np.ndarray:
        """NPV of masks by batched simulation (no cache), in chunks of ``batch_size``."""
        out = np.empty(masks.shape[0])
        for s in range(0, masks.shape[0], self.batch_size):
            chunk = masks[s:s + self.batch_size]
            out[s:s + chunk.shape[0]] = self.details(chunk)[1].npv_usd
        return out

    def details(self, masks: np.ndarray, **run_kwargs) -> tuple[SimulationResult, NpvBreakdown]:
        """Full simulation and economics of masks (no cache)."""
        m = np.atleast_2d(masks).astype(bool)
        sim = self.simulator.run(m, **run_kwargs)
        return sim, self.economics_of(m, sim)

    def economics_of(self, masks: np.ndarray, sim: SimulationResult) -> NpvBreakdown:
        """Economics of masks from their simulation ``sim`` (counts them as simulated)."""
        m = np.atleast_2d(masks).astype(bool)
        with self._lock:
            self.n_simulated += m.shape[0]
        volumes = sim.oil_rate_stb_d * self.simulator.dt_days
        return npv_breakdown(volumes, sim.time_days, m.sum(axis=1), self.economics)
