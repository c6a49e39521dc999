"""Sucker-rod pump optimizer: strokes per minute that keep fillage high within rod-load limits.

The problem (:class:`SrpSystem`) is separate from the algorithm (:func:`optimize_spm`). Inflow is a
tabulated relation between pump-intake pressure and the rate the reservoir delivers (built from the
nodal IPR by the adapter). For each SPM on a grid up to the rod-fall limit:

* plunger stroke S_p = S - 12 Fo sum(L_i / (E A)_i) (static rod stretch, inches; Takacs 2015, ch. 4)
  and pump capacity = E_v * 0.1166 D^2 S_p N (bbl/d, E_v volumetric efficiency for slip and shrinkage);
* if the capacity is below what the reservoir delivers at the pump-off intake pressure, the pump keeps
  up (fillage 1) and the intake pressure settles where inflow equals capacity; otherwise the well pumps
  off, the rate is the inflow at pump-off and fillage = inflow / capacity (fluid pound below ~85 %);
* fluid load Fo = (p_discharge - p_intake) * A_plunger, p_discharge the pressure the tubing requires at
  the operating rate when a discharge curve on the inflow grid is given (a constant otherwise).

Inverted, the same relations give the pump's pressure gain at a rate and speed
(:func:`pump_pressure_gain_psi`): the pressure difference whose rod stretch shortens the plunger stroke to
just that rate, the boost the nodal operating point at a setpoint adds at the pump.

The recommended SPM maximizes rate subject to fillage >= ``min_fillage``, N <= rod-fall limit and the
modified Goodman loading <= ``max_rod_loading_pct`` from the wave-equation predicted card; among speeds
within 0.5 % of the best rate the slowest is taken (less energy, fewer cycles).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.lift.rod_loading import rod_fall_limit_spm, rod_string_loading
from engines.lift.rod_string import RodString
from engines.lift.srp_card import pump_displacement_bpd
from engines.lift.srp_predictive import PumpCondition, predict_cards
from engines.lift.srp_wave import Card, downhole_card_fourier
from engines.lift.inflow_grid import sorted_inflow_grid

HHP_PER_BPD_PSI = 1.0 / 58_771.0  # hydraulic horsepower of 1 bbl/d through 1 psi


@dataclass(frozen=True)
class SrpSystem:
    """A rod-pumped well (oilfield units). Inflow arrays: rate (bbl/d) delivered at each intake pressure (psi).

    ``discharge_pressure_psi``: the pump-discharge pressure (psi), a constant or an array on the inflow grid
    (the pressure the tubing requires at each grid rate, aligned with ``inflow_grid_bpd``).
    """

    rods: RodString
    plunger_diameter_in: float
    stroke_in: float
    discharge_pressure_psi: float | np.ndarray
    intake_pressure_grid_psi: np.ndarray
    inflow_grid_bpd: np.ndarray
    min_intake_pressure_psi: float = 50.0
    fluid_sg: float = 1.0
    damping_factor: float = 0.05
    spm_min: float = 4.0
    spm_max: float = 14.0
    volumetric_efficiency: float = 0.85
    rod_fall_fraction: float = 0.5
    min_fillage: float = 0.85
    max_rod_loading_pct: float = 100.0
    service_factor: float = 1.0
    surface_efficiency: float = 0.75

    def __post_init__(self) -> None:
        if np.ndim(self.discharge_pressure_psi):
            p, q, dis = sorted_inflow_grid(self.intake_pressure_grid_psi, self.inflow_grid_bpd, self.discharge_pressure_psi)
        else:
            (p, q), dis = sorted_inflow_grid(self.intake_pressure_grid_psi, self.inflow_grid_bpd), float(self.discharge_pressure_psi)
        object.__setattr__(self, "intake_pressure_grid_psi", p)
        object.__setattr__(self, "inflow_grid_bpd", q)
        object.__setattr__(self, "discharge_pressure_psi", dis)
        if not (4.0 <= self.spm_min < self.spm_max <= 14.0):
            raise ValueError(f"SPM window must satisfy 4 <= spm_min < spm_max <= 14, got {self.spm_min}..{self.spm_max}")
        for name in ("volumetric_efficiency", "min_fillage", "surface_efficiency"):
            if not (0 < getattr(self, name) <= 1):
                raise ValueError(f"{name} must be in (0, 1]")
        if not (self.plunger_diameter_in > 0 and self.stroke_in > 0 and np.all(self.discharge_pressure_psi > 0)):
            raise ValueError("plunger_diameter_in, stroke_in and discharge_pressure_psi must be positive")

    @property
    def plunger_area_in2(self) -> float:
        return float(np.pi * self.plunger_diameter_in**2 / 4.0)

    def inflow_bpd(self, intake_psi) -> np.ndarray:
        return np.interp(intake_psi, self.intake_pressure_grid_psi, self.inflow_grid_bpd)

    def intake_psi_for_rate(self, q_bpd) -> np.ndarray:
        """Invert the (decreasing) inflow relation: intake pressure at which the reservoir gives ``q_bpd``."""
        q = self.inflow_grid_bpd[::-1]
        p = self.intake_pressure_grid_psi[::-1]
        return np.interp(q_bpd, q, p)

    def discharge_psi(self, intake_psi) -> np.ndarray:
        """Discharge pressure (psi) at the steady state whose intake pressure is ``intake_psi`` (the rate is the
        inflow at that intake, so a discharge curve on the grid is read at the same grid position)."""
        if np.ndim(self.discharge_pressure_psi):
            return np.interp(intake_psi, self.intake_pressure_grid_psi, self.discharge_pressure_psi)
        return np.full(np.shape(intake_psi), self.discharge_pressure_psi)

    @property
    def stretch_in_per_lbf(self) -> float:
        """Static rod stretch per pound of fluid load, 12 sum(L_i / (E A)_i) (in/lbf)."""
        return 12.0 * sum(t.length_ft / t.ea_lbf for t in self.rods.tapers)

    @property
    def capacity_bpd_per_spm_in(self) -> float:
        """Pump capacity (bbl/d) per stroke per minute and inch of plunger stroke, E_v 0.1166 D^2."""
        return float(self.volumetric_efficiency * pump_displacement_bpd(self.plunger_diameter_in, 1.0, 1.0))


@dataclass(frozen=True)
class SpmScan:
    """Steady state over the SPM grid: rate, fillage, intake pressure, fluid load, plunger stroke."""

    spm: np.ndarray
    q_bpd: np.ndarray
    fillage_frac: np.ndarray
    intake_pressure_psi: np.ndarray
    fluid_load_lbf: np.ndarray
    plunger_stroke_in: np.ndarray


@dataclass(frozen=True)
class SrpRecommendation:
    """Recommended SPM with its expected state and the reason it is not higher."""

    spm: float
    q_bpd: float
    fillage_frac: float
    intake_pressure_psi: float
    fluid_load_lbf: float
    peak_polished_rod_load_lbf: float
    min_polished_rod_load_lbf: float
    max_rod_loading_pct: float
    polished_rod_hp: float
    motor_kw: float
    kwh_per_bbl: float
    efficiency_pct: float
    binding_constraint: str
    rod_fall_limit_spm: float
    scan: SpmScan
    surface_card: Card
    pump_card: Card


def scan_spm(system: SrpSystem, spm) -> SpmScan:
    """Steady-state rate, fillage and loads at each SPM (vectorized; no wave equation)."""
    n = np.atleast_1d(np.asarray(spm, dtype=float))
    stretch_in_per_lbf = system.stretch_in_per_lbf
    q_max = float(system.inflow_bpd(system.min_intake_pressure_psi))
    # fixed point on intake pressure: Fo depends on it, the stroke on Fo, the rate on the stroke
    p_in = np.full(n.shape, system.min_intake_pressure_psi)
    for _ in range(30):
        fo = np.maximum(system.discharge_psi(p_in) - p_in, 0.0) * system.plunger_area_in2
        sp = np.maximum(system.stroke_in - stretch_in_per_lbf * fo, 0.0)
        capacity = system.capacity_bpd_per_spm_in * sp * n
        q = np.minimum(capacity, q_max)
        p_new = np.where(capacity < q_max, system.intake_psi_for_rate(q), system.min_intake_pressure_psi)
        if np.max(np.abs(p_new - p_in)) < 1e-3:
            p_in = p_new
            break
        p_in = 0.5 * (p_in + p_new)
    fo = np.maximum(system.discharge_psi(p_in) - p_in, 0.0) * system.plunger_area_in2
    sp = np.maximum(system.stroke_in - stretch_in_per_lbf * fo, 0.0)
    capacity = system.capacity_bpd_per_spm_in * sp * n
    q = np.minimum(capacity, q_max)
    fillage = np.where(capacity > 0, np.minimum(1.0, q / np.maximum(capacity, 1e-12)), 0.0)
    return SpmScan(n, q, fillage, p_in, fo, sp)


def pump_pressure_gain_psi(system: SrpSystem, q_bpd, spm: float) -> np.ndarray:
    """Pressure (psi) the pump adds at liquid rate(s) ``q_bpd`` (bbl/d) and ``spm`` strokes per minute.

    Inverse of the capacity relation of :func:`scan_spm` with full fillage: q = E_v 0.1166 D^2 N
    (S - stretch A_p dP), so dP = (S - q / (E_v 0.1166 D^2 N)) / (stretch A_p), the fluid load whose rod
    stretch shortens the plunger stroke to that rate. Above the full-stroke capacity (dP < 0) both valves
    stand open and the pump adds nothing (0).
    """
    if not spm > 0:
        raise ValueError(f"spm must be positive, got {spm}")
    q = np.asarray(q_bpd, dtype=float)
    stroke_needed_in = q / (system.capacity_bpd_per_spm_in * float(spm))
    return np.maximum((system.stroke_in - stroke_needed_in) / (system.stretch_in_per_lbf * system.plunger_area_in2), 0.0)


def _cards(system: SrpSystem, spm: float, fo: float, fillage: float):
    kind = "normal" if fillage >= 0.995 else "fluid_pound"
    cond = PumpCondition(kind=kind, fluid_load_lbf=max(fo, 1.0), fillage=max(min(fillage, 1.0), 0.05))
    pred = predict_cards(system.rods, spm, system.stroke_in, cond, system.damping_factor, system.fluid_sg,
                         n_points=120, segments=10, max_cycles=15)
    tops = downhole_card_fourier(pred.surface, system.rods, system.damping_factor, system.fluid_sg).taper_top_load_lbf
    loading = max(t.loading_pct for t in rod_string_loading(system.rods, tops, system.service_factor))
    return pred, loading


def optimize_spm(system: SrpSystem, step_spm: float = 0.25) -> SrpRecommendation:
    """Recommend the SPM (see module docstring); always inside [spm_min, min(spm_max, rod-fall limit)]."""
    if not step_spm > 0:
        raise ValueError("step_spm must be positive")
    fall = rod_fall_limit_spm(system.stroke_in, system.rod_fall_fraction)
    top = min(system.spm_max, fall)
    lo = system.spm_min
    if top <= lo:  # rod-fall limit below the window: run at the window's floor
        grid = np.array([lo])
    else:
        grid = np.unique(np.append(np.arange(lo, top, step_spm), top))
    scan = scan_spm(system, grid)
    ok = scan.fillage_frac >= system.min_fillage - 1e-9
    if np.any(ok):
        best = float(np.max(scan.q_bpd[ok]))
        k = int(np.flatnonzero(ok & (scan.q_bpd >= 0.995 * best))[0])
    else:
        k = 0
    # why not faster: the first constraint met above the chosen speed
    if not np.any(ok):
        binding = "pump_off_fillage"
    elif k == grid.size - 1:
        binding = "rod_fall" if fall <= system.spm_max + 1e-9 else "spm_max"
    elif not ok[k + 1]:
        binding = "pump_off_fillage"
    else:
        binding = "inflow"
    pred, loading = _cards(system, float(grid[k]), float(scan.fluid_load_lbf[k]), float(scan.fillage_frac[k]))
    if loading > system.max_rod_loading_pct and k > 0:
        binding = "rod_load"  # bisection for the fastest speed whose Goodman loading is acceptable
        lo_k, hi_k, best_ok = 0, k, None
        while lo_k < hi_k:
            mid = (lo_k + hi_k) // 2
            trial = _cards(system, float(grid[mid]), float(scan.fluid_load_lbf[mid]), float(scan.fillage_frac[mid]))
            if trial[1] <= system.max_rod_loading_pct:
                best_ok, lo_k = (mid, trial), mid + 1
            else:
                hi_k = mid
        if best_ok is None:
            k = 0
            pred, loading = _cards(system, float(grid[0]), float(scan.fluid_load_lbf[0]), float(scan.fillage_frac[0]))
        else:
            k, (pred, loading) = best_ok
    spm, q = float(grid[k]), float(scan.q_bpd[k])
    prhp = max(pred.surface.work_ftlbf(), 0.0) * spm / 33_000.0
    motor_kw = prhp * 0.745_699_872 / system.surface_efficiency
    p_in_k = float(scan.intake_pressure_psi[k])
    lift_hp = q * max(float(system.discharge_psi(p_in_k)) - p_in_k, 0.0) * HHP_PER_BPD_PSI
    return SrpRecommendation(
        spm=spm, q_bpd=q, fillage_frac=float(scan.fillage_frac[k]), intake_pressure_psi=float(scan.intake_pressure_psi[k]),
        fluid_load_lbf=float(scan.fluid_load_lbf[k]), peak_polished_rod_load_lbf=float(pred.surface.load_lbf.max()),
        min_polished_rod_load_lbf=float(pred.surface.load_lbf.min()), max_rod_loading_pct=float(loading),
        polished_rod_hp=prhp, motor_kw=motor_kw, kwh_per_bbl=motor_kw * 24.0 / q if q > 0 else float("inf"),
        efficiency_pct=100.0 * lift_hp * 0.745_699_872 / motor_kw if motor_kw > 0 else 0.0,
        binding_constraint=binding, rod_fall_limit_spm=fall, scan=scan, surface_card=pred.surface, pump_card=pred.pump)
