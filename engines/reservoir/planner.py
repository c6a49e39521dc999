"""One entry point for the service and the CLI: optimize a case's well placement.

``run_placement(case, seed)`` builds the batched simulator, the placement problem and the optimizer
named in the case, runs it, re-simulates the best plan for its full profile and economics, and returns
a frozen :class:`PlacementResult` (plain floats, tuples and arrays; ready to be written back as
``opt_placement_*`` attributes and time series by the ThingsBoard wiring).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engines.reservoir.case import PlacementCase, plan_to_mask
from engines.reservoir.economics import plan_irr
from engines.reservoir.ga import ElitistGA, OptimizationResult, SimpleGA
from engines.reservoir.problem import PlacementProblem
from engines.reservoir.simulator import BatchSimulator


@dataclass(frozen=True)
class PlacementResult:
    """Best plan of a placement run (oilfield units, US$).

    ``well_columns``: column indices (nx * row + col); ``well_cells``: (row, col) pairs;
    ``economics``: capital, revenue, royalty, opex, tax, discounted cash flow, PVI, utility index
    (NPV/PVI) and IRR (per year; NaN when undefined); ``history_best_npv_usd``: best NPV after each
    generation (index 0 = initial population); profile arrays are per report step."""

    case_name: str
    algorithm: str
    seed: int
    well_columns: tuple[int, ...]
    well_cells: tuple[tuple[int, int], ...]
    well_count: int
    npv_usd: float
    economics: dict
    history_best_npv_usd: np.ndarray
    history_mean_npv_usd: np.ndarray
    time_days: np.ndarray
    oil_rate_stb_d: np.ndarray
    cumulative_oil_stb: np.ndarray
    average_pressure_psi: np.ndarray
    well_rates_stb_d: np.ndarray
    cash_flow_usd: np.ndarray
    n_simulated: int
    stopped: bool


SIMULATOR_BACKENDS = ("builtin", "numba", "numpy", "torch", "cuda", "opm")


def build_problem(case: PlacementCase, *, backend: str = "builtin", **simulator_kwargs) -> PlacementProblem:
    """The placement problem of a case: economics + constraints + a simulator.

    ``backend``: ``"builtin"`` (the batched simulator with its default backend: the compiled Numba
    kernel where it applies, NumPy otherwise), ``"numba"``, ``"numpy"``, ``"torch"`` or ``"cuda"`` (that backend
    of :class:`~engines.reservoir.simulator.BatchSimulator`; ``device=`` picks the Torch device), or
    ``"opm"``: OPM Flow, one process per plan (keyword arguments go to
    :class:`~engines.reservoir.opm.FlowBatchSimulator`)."""
    if backend in ("builtin", "numba", "numpy", "torch", "cuda"):
        kernel = "auto" if backend == "builtin" else backend
        sim = BatchSimulator(case.reservoir, case.wells, case.dt_days, backend=kernel, **simulator_kwargs)
    elif backend == "opm":
        from engines.reservoir.opm import FlowBatchSimulator

        sim = FlowBatchSimulator(case, **simulator_kwargs)
    else:
        raise ValueError(f"backend must be one of {SIMULATOR_BACKENDS}, got {backend!r}")
    return PlacementProblem(sim, case.economics, case.constraints)


def make_optimizer(case: PlacementCase, algorithm: str | None = None):
    o = case.optimizer
    algo = algorithm or o.algorithm
    if algo == "simple":
        return SimpleGA(pop_size=o.pop_size, n_generations=o.n_generations, p_crossover=o.p_crossover,
                        p_mutation=0.01 if o.p_mutation is None else o.p_mutation)
    if algo == "elitist":
        return ElitistGA(pop_size=o.pop_size, n_generations=o.n_generations, p_crossover=o.p_crossover,
                         p_mutation=o.p_mutation)
    raise ValueError(f"unknown algorithm {algo!r} (elitist, simple)")


def run_placement(case: PlacementCase, seed: int, progress_callback: Callable[[int, float, float], None] | None = None,
                  stop_event=None, *, algorithm: str | None = None,
                  problem: PlacementProblem | None = None) -> PlacementResult:
    """Optimize the placement of ``case`` with the case's optimizer (or ``algorithm``).

    ``progress_callback(generation, best_npv_usd, mean_npv_usd)`` is called after every generation;
    ``stop_event`` (e.g. ``threading.Event``) stops the run cleanly at the next generation, returning
    the best plan so far with ``stopped=True``.  ``problem`` (e.g. ``build_problem(case,
    backend="opm")``) replaces the default built-in problem."""
    problem = problem or build_problem(case)
    optimizer = make_optimizer(case, algorithm)
    n = case.reservoir.n_columns
    seeds = [plan_to_mask(p, n) for p in case.optimizer.initial_plans]
    opt: OptimizationResult = optimizer.run(problem, seed, initial_population=np.array(seeds) if seeds else None,
                                            progress_callback=progress_callback, stop_event=stop_event)
    return summarize_plan(case, problem, opt.best_mask, algorithm=algorithm or case.optimizer.algorithm,
                          seed=seed, opt=opt)


def summarize_plan(case: PlacementCase, problem: PlacementProblem, mask: np.ndarray, *, algorithm: str = "given",
                   seed: int = 0, opt: OptimizationResult | None = None) -> PlacementResult:
    """Full profile and economics of one plan."""
    mask = np.asarray(mask, dtype=bool)
    sim, econ = problem.details(mask[None], store_well_rates=True)
    well_rates = (sim.well_rates_stb_d[0][:, list(np.flatnonzero(mask))] if sim.well_rates_stb_d is not None
                  else np.full((sim.time_days.size, int(mask.sum())), np.nan))
    cols = tuple(int(c) for c in np.flatnonzero(mask))
    nx = case.reservoir.nx
    capital = float(econ.capital_usd[0])
    try:
        irr = plan_irr(econ.cash_flow_usd[0], sim.time_days, capital) if capital > 0 else float("nan")
    except ValueError:
        irr = float("nan")
    economics = {
        "npv_usd": float(econ.npv_usd[0]), "capital_usd": capital, "pvi_usd": capital,
        "revenue_usd": float(econ.revenue_usd[0]), "royalty_usd": float(econ.royalty_usd[0]),
        "opex_usd": float(econ.opex_usd[0]), "tax_usd": float(econ.tax_usd[0]),
        "discounted_cash_flow_usd": float(econ.discounted_cash_usd[0]),
        "utility_index": float(econ.utility_index[0]), "irr_per_year": irr,
        "cumulative_oil_stb": float(sim.cumulative_oil_stb[0, -1]),
    }
    hist_b = opt.history_best_usd if opt is not None else np.array([economics["npv_usd"]])
    hist_m = opt.history_mean_usd if opt is not None else np.array([economics["npv_usd"]])
    return PlacementResult(
        case_name=case.name, algorithm=algorithm, seed=int(seed), well_columns=cols,
        well_cells=tuple((c // nx, c % nx) for c in cols), well_count=len(cols), npv_usd=float(econ.npv_usd[0]),
        economics=economics, history_best_npv_usd=np.asarray(hist_b), history_mean_npv_usd=np.asarray(hist_m),
        time_days=sim.time_days, oil_rate_stb_d=sim.oil_rate_stb_d[0], cumulative_oil_stb=sim.cumulative_oil_stb[0],
        average_pressure_psi=sim.average_pressure_psi[0], well_rates_stb_d=well_rates,
        cash_flow_usd=econ.cash_flow_usd[0], n_simulated=problem.n_simulated,
        stopped=bool(opt.stopped) if opt is not None else False)
