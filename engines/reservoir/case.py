"""A placement case: reservoir, fluid, wells, schedule, economics, constraints and optimizer settings.

Cases are plain JSON documents (see ``cases/README.md`` for the schema, with units); the shipped ones
live in ``engines/reservoir/cases/``.  ``case_from_dict`` validates a parsed document and raises
``ValueError`` naming the offending field.  Every size a case sets has an upper bound (the ``MAX_*``
constants below, listed in :data:`CASE_LIMITS` and in ``cases/README.md``); a case beyond one is refused
with :class:`CaseLimitError` naming the field, its value and the limit, before any array is allocated.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.reservoir.economics import EconomicParameters
from engines.reservoir.problem import PlacementConstraints
from engines.reservoir.pvt import PvtTable
from engines.reservoir.reservoir import Reservoir
from engines.reservoir.wells import WellDesign

CASES_DIR = Path(__file__).with_name("cases")
OPTIMIZERS = ("elitist", "simple")

#: Most columns (``nx * ny``, candidate well locations): the problem keeps an n x n spacing matrix (50 MB).
MAX_COLUMNS = 2_500
#: Most layers (``nz``).
MAX_LAYERS = 50
#: Most grid cells (``nx * ny * nz``).
MAX_CELLS = 20_000
#: Most report steps (``schedule.n_steps`` or the length of ``schedule.dt_days``): 100 years monthly.
MAX_STEPS = 1_200
#: Most rows of the PVT table.
MAX_PVT_POINTS = 200
#: Most plans per GA generation (``optimizer.pop_size``).
MAX_POP_SIZE = 1_000
#: Most GA generations (``optimizer.n_generations``).
MAX_GENERATIONS = 10_000
#: Most engineer-seeded plans (``optimizer.initial_plans``).
MAX_INITIAL_PLANS = MAX_POP_SIZE
#: Most simulated cell-steps in one batch of plans, ``max(pop_size, nx * ny) * cells * steps`` (a generation,
#: or one local-search iteration with one candidate per column): a run stops only between batches, so this
#: bounds how far a stop request or a run budget can be overshot (seconds to minutes).
MAX_BATCH_CELL_STEPS = 100_000_000

#: Every limit by the case field it bounds (documented in ``cases/README.md``).
CASE_LIMITS: dict[str, int] = {
    "grid.nx * grid.ny": MAX_COLUMNS,
    "grid.nz": MAX_LAYERS,
    "grid.nx * grid.ny * grid.nz": MAX_CELLS,
    "schedule.n_steps": MAX_STEPS,
    "fluid.pvt rows": MAX_PVT_POINTS,
    "optimizer.pop_size": MAX_POP_SIZE,
    "optimizer.n_generations": MAX_GENERATIONS,
    "optimizer.initial_plans": MAX_INITIAL_PLANS,
    "constraints.max_wells": MAX_COLUMNS,
    "max(optimizer.pop_size, nx * ny) * cells * steps": MAX_BATCH_CELL_STEPS,
}


class CaseLimitError(ValueError):
    """A size in a case exceeds its documented limit (``field``, ``value``, ``limit``)."""

    def __init__(self, field_name: str, value: int, limit: int) -> None:
        super().__init__(f"{field_name} = {value} exceeds the limit of {limit}")
        self.field = field_name
        self.value = value
        self.limit = limit


def _count(value: Any, where: str, low: int, limit: int | None = None) -> int:
    """``value`` as an integer count in ``low..limit``: ``ValueError`` naming ``where`` when it is not an
    integer or below ``low``, :class:`CaseLimitError` when it exceeds ``limit``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    if not np.isfinite(value) or value != int(value):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    n = int(value)
    if n < low:
        raise ValueError(f"{where} must be >= {low}, got {n}")
    if limit is not None and n > limit:
        raise CaseLimitError(where, n, limit)
    return n


def _length(items: Any, where: str, limit: int) -> int:
    """Length of a JSON list (or 1 for a scalar); :class:`CaseLimitError` above ``limit``."""
    n = len(items) if isinstance(items, (list, tuple)) else 1
    if n > limit:
        raise CaseLimitError(f"{where} (entries)", n, limit)
    return n


@dataclass(frozen=True)
class OptimizerSettings:
    """``algorithm``: ``"elitist"`` (default GA) or ``"simple"`` (reference study's GA);
    ``initial_plans``: engineer-seeded plans, each a tuple of column indices."""

    algorithm: str = "elitist"
    pop_size: int = 50
    n_generations: int = 100
    p_crossover: float = 0.9
    p_mutation: float | None = None
    initial_plans: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.algorithm not in OPTIMIZERS:
            raise ValueError(f"optimizer.algorithm must be one of {OPTIMIZERS}")
        object.__setattr__(self, "pop_size", _count(self.pop_size, "optimizer.pop_size", 2, MAX_POP_SIZE))
        object.__setattr__(self, "n_generations",
                           _count(self.n_generations, "optimizer.n_generations", 0, MAX_GENERATIONS))
        _length(self.initial_plans, "optimizer.initial_plans", MAX_INITIAL_PLANS)


@dataclass(frozen=True, eq=False)
class PlacementCase:
    name: str
    reservoir: Reservoir
    wells: WellDesign
    dt_days: np.ndarray
    economics: EconomicParameters
    constraints: PlacementConstraints
    optimizer: OptimizerSettings
    description: str = ""
    metadata: dict = field(default_factory=dict)


def _get(d: dict, key: str, where: str, default: Any = ...) -> Any:
    if key in d:
        return d[key]
    if default is ...:
        raise ValueError(f"{where}.{key}: missing")
    return default


def _section(d: dict, key: str) -> dict:
    v = d.get(key)
    if not isinstance(v, dict):
        raise ValueError(f"{key}: missing or not an object")
    return v


def _optional_section(d: dict, key: str) -> dict:
    """An optional section: ``{}`` when absent, ``ValueError`` when it is not an object."""
    return _section(d, key) if key in d else {}


def case_from_dict(doc: dict) -> PlacementCase:
    """Build a validated :class:`PlacementCase` from a parsed JSON document."""
    if not isinstance(doc, dict):
        raise ValueError("case: expected a JSON object")
    try:
        grid = _section(doc, "grid")
        rock = _section(doc, "rock")
        fluid = _section(doc, "fluid")
        init = _section(doc, "initial")
        wells = _section(doc, "wells")
        sched = _section(doc, "schedule")
        nx, ny, nz = (_count(_get(grid, k, "grid"), f"grid.{k}", 1) for k in ("nx", "ny", "nz"))
        if nx * ny > MAX_COLUMNS:
            raise CaseLimitError("grid.nx * grid.ny (columns)", nx * ny, MAX_COLUMNS)
        if nz > MAX_LAYERS:
            raise CaseLimitError("grid.nz (layers)", nz, MAX_LAYERS)
        n_cells = nx * ny * nz
        if n_cells > MAX_CELLS:
            raise CaseLimitError("grid.nx * grid.ny * grid.nz (cells)", n_cells, MAX_CELLS)
        dt = sched.get("dt_days")
        if isinstance(dt, (list, tuple)):
            n_steps = _length(dt, "schedule.dt_days", MAX_STEPS)
        else:
            n_steps = _count(_get(sched, "n_steps", "schedule"), "schedule.n_steps", 1, MAX_STEPS)
        opt_d = dict(_optional_section(doc, "optimizer"))
        pop_size = _count(opt_d.get("pop_size", OptimizerSettings.pop_size), "optimizer.pop_size", 2, MAX_POP_SIZE)
        work = max(pop_size, nx * ny) * n_cells * n_steps
        if work > MAX_BATCH_CELL_STEPS:
            raise CaseLimitError("max(optimizer.pop_size, grid columns) * grid cells * schedule steps "
                                 "(cell-steps simulated per batch)", work, MAX_BATCH_CELL_STEPS)
        perm = _get(rock, "permeability_md", "rock")
        if isinstance(perm, dict):
            kx = np.asarray(_get(perm, "kx", "rock.permeability_md"), dtype=float)
            ky = np.asarray(perm.get("ky", kx), dtype=float)
            kz = np.asarray(perm.get("kz", kx), dtype=float)
        else:
            kx = ky = kz = np.asarray(perm, dtype=float)
        pvt_d = _get(fluid, "pvt", "fluid")
        for k in ("pressure_psi", "bo_rb_stb", "viscosity_cp"):
            _length(_get(pvt_d, k, "fluid.pvt"), f"fluid.pvt.{k}", MAX_PVT_POINTS)
        pvt = PvtTable(np.asarray(_get(pvt_d, "pressure_psi", "fluid.pvt"), dtype=float),
                       np.asarray(_get(pvt_d, "bo_rb_stb", "fluid.pvt"), dtype=float),
                       np.asarray(_get(pvt_d, "viscosity_cp", "fluid.pvt"), dtype=float))
        reservoir = Reservoir(
            nx=nx, ny=ny, nz=nz, dx_ft=float(_get(grid, "dx_ft", "grid")), dy_ft=float(_get(grid, "dy_ft", "grid")),
            dz_ft=np.asarray(_get(grid, "dz_ft", "grid"), dtype=float), kx_md=kx, ky_md=ky, kz_md=kz,
            porosity=np.asarray(_get(rock, "porosity", "rock"), dtype=float), pvt=pvt,
            initial_pressure_psi=float(_get(init, "pressure_psi", "initial")),
            rock_compressibility_1_psi=float(rock.get("compressibility_1_psi", 0.0)),
            reference_pressure_psi=rock.get("reference_pressure_psi"),
            top_depth_ft=float(grid.get("top_depth_ft", 0.0)), datum_depth_ft=init.get("datum_depth_ft"),
            oil_density_lbm_ft3=float(fluid.get("density_lbm_ft3", 0.0)), rock_law=rock.get("law", "thesis"))
        layers = wells.get("completed_layers")
        if layers is not None:
            _length(layers, "wells.completed_layers", nz)
        design = WellDesign(bhp_psi=float(_get(wells, "bhp_psi", "wells")), rw_ft=float(_get(wells, "rw_ft", "wells")),
                            skin=float(wells.get("skin", 0.0)),
                            perforated_thickness_ft=wells.get("perforated_thickness_ft"),
                            radius_model=wells.get("radius_model", "peaceman"),
                            completed_layers=None if layers is None else tuple(int(x) for x in layers))
        if not isinstance(dt, (list, tuple)):
            dt = np.full(n_steps, float(_get(sched, "dt_days", "schedule")))
        dt = np.asarray(dt, dtype=float)
        if dt.ndim != 1 or dt.size == 0 or np.any(dt <= 0):
            raise ValueError("schedule.dt_days: must be positive")
        econ = EconomicParameters(**_optional_section(doc, "economics"))
        cons_d = _optional_section(doc, "constraints")
        max_wells = cons_d.get("max_wells")
        if max_wells is not None:
            max_wells = _count(max_wells, "constraints.max_wells", 1, MAX_COLUMNS)
        _length(cons_d.get("forbidden_columns", ()), "constraints.forbidden_columns", nx * ny)
        cons = PlacementConstraints(max_wells=max_wells, min_spacing_ft=float(cons_d.get("min_spacing_ft", 0.0)),
                                    forbidden_columns=tuple(int(c) for c in cons_d.get("forbidden_columns", ())))
        plans = opt_d.get("initial_plans", ())
        _length(plans, "optimizer.initial_plans", MAX_INITIAL_PLANS)
        for i, plan in enumerate(plans):
            _length(plan, f"optimizer.initial_plans[{i}]", nx * ny)
        opt_d["initial_plans"] = tuple(tuple(int(c) for c in plan) for plan in plans)
        opt = OptimizerSettings(**opt_d)
        for plan in opt.initial_plans:
            if any(c < 0 or c >= nx * ny for c in plan):
                raise ValueError(f"optimizer.initial_plans: column out of range 0..{nx * ny - 1}")
    except (TypeError, AttributeError, OverflowError) as exc:  # a value of the wrong JSON type somewhere
        raise ValueError(f"case: {exc}") from exc
    return PlacementCase(name=str(doc.get("name", "case")), reservoir=reservoir, wells=design, dt_days=dt,
                         economics=econ, constraints=cons, optimizer=opt, description=str(doc.get("description", "")),
                         metadata={k: v for k, v in doc.items() if k in ("source", "thesis_reported", "generator")})


def load_case(path_or_name: str | Path) -> PlacementCase:
    """Load a case from a JSON file, or a shipped case by name (e.g. ``"thesis_5x5"``)."""
    path = Path(path_or_name)
    if not path.is_file():
        shipped = CASES_DIR / f"{path_or_name}.json"
        if not shipped.is_file():
            raise ValueError(f"case not found: {path_or_name} (shipped: {', '.join(shipped_cases())})")
        path = shipped
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    return case_from_dict(doc)


def shipped_cases() -> list[str]:
    return sorted(p.stem for p in CASES_DIR.glob("*.json"))


def plan_to_mask(columns, n_columns: int) -> np.ndarray:
    m = np.zeros(n_columns, dtype=bool)
    m[np.asarray(list(columns), dtype=int)] = True
    return m
