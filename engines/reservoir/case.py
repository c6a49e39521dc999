"""A placement case: reservoir, fluid, wells, schedule, economics, constraints and optimizer settings.

Cases are plain JSON documents (see ``cases/README.md`` for the schema, with units); the shipped ones
live in ``engines/reservoir/cases/``.  ``case_from_dict`` validates a parsed document and raises
``ValueError`` naming the offending field.
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
        if self.pop_size < 2 or self.n_generations < 0:
            raise ValueError("optimizer.pop_size must be >= 2 and n_generations >= 0")


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
        nx, ny, nz = (int(_get(grid, k, "grid")) for k in ("nx", "ny", "nz"))
        perm = _get(rock, "permeability_md", "rock")
        if isinstance(perm, dict):
            kx = np.asarray(_get(perm, "kx", "rock.permeability_md"), dtype=float)
            ky = np.asarray(perm.get("ky", kx), dtype=float)
            kz = np.asarray(perm.get("kz", kx), dtype=float)
        else:
            kx = ky = kz = np.asarray(perm, dtype=float)
        pvt_d = _get(fluid, "pvt", "fluid")
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
        design = WellDesign(bhp_psi=float(_get(wells, "bhp_psi", "wells")), rw_ft=float(_get(wells, "rw_ft", "wells")),
                            skin=float(wells.get("skin", 0.0)),
                            perforated_thickness_ft=wells.get("perforated_thickness_ft"),
                            radius_model=wells.get("radius_model", "peaceman"),
                            completed_layers=None if layers is None else tuple(int(x) for x in layers))
        dt = sched.get("dt_days")
        if np.ndim(dt) == 0:
            dt = np.full(int(_get(sched, "n_steps", "schedule")), float(_get(sched, "dt_days", "schedule")))
        dt = np.asarray(dt, dtype=float)
        if dt.ndim != 1 or dt.size == 0 or np.any(dt <= 0):
            raise ValueError("schedule.dt_days: must be positive")
        econ = EconomicParameters(**doc.get("economics", {}))
        cons_d = doc.get("constraints", {})
        cons = PlacementConstraints(max_wells=cons_d.get("max_wells"), min_spacing_ft=float(cons_d.get("min_spacing_ft", 0.0)),
                                    forbidden_columns=tuple(int(c) for c in cons_d.get("forbidden_columns", ())))
        opt_d = dict(doc.get("optimizer", {}))
        opt_d["initial_plans"] = tuple(tuple(int(c) for c in plan) for plan in opt_d.get("initial_plans", ()))
        opt = OptimizerSettings(**opt_d)
        for plan in opt.initial_plans:
            if any(c < 0 or c >= nx * ny for c in plan):
                raise ValueError(f"optimizer.initial_plans: column out of range 0..{nx * ny - 1}")
    except TypeError as exc:
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
