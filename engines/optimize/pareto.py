"""Three-objective setpoint optimization of one lifted well: Pareto fronts by NSGA-II / NSGA-III (pymoo) or
by enumeration of the decision grid, with the knee point, the choice under preference weights and the
hypervolume.

Objectives (natural units; the solvers minimize ``-oil``, ``energy`` and ``-life``):

=========  ===================  =====================================  ===========================================
objective  sense                unit                                   source
=========  ===================  =====================================  ===========================================
oil        maximize             bbl/d (stock-tank oil = liquid (1-WC))  the lift engine's operating point
energy     minimize             kWh/bbl of liquid (ESP, SRP, PCP);     the lift engine's power / rate; gas lift:
                                kWh/bbl of oil or USD/bbl of oil (GL)  isothermal compression or the gas cost
life       maximize             days (ESP, SRP, PCP); dimensionless    equipment-life models below
                                stability margin (gas lift)
=========  ===================  =====================================  ===========================================

Problems (the problem apart from the algorithm, pymoo style; each ``evaluate`` takes a whole population of
physical setpoints, shape ``(n, n_var)``, and is vectorized over it through the lift engines):

* :class:`EspPareto`: drive frequency (Hz, continuous, or stepped by ``frequency_step_hz``), evaluated by
  :func:`engines.lift.esp.scan_frequencies`. Constraints: the engine's six (motor load, minimum intake
  pressure, intake gas fraction, down- and upthrust window, motor cooling velocity) as signed margins, and flow.
  Run life, series system of two failure modes whose rates add (constant hazards):

  - motor insulation: winding temperature T_w = T_fluid + dT_rated L^2 (v_ref / v)^0.8, L the motor load
    (copper loss ~ I^2 ~ load^2) and v the fluid velocity past the motor (film coefficient ~ v^0.8,
    Dittus-Boelter); thermal life 20,000 h at the insulation's thermal-class temperature (IEC 60085 defines
    the class by that endurance) doubling per 10 degC below it (the Montsinger / 10-degree rule of
    IEEE Std 1 and IEEE Std 117 thermal-endurance practice);
  - thrust and stage wear: ``thrust_life_at_bep_days`` at the best-efficiency rate, falling quadratically with the
    distance from BEP normalized by the distance to the edge of the catalogue's operating window (down- or
    upthrust side), to ``thrust_edge_life_fraction`` of it at the edge (calibration defaults, not fitted).

* :class:`SrpPareto`: strokes per minute (continuous for a variable-speed drive, or stepped) and the stroke
  length as an integer index into the pumping unit's crank-hole lengths (``stroke_lengths_in``): mixed
  variables, the integer one kept integer by rounding repair in every generation. Steady state by
  :func:`engines.lift.srp.scan_spm` per stroke length. Rod loads by the Mills formulas (Takacs,
  *Sucker-Rod Pumping Handbook*, 2015, ch. 4: PPRL = W_rf + F_o + W_r d, MPRL = W_rf - W_r d, d = S N^2 / 70,471)
  at the top of every taper, loading by the modified Goodman diagram
  (:func:`engines.lift.rod_loading.goodman_allowable_stress_psi`, API RP 11BR). Constraints: fillage >=
  ``min_fillage``, N <= rod-fall limit (:func:`engines.lift.rod_loading.rod_fall_limit_spm`), Goodman loading
  <= ``max_rod_loading_pct``, flow. Energy: motor kW = (hydraulic HP q dP / 58,771 + viscous damping HP) 0.7457 /
  surface efficiency; the damping power is Gibbs' c m' integral of (du/dt)^2 for the rods moving with the
  harmonic polished-rod motion (rigid-rod limit of :func:`engines.lift.srp_wave.damping_work_ftlbf`):
  P = c (W_r / g) (S/2)^2 w^2 / 2. Life, series system: rod fatigue N_f = 10^7 (100 / loading)^m cycles
  (10^7 cycles is the endurance basis of the Goodman diagram; m = 1 / 0.085, the Basquin exponent of rod steels,
  Dowling, *Mechanical Behavior of Materials*, 2013, Table 9.1) at N strokes/min, and plunger/barrel wear by Archard's law
  (wear ~ sliding distance 2 S N per minute; ``pump_wear_distance_ft`` calibration default: 2 years at 100 in, 8 spm).
* :class:`PcpPareto`: rotor speed (rpm), evaluated by :func:`engines.lift.pcp.scan_rpm`; energy = motor kW x
  24 / q; life = the engine's expected run life (Arrhenius elastomer life at the operating elastomer temperature,
  :mod:`engines.lift.elastomer`, against mechanical wear, capped); torque enters as the rod-torque constraint.
  Constraints: rod torque, motor power, pump rated lift, minimum intake pressure, minimum run life, flow.
* :class:`GasLiftPareto`: injection rate (Mscf/d) on the well's cached performance curves: oil by the GLPC's
  PCHIP interpolation (:meth:`engines.lift.gas_lift.Glpc.oil_at`, exact at the curve's nodes) and the flowing
  tubing pressure at the valve by PCHIP of the traverses at the same nodes. Energy: isothermal compression
  from the separator to the injection pressure, W = p_sc V ln(p_inj / p_sep) / eta (eta 0.7), per bbl of oil,
  or the gas cost per bbl of oil. Life: the valve stability margin (2/(k+1))^(k/(k-1)) - p_t / p_c
  (:func:`engines.lift.gas_lift.valve_stability`; > 0: critical flow, stable). Constraint: casing minus tubing
  pressure at the valve >= ``min_valve_dp_psi`` (100 psi), flow.

Solvers: :func:`solve_nsga` (NSGA-II by default: population 100, 200 generations, SBX eta 20 prob 0.9,
polynomial mutation eta 20; NSGA-III with Das-Dennis reference directions, 12 partitions = 91 directions for three
objectives) and :func:`solve_grid` (every point of the decision grid, then the non-dominated feasible ones:
exact on the grid). Upper bounds: :data:`MAX_POPULATION`, :data:`MAX_GENERATIONS`, :data:`MAX_GRID_POINTS`.
Both are deterministic given the seed. A run reports progress per generation and stops between generations when
``stop_event.is_set()``.

Outputs (:class:`ParetoResult`): every front point with its setpoint and objectives; the knee (objectives
normalized between the front's ideal and nadir points, the point farthest below the plane through the unit
points, i.e. the smallest normalized sum; Das 1999, "On characterizing the knee of the Pareto curve", Struct.
Optim. 18; Branke et al. 2004); the choice under preference weights (pymoo's pseudo-weights, Deb 2001,
*Multi-Objective Optimization Using Evolutionary Algorithms*, sec. 7.8); the hypervolume of the normalized
front with reference point 1.1 per objective (maximum 1.1^3 = 1.331).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from engines.lift.esp import EspSystem, scan_frequencies
from engines.lift.gas_lift import CRITICAL_PRESSURE_RATIO, Glpc
from engines.lift.pcp import PcpSystem, scan_rpm
from engines.lift.rod_loading import rod_fall_limit_spm
from engines.lift.rod_string import G_FT_S2, TENSILE_STRENGTH_PSI
from engines.lift.srp import HHP_PER_BPD_PSI, SrpSystem, scan_spm

#: Largest population a user may set (the field tier runs one per well every hour).
MAX_POPULATION = 1000
#: Largest number of generations a user may set.
MAX_GENERATIONS = 2000
#: Largest decision grid :func:`solve_grid` enumerates (points).
MAX_GRID_POINTS = 20_000
#: Objective names, in order; the solvers minimize (-oil, energy, -life).
OBJECTIVES: tuple[str, str, str] = ("oil_bpd", "specific_energy", "equipment_life")
#: Hypervolume reference point per normalized objective.
HV_REFERENCE = 1.1
KW_PER_HP = 0.745_699_872
FT_LBF_S_PER_HP = 550.0
#: Stand-in for the specific energy of a setpoint that produces nothing (always infeasible by the flow constraint).
NO_FLOW_ENERGY = 1.0e6
MIN_FLOW_BPD = 1.0


class ParetoError(ValueError):
    """A problem or solver setting out of range, or a problem with no feasible setpoint."""


@dataclass(frozen=True)
class DecisionVariable:
    """One setpoint variable: continuous in [lower, upper], stepped (lower + k step) or one of ``levels``.

    Stepped and level variables are integer coordinates for the solvers (index k), continuous ones are the value."""

    name: str
    unit: str
    lower: float
    upper: float
    step: float | None = None
    levels: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.levels is not None:
            if len(self.levels) < 1 or any(not math.isfinite(v) for v in self.levels):
                raise ParetoError(f"{self.name}: levels must be finite and non-empty")
            object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
            object.__setattr__(self, "lower", min(self.levels))
            object.__setattr__(self, "upper", max(self.levels))
        elif not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower < self.upper):
            raise ParetoError(f"{self.name}: need finite lower < upper, got {self.lower}..{self.upper}")
        if self.step is not None and not self.step > 0:
            raise ParetoError(f"{self.name}: step must be positive")

    @property
    def integer(self) -> bool:
        return self.step is not None or self.levels is not None

    @property
    def n_levels(self) -> int:
        if self.levels is not None:
            return len(self.levels)
        if self.step is not None:
            return int(math.floor((self.upper - self.lower) / self.step + 1e-9)) + 1
        raise ParetoError(f"{self.name} is continuous")

    @property
    def bounds(self) -> tuple[float, float]:
        """Bounds of the solver coordinate."""
        return (0.0, float(self.n_levels - 1)) if self.integer else (self.lower, self.upper)

    def value(self, coordinate) -> np.ndarray:
        """Physical value(s) of solver coordinate(s)."""
        c = np.asarray(coordinate, dtype=float)
        if self.levels is not None:
            return np.asarray(self.levels)[np.clip(np.rint(c), 0, len(self.levels) - 1).astype(int)]
        if self.step is not None:
            return self.lower + np.clip(np.rint(c), 0, self.n_levels - 1) * self.step
        return np.clip(c, self.lower, self.upper)

    def grid(self, n_points: int) -> np.ndarray:
        """Physical values enumerated by :func:`solve_grid` (all levels, or ``n_points`` evenly spaced)."""
        if self.integer:
            return self.value(np.arange(self.n_levels))
        return np.linspace(self.lower, self.upper, n_points)


@dataclass(frozen=True)
class Evaluation:
    """Objectives (natural units), constraint margins ``g`` (<= 0 satisfied) and engine values per setpoint."""

    setpoints: np.ndarray
    oil_bpd: np.ndarray
    specific_energy: np.ndarray
    equipment_life: np.ndarray
    g: np.ndarray
    constraint_names: tuple[str, ...]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    #: constraints relaxed for this problem (no setpoint met them all); ignored by ``feasible`` and ``violations``
    relaxed: tuple[str, ...] = ()

    @property
    def f_min(self) -> np.ndarray:
        """Minimization form (-oil, energy, -life), shape (n, 3)."""
        return np.column_stack([-self.oil_bpd, self.specific_energy, -self.equipment_life])

    @property
    def active(self) -> np.ndarray:
        return np.array([name not in self.relaxed for name in self.constraint_names], dtype=bool)

    @property
    def feasible(self) -> np.ndarray:
        return np.all(self.g[:, self.active] <= 0.0, axis=1)

    def violations(self, i: int) -> list[str]:
        """Names of the (not relaxed) constraints setpoint ``i`` violates (for the safety layer)."""
        return [name for name, gi, on in zip(self.constraint_names, self.g[i], self.active) if on and gi > 0.0]

    def with_relaxed(self, relaxed: Sequence[str]) -> "Evaluation":
        return replace(self, relaxed=tuple(relaxed))


def _as_population(setpoints, n_var: int) -> np.ndarray:
    x = np.asarray(setpoints, dtype=float)
    if x.ndim == 1 and n_var == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != n_var or not np.all(np.isfinite(x)):
        raise ParetoError(f"setpoints must be a finite (n, {n_var}) array")
    return x


def _specific_energy(kw, q_bpd) -> np.ndarray:
    q = np.asarray(q_bpd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(q > 0, np.asarray(kw, dtype=float) * 24.0 / np.where(q > 0, q, 1.0), NO_FLOW_ENERGY)
    return np.minimum(np.nan_to_num(e, nan=NO_FLOW_ENERGY, posinf=NO_FLOW_ENERGY), NO_FLOW_ENERGY)


def series_life_days(*lives_days) -> np.ndarray:
    """Life of a series system of independent constant-hazard failure modes: 1 / sum(1 / L_i)."""
    rate = sum(1.0 / np.maximum(np.asarray(life, dtype=float), 1e-12) for life in lives_days)
    return 1.0 / rate


# ---------------------------------------------------------------- ESP
@dataclass(frozen=True)
class EspLifeModel:
    """ESP run-life model (see module docstring). Temperatures in degF / degC as named, lives in days."""

    fluid_temperature_f: float
    rated_rise_f: float = 80.0
    reference_velocity_ft_s: float = 1.0
    insulation_class_c: float = 155.0
    insulation_life_hours: float = 20_000.0
    thrust_life_at_bep_days: float = 1826.0
    thrust_edge_life_fraction: float = 0.25
    max_run_life_days: float = 3652.5

    def __post_init__(self) -> None:
        if not (0 < self.thrust_edge_life_fraction <= 1 and self.rated_rise_f >= 0 and self.reference_velocity_ft_s > 0
                and self.insulation_life_hours > 0 and self.thrust_life_at_bep_days > 0 and self.max_run_life_days > 0):
            raise ParetoError("ESP life model: fractions in (0, 1], positive lives and velocity, rise >= 0")

    def winding_temperature_f(self, load_frac, velocity_ft_s) -> np.ndarray:
        v = np.maximum(np.asarray(velocity_ft_s, dtype=float), 1e-3)
        return self.fluid_temperature_f + self.rated_rise_f * np.asarray(load_frac, float) ** 2 * (self.reference_velocity_ft_s / v) ** 0.8

    def insulation_life_days(self, winding_temperature_f) -> np.ndarray:
        t_c = (np.asarray(winding_temperature_f, dtype=float) - 32.0) / 1.8
        return self.insulation_life_hours / 24.0 * 2.0 ** ((self.insulation_class_c - t_c) / 10.0)

    def thrust_life_days(self, q_bpd, q_bep, q_low, q_high) -> np.ndarray:
        q = np.asarray(q_bpd, dtype=float)
        edge = np.where(q < q_bep, q_bep - q_low, q_high - q_bep)
        x = np.abs(q - q_bep) / np.maximum(edge, 1e-9)
        return self.thrust_life_at_bep_days / (1.0 + (1.0 / self.thrust_edge_life_fraction - 1.0) * x**2)


@dataclass(frozen=True)
class EspPareto:
    """ESP well: drive frequency -> (oil, kWh/bbl, run life days)."""

    system: EspSystem
    water_cut_frac: float
    life: EspLifeModel
    frequency_step_hz: float | None = None

    lift_type = "esp"
    energy_unit = "kWh/bbl"
    life_unit = "days"

    @property
    def variables(self) -> tuple[DecisionVariable, ...]:
        s = self.system
        return (DecisionVariable("frequency_hz", "Hz", s.frequency_min_hz, s.frequency_max_hz, self.frequency_step_hz),)

    constraint_names = ("motor_load", "min_intake_pressure", "gas_fraction", "downthrust", "upthrust", "motor_cooling", "flow")
    #: relaxed in this order when no setpoint meets them all (as :func:`engines.lift.esp.optimize_frequency`)
    soft_constraints = ("motor_cooling", "gas_fraction", "downthrust", "upthrust")

    def evaluate(self, setpoints) -> Evaluation:
        x = _as_population(setpoints, 1)
        s = self.system
        f = x[:, 0]
        scan = scan_frequencies(s, f)
        q = np.nan_to_num(scan.q_bpd)
        q_lo, q_hi = s.pump.operating_range_at(f)
        gvf = scan.gas_fraction
        g = np.column_stack([
            scan.motor_load_frac - s.max_motor_load,
            s.min_intake_pressure_psi - scan.intake_pressure_psi,
            gvf - s.max_gas_fraction,
            q_lo - q,
            q - q_hi,
            s.min_cooling_velocity_ft_s - scan.cooling_velocity_ft_s,
            MIN_FLOW_BPD - q,
        ])
        t_w = self.life.winding_temperature_f(scan.motor_load_frac, scan.cooling_velocity_ft_s)
        l_ins = self.life.insulation_life_days(t_w)
        l_thr = self.life.thrust_life_days(q, s.pump.bep_at(f), q_lo, q_hi)
        life = np.minimum(series_life_days(l_ins, l_thr), self.life.max_run_life_days)
        return Evaluation(x, q * (1.0 - self.water_cut_frac), _specific_energy(scan.power_kw, q), life, g, self.constraint_names,
                          {"liquid_bpd": q, "intake_pressure_psi": scan.intake_pressure_psi, "motor_load_frac": scan.motor_load_frac,
                           "power_kw": scan.power_kw, "winding_temperature_f": t_w, "insulation_life_days": l_ins,
                           "thrust_life_days": l_thr, "bep_distance_pct": scan.bep_distance_pct})


# ---------------------------------------------------------------- SRP
#: Basquin exponent of rod steel (stress amplitude ~ N^-0.085; Dowling 2013, Table 9.1): N ~ S^(-1/0.085).
ROD_SN_EXPONENT = 1.0 / 0.085
#: Cycles at 100 % modified-Goodman loading (the diagram's endurance basis, API RP 11BR).
ROD_REFERENCE_CYCLES = 1.0e7


@dataclass(frozen=True)
class SrpLifeModel:
    """Rod fatigue and pump wear (see module docstring); lives in days."""

    rod_reference_cycles: float = ROD_REFERENCE_CYCLES
    rod_sn_exponent: float = ROD_SN_EXPONENT
    pump_wear_distance_ft: float = 2.0 * 100.0 / 12.0 * 8.0 * 1440.0 * 730.5
    max_run_life_days: float = 3652.5

    def __post_init__(self) -> None:
        if not (self.rod_reference_cycles > 0 and self.rod_sn_exponent > 0 and self.pump_wear_distance_ft > 0
                and self.max_run_life_days > 0):
            raise ParetoError("SRP life model parameters must be positive")

    def rod_life_days(self, loading_pct, spm) -> np.ndarray:
        cycles = self.rod_reference_cycles * (100.0 / np.maximum(np.asarray(loading_pct, float), 1e-6)) ** self.rod_sn_exponent
        return cycles / (np.asarray(spm, float) * 1440.0)

    def pump_life_days(self, plunger_stroke_in, spm) -> np.ndarray:
        per_day_ft = 2.0 * np.maximum(np.asarray(plunger_stroke_in, float), 1e-6) / 12.0 * np.asarray(spm, float) * 1440.0
        return self.pump_wear_distance_ft / per_day_ft


def mills_rod_loads_lbf(system: SrpSystem, stroke_in, spm, fluid_load_lbf) -> tuple[np.ndarray, np.ndarray]:
    """Peak and minimum load (lbf) at the top of every taper, shape (n_tapers, n), by the Mills formulas:
    top of taper i carries the buoyant rods below it plus F_o, +/- the rods' weight below it times
    d = S N^2 / 70,471 (Takacs 2015, ch. 4)."""
    delta = np.asarray(stroke_in, float) * np.asarray(spm, float) ** 2 / 70_471.2
    rods = system.rods
    buoyant = rods.buoyant_weight_below_lbf(system.fluid_sg)[:, None]
    air = np.cumsum([t.weight_lbf_per_ft * t.length_ft for t in rods.tapers][::-1])[::-1][:, None]
    fo = np.asarray(fluid_load_lbf, float)[None, :]
    return buoyant + fo + air * delta[None, :], buoyant - air * delta[None, :]


def goodman_loading_pct_array(system: SrpSystem, peak_lbf, min_lbf) -> np.ndarray:
    """Largest modified-Goodman loading (%) over the tapers, vectorized: (S_max - S_min) / (S_A - S_min) 100 with
    S_A = (T / 4 + 0.5625 S_min) SF (API RP 11BR; as :func:`engines.lift.rod_loading.goodman_loading_pct`)."""
    out = np.zeros(np.shape(peak_lbf)[1])
    for i, taper in enumerate(system.rods.tapers):
        s_max, s_min = peak_lbf[i] / taper.area_in2, min_lbf[i] / taper.area_in2
        s_a = (TENSILE_STRENGTH_PSI[taper.grade] / 4.0 + 0.5625 * s_min) * system.service_factor
        room = s_a - s_min
        loading = np.where(room > 0, 100.0 * (s_max - s_min) / np.where(room > 0, room, 1.0), np.inf)
        out = np.maximum(out, loading)
    return out


def damping_power_hp(system: SrpSystem, stroke_in, spm) -> np.ndarray:
    """Viscous (Gibbs) damping power of rods moving with the harmonic polished-rod motion, rigid-rod limit:
    c m' L <(du/dt)^2> = c (W_r / g) (S/2)^2 w^2 / 2 (ft lbf/s -> hp)."""
    c = system.rods.damping_coefficient_1_s(system.damping_factor)
    mass_slug = system.rods.weight_in_air_lbf() / G_FT_S2
    amp_ft = np.asarray(stroke_in, float) / 24.0
    omega = 2.0 * np.pi * np.asarray(spm, float) / 60.0
    return c * mass_slug * amp_ft**2 * omega**2 / 2.0 / FT_LBF_S_PER_HP


@dataclass(frozen=True)
class SrpPareto:
    """Rod-pumped well: (SPM, stroke length) -> (oil, kWh/bbl, rod and pump life days)."""

    system: SrpSystem
    water_cut_frac: float
    stroke_lengths_in: tuple[float, ...] = ()
    life: SrpLifeModel = field(default_factory=SrpLifeModel)
    spm_step: float | None = None

    lift_type = "srp"
    energy_unit = "kWh/bbl"
    life_unit = "days"
    constraint_names = ("fillage", "rod_fall", "rod_load", "flow")

    def __post_init__(self) -> None:
        strokes = tuple(float(s) for s in (self.stroke_lengths_in or (self.system.stroke_in,)))
        if any(not s > 0 for s in strokes):
            raise ParetoError("stroke lengths must be positive")
        object.__setattr__(self, "stroke_lengths_in", tuple(sorted(set(strokes))))

    @property
    def variables(self) -> tuple[DecisionVariable, ...]:
        s = self.system
        spm = DecisionVariable("spm", "1/min", s.spm_min, s.spm_max, self.spm_step)
        if len(self.stroke_lengths_in) == 1:
            return (spm,)
        return (spm, DecisionVariable("stroke_in", "in", 0.0, 1.0, levels=self.stroke_lengths_in))

    def evaluate(self, setpoints) -> Evaluation:
        x = _as_population(setpoints, len(self.variables))
        n = x[:, 0]
        stroke = x[:, 1] if x.shape[1] > 1 else np.full(n.shape, self.stroke_lengths_in[0])
        m = n.size
        q, fill, p_in, fo, sp = (np.zeros(m) for _ in range(5))
        for s_in in np.unique(stroke):
            sel = stroke == s_in
            sys_s = self.system if s_in == self.system.stroke_in else replace(self.system, stroke_in=float(s_in))
            scan = scan_spm(sys_s, n[sel])
            q[sel], fill[sel], p_in[sel] = scan.q_bpd, scan.fillage_frac, scan.intake_pressure_psi
            fo[sel], sp[sel] = scan.fluid_load_lbf, scan.plunger_stroke_in
        peak, low = mills_rod_loads_lbf(self.system, stroke, n, fo)
        loading = goodman_loading_pct_array(self.system, peak, low)
        fall = np.array([rod_fall_limit_spm(s, self.system.rod_fall_fraction) for s in stroke])
        hhp = q * np.maximum(self.system.discharge_psi(p_in) - p_in, 0.0) * HHP_PER_BPD_PSI
        dhp = damping_power_hp(self.system, stroke, n)
        kw = (hhp + dhp) * KW_PER_HP / self.system.surface_efficiency
        g = np.column_stack([self.system.min_fillage - fill, n - fall, loading - self.system.max_rod_loading_pct, MIN_FLOW_BPD - q])
        l_rod = self.life.rod_life_days(loading, n)
        l_pump = self.life.pump_life_days(sp, n)
        life = np.minimum(series_life_days(l_rod, l_pump), self.life.max_run_life_days)
        return Evaluation(x, q * (1.0 - self.water_cut_frac), _specific_energy(kw, q), life, g, self.constraint_names,
                          {"liquid_bpd": q, "fillage_frac": fill, "intake_pressure_psi": p_in, "fluid_load_lbf": fo,
                           "peak_polished_rod_load_lbf": peak[0], "min_polished_rod_load_lbf": low[0], "rod_loading_pct": loading,
                           "motor_kw": kw, "rod_life_days": l_rod, "pump_life_days": l_pump})


# ---------------------------------------------------------------- PCP
@dataclass(frozen=True)
class PcpPareto:
    """PCP well: rotor speed -> (oil, kWh/bbl, expected run life days from :func:`engines.lift.pcp.scan_rpm`)."""

    system: PcpSystem
    water_cut_frac: float
    rpm_step: float | None = None

    lift_type = "pcp"
    energy_unit = "kWh/bbl"
    life_unit = "days"
    constraint_names = ("rod_torque", "motor_power", "pump_rated_lift", "min_intake_pressure", "run_life", "flow")

    @property
    def variables(self) -> tuple[DecisionVariable, ...]:
        return (DecisionVariable("rpm", "rpm", self.system.rpm_min, self.system.rpm_max, self.rpm_step),)

    def evaluate(self, setpoints) -> Evaluation:
        x = _as_population(setpoints, 1)
        s = self.system
        scan = scan_rpm(s, x[:, 0])
        kw = scan.hp * KW_PER_HP / s.drive_efficiency
        g = np.column_stack([scan.torque_ftlbf - s.rod_torque_limit_ftlbf, scan.hp - s.motor_hp, scan.dp_psi - s.rated_lift_psi,
                             s.min_intake_pressure_psi - 1e-6 - scan.intake_pressure_psi, s.min_run_life_days - scan.run_life_days,
                             MIN_FLOW_BPD - scan.q_bpd])
        return Evaluation(x, scan.q_bpd * (1.0 - self.water_cut_frac), _specific_energy(kw, scan.q_bpd), scan.run_life_days, g,
                          self.constraint_names,
                          {"liquid_bpd": scan.q_bpd, "intake_pressure_psi": scan.intake_pressure_psi, "torque_ftlbf": scan.torque_ftlbf,
                           "motor_kw": kw, "elastomer_temperature_c": scan.elastomer_temperature_c,
                           "elastomer_life_days": scan.elastomer_life_days})


# ---------------------------------------------------------------- gas lift
#: Isothermal compression efficiency and standard pressure (psia) of the compression-energy objective.
COMPRESSION_EFFICIENCY = 0.7
STANDARD_PSIA = 14.696
FT_LBF_TO_KWH = 1.355_817_948e-3 / 3600.0


def compression_kw(injection_mscfd, suction_psia: float, discharge_psia: float, efficiency: float = COMPRESSION_EFFICIENCY) -> np.ndarray:
    """Isothermal ideal-gas compression power (kW): q p_sc ln(p_d / p_s) / eta, q in scf/s, p in lbf/ft^2."""
    ratio = math.log(max(discharge_psia, suction_psia) / suction_psia)
    return np.asarray(injection_mscfd, float) * 1000.0 / 86_400.0 * STANDARD_PSIA * 144.0 * ratio / efficiency * 1.355_817_948e-3


@dataclass(frozen=True)
class GasLiftPareto:
    """Continuous gas lift on cached curves: injection (Mscf/d) -> (oil, kWh/bbl or USD/bbl, valve stability margin).

    ``curve``: the GLPC (with liquid rates); ``tubing_at_valve_psia``: flowing tubing pressure at the valve at each
    of the curve's injection rates; ``casing_at_valve_psia``: static gas-column casing pressure at the valve."""

    curve: Glpc
    tubing_at_valve_psia: np.ndarray
    casing_at_valve_psia: float
    injection_pressure_psia: float
    injection_min_mscfd: float
    injection_max_mscfd: float
    separator_psia: float = 114.696
    energy_basis: str = "compression"
    gas_cost_usd_per_mscf: float = 0.0
    min_valve_dp_psi: float = 100.0
    injection_step_mscfd: float | None = None

    lift_type = "gas_lift"
    life_unit = "stability margin"
    constraint_names = ("valve_differential", "flow")
    #: relaxed when no injection rate meets it (the single-step optimizer then reports ``injection_pressure`` binding)
    soft_constraints = ("valve_differential",)

    def __post_init__(self) -> None:
        pt = np.asarray(self.tubing_at_valve_psia, dtype=float)
        if pt.shape != self.curve.injection_mscfd.shape or not np.all(np.isfinite(pt)) or np.any(pt <= 0):
            raise ParetoError("tubing_at_valve_psia must be positive, one value per GLPC injection rate")
        object.__setattr__(self, "tubing_at_valve_psia", pt)
        if self.energy_basis not in ("compression", "gas_cost"):
            raise ParetoError("energy_basis must be 'compression' or 'gas_cost'")
        if not (self.casing_at_valve_psia > 0 and self.injection_pressure_psia > 0 and self.separator_psia > 0):
            raise ParetoError("pressures must be positive")

    @property
    def energy_unit(self) -> str:
        return "kWh/bbl" if self.energy_basis == "compression" else "USD/bbl"

    @property
    def variables(self) -> tuple[DecisionVariable, ...]:
        lo = max(self.injection_min_mscfd, float(self.curve.injection_mscfd[0]))
        hi = min(self.injection_max_mscfd, float(self.curve.injection_mscfd[-1]))
        return (DecisionVariable("injection_mscfd", "Mscf/d", lo, hi, self.injection_step_mscfd),)

    def tubing_psia(self, injection_mscfd) -> np.ndarray:
        from scipy.interpolate import PchipInterpolator

        x = np.clip(np.asarray(injection_mscfd, float), self.curve.injection_mscfd[0], self.curve.injection_mscfd[-1])
        return PchipInterpolator(self.curve.injection_mscfd, self.tubing_at_valve_psia)(x)

    def evaluate(self, setpoints) -> Evaluation:
        x = _as_population(setpoints, 1)
        qi = x[:, 0]
        oil = self.curve.oil_at(qi)
        pt = self.tubing_psia(qi)
        margin = CRITICAL_PRESSURE_RATIO - pt / self.casing_at_valve_psia
        if self.energy_basis == "compression":
            energy = _specific_energy(compression_kw(qi, self.separator_psia, self.injection_pressure_psia), oil)
        else:
            energy = _specific_energy(self.gas_cost_usd_per_mscf * qi / 24.0, oil)
        g = np.column_stack([self.min_valve_dp_psi - (self.casing_at_valve_psia - pt), MIN_FLOW_BPD - oil])
        liquid = None
        if self.curve.liquid_bpd is not None:
            from scipy.interpolate import PchipInterpolator

            liquid = PchipInterpolator(self.curve.injection_mscfd, self.curve.liquid_bpd)(
                np.clip(qi, self.curve.injection_mscfd[0], self.curve.injection_mscfd[-1]))
        values = {"tubing_at_valve_psia": pt, "pressure_ratio": pt / self.casing_at_valve_psia}
        if liquid is not None:
            values["liquid_bpd"] = liquid
        return Evaluation(x, oil, energy, margin, g, self.constraint_names, values)


ParetoProblem = EspPareto | SrpPareto | PcpPareto | GasLiftPareto


# ---------------------------------------------------------------- front analysis
def non_dominated(f_min) -> np.ndarray:
    """Indices of the non-dominated rows of a minimization matrix (pymoo's non-dominated sorting, first front)."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    f = np.asarray(f_min, dtype=float)
    if f.shape[0] == 0:
        return np.zeros(0, dtype=int)
    return np.sort(NonDominatedSorting().do(f, only_non_dominated_front=True))


def normalize(f_min, ideal=None, nadir=None) -> np.ndarray:
    """Objectives scaled to [0, 1] between the ideal and nadir points (a zero range maps to 0)."""
    f = np.asarray(f_min, dtype=float)
    ideal = f.min(axis=0) if ideal is None else np.asarray(ideal, float)
    nadir = f.max(axis=0) if nadir is None else np.asarray(nadir, float)
    span = nadir - ideal
    return np.where(span > 0, (f - ideal) / np.where(span > 0, span, 1.0), 0.0)


def knee_index(f_min) -> int:
    """Knee of a front (minimization form), after Das (1999): objectives normalized to the front's ideal/nadir, the
    point farthest from the affine hull of the extreme points (per varying objective, the point worst in it and
    best in the others by the achievement scalarizing function of NSGA-III's normalization: a plane for three
    distinct extremes, the chord for two), among the points on the ideal side (normalized sum below the extremes'
    mean sum). A front whose extremes coincide, or with no point off their hull, falls back to the smallest
    normalized sum (the point farthest below the plane through the unit points). Ties: the first."""
    fn = normalize(f_min)
    if fn.shape[0] <= 2:
        return int(np.argmin(fn.sum(axis=1)))
    axes = np.flatnonzero(fn.max(axis=0) > 0)  # objectives that vary along the front
    picks = []
    for i in axes:  # extreme point of axis i by the achievement scalarizing function (as NSGA-III's normalization)
        w = np.full(fn.shape[1], 1e-6)
        w[i] = 1.0
        picks.append(int(np.argmin(np.max(fn[:, axes] / w[axes], axis=1))))
    extremes = np.unique(fn[picks], axis=0) if picks else fn[:1]
    total = fn.sum(axis=1)
    if extremes.shape[0] >= 2:
        base = extremes[0]
        basis = extremes[1:] - base
        q, _ = np.linalg.qr(basis.T)  # orthonormal directions of the hull
        d = fn - base
        resid = d - (d @ q) @ q.T
        dist = np.linalg.norm(resid, axis=1)
        dist = np.where(total <= extremes.sum(axis=1).mean() + 1e-12, dist, 0.0)
        if dist.max() > 1e-9:
            return int(np.argmax(dist))
    return int(np.argmin(total))


def preference_index(f_min, weights: Sequence[float]) -> int:
    """The front point whose pseudo-weight vector is closest to ``weights`` (importance of oil, energy, life;
    any positive scale; Deb 2001, sec. 7.8, as pymoo's ``PseudoWeights``)."""
    from pymoo.mcdm.pseudo_weights import PseudoWeights

    w = np.asarray(weights, dtype=float)
    if w.shape != (3,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ParetoError("weights must be three non-negative numbers (oil, energy, life), not all zero")
    f = np.asarray(f_min, dtype=float)
    if f.shape[0] == 1:
        return 0
    return int(PseudoWeights(w / w.sum()).do(f))


def hypervolume(f_min, reference: float | Sequence[float] = HV_REFERENCE) -> float:
    """Hypervolume (pymoo's HV) of minimization points against ``reference`` (a number per objective or one for all)."""
    from pymoo.indicators.hv import HV

    f = np.asarray(f_min, dtype=float)
    ref = np.full(f.shape[1], float(reference)) if np.ndim(reference) == 0 else np.asarray(reference, float)
    return float(HV(ref_point=ref)(f))


@dataclass(frozen=True)
class ParetoResult:
    """A well's Pareto front and the picks on it (``front`` is an :class:`Evaluation` of the front's setpoints)."""

    lift_type: str
    variables: tuple[DecisionVariable, ...]
    energy_unit: str
    life_unit: str
    front: Evaluation
    knee: int
    hypervolume: float
    algorithm: str
    n_evaluations: int
    generations: int
    stopped: bool
    seed: int | None

    @property
    def relaxed(self) -> tuple[str, ...]:
        return self.front.relaxed

    @property
    def size(self) -> int:
        return int(self.front.oil_bpd.size)

    def choose(self, weights: Sequence[float]) -> int:
        return preference_index(self.front.f_min, weights)

    def point(self, i: int) -> dict[str, Any]:
        """One front point as JSON-ready numbers: setpoint(s), objectives and the engine's values there."""
        fr = self.front
        out: dict[str, Any] = {v.name: float(fr.setpoints[i, j]) for j, v in enumerate(self.variables)}
        out.update(oil_bpd=float(fr.oil_bpd[i]), specific_energy=float(fr.specific_energy[i]),
                   equipment_life=float(fr.equipment_life[i]))
        return out


def relaxation(problem, n_points: int = 201) -> tuple[str, ...]:
    """Soft constraints to relax (problem's ``soft_constraints`` order, fewest first) so that some point of the
    decision grid is feasible; empty when the grid has a feasible point or the problem has no soft constraints."""
    soft = tuple(getattr(problem, "soft_constraints", ()))
    axes = [v.grid(min(n_points, 201)) for v in problem.variables]
    mesh = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    ev = problem.evaluate(mesh)
    for k in range(len(soft) + 1):
        if np.any(ev.with_relaxed(soft[:k]).feasible):
            return soft[:k]
    return ()


def _finish(problem, setpoints: np.ndarray, algorithm: str, n_eval: int, generations: int, stopped: bool,
            seed: int | None, relaxed: tuple[str, ...] = ()) -> ParetoResult:
    ev = problem.evaluate(setpoints).with_relaxed(relaxed)
    ok = np.flatnonzero(ev.feasible)
    if ok.size == 0:
        worst = {name for i in range(ev.g.shape[0]) for name in ev.violations(i)}
        raise ParetoError(f"no feasible setpoint found ({algorithm}); violated: {', '.join(sorted(worst))}")
    nd = ok[non_dominated(ev.f_min[ok])]
    # one point per distinct objective vector, ordered by oil rate
    _, first = np.unique(np.round(ev.f_min[nd], 9), axis=0, return_index=True)
    keep = nd[np.sort(first)]
    keep = keep[np.argsort(-ev.oil_bpd[keep], kind="stable")]
    front = Evaluation(ev.setpoints[keep], ev.oil_bpd[keep], ev.specific_energy[keep], ev.equipment_life[keep], ev.g[keep],
                       ev.constraint_names, {k: np.asarray(v)[keep] for k, v in ev.values.items()}, relaxed)
    fn = normalize(front.f_min)
    return ParetoResult(problem.lift_type, problem.variables, problem.energy_unit, problem.life_unit, front,
                        knee_index(front.f_min), hypervolume(fn), algorithm, n_eval, generations, stopped, seed)


def solve_grid(problem, n_points: int = 201) -> ParetoResult:
    """Exact front on the decision grid: every level of a stepped variable, ``n_points`` evenly spaced values of a
    continuous one (bounds included), all combinations (at most :data:`MAX_GRID_POINTS`)."""
    if not 2 <= n_points <= MAX_GRID_POINTS:
        raise ParetoError(f"n_points must be in [2, {MAX_GRID_POINTS}]")
    axes = [v.grid(n_points) for v in problem.variables]
    total = int(np.prod([a.size for a in axes]))
    if total > MAX_GRID_POINTS:
        raise ParetoError(f"the decision grid has {total} points, more than {MAX_GRID_POINTS}")
    mesh = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    return _finish(problem, mesh, "grid", total, 0, False, None, relaxation(problem, n_points))


# ---------------------------------------------------------------- NSGA-II / NSGA-III through pymoo
ALGORITHMS = ("nsga2", "nsga3")
DEFAULT_POPULATION = 100
DEFAULT_GENERATIONS = 200
SBX_ETA = 20.0
SBX_PROB = 0.9
PM_ETA = 20.0
#: Das-Dennis partitions of NSGA-III's reference directions (12 -> 91 directions for three objectives).
NSGA3_PARTITIONS = 12


def make_algorithm(name: str = "nsga2", pop_size: int = DEFAULT_POPULATION, n_obj: int = 3,
                   integer_mask: Sequence[bool] | None = None):
    """The pymoo algorithm with this module's settings; integer coordinates are rounded after sampling and
    after every mating (pymoo's rounding repair on those columns only)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.moo.nsga3 import NSGA3
    from pymoo.core.repair import NoRepair, Repair
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.util.ref_dirs import get_reference_directions

    if name not in ALGORITHMS:
        raise ParetoError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {name!r}")
    if not 4 <= pop_size <= MAX_POPULATION:
        raise ParetoError(f"population must be in [4, {MAX_POPULATION}], got {pop_size}")
    mask = None if integer_mask is None else np.asarray(integer_mask, dtype=bool)

    class RoundIntegers(Repair):
        def _do(self, problem, X, **kwargs):
            X = np.asarray(X, dtype=float).copy()
            X[:, mask] = np.rint(X[:, mask])
            return X

    mixed = mask is not None and bool(mask.any())
    repair = RoundIntegers() if mixed else NoRepair()
    # duplicates: only integer coordinates make them (continuous ones coincide with probability 0); pymoo's duplicate
    # check is ~40 % of a run, so it runs only on mixed problems (and always on the benchmark problems: integer_mask None)
    ops = dict(crossover=SBX(eta=SBX_ETA, prob=SBX_PROB), mutation=PM(eta=PM_ETA), repair=repair,
               eliminate_duplicates=mixed or mask is None)
    if name == "nsga2":
        return NSGA2(pop_size=pop_size, **ops)
    ref_dirs = get_reference_directions("das-dennis", n_obj, n_partitions=NSGA3_PARTITIONS if n_obj == 3 else 99)
    return NSGA3(ref_dirs=ref_dirs, pop_size=max(pop_size, len(ref_dirs)), **ops)


def pymoo_problem(problem, relaxed: Sequence[str] = ()):
    """The lift problem as a pymoo ``Problem`` over solver coordinates (vectorized: one call per generation);
    ``relaxed`` constraints are left out."""
    from pymoo.core.problem import Problem

    variables = problem.variables
    active = np.array([name not in relaxed for name in problem.constraint_names], dtype=bool)
    lo = np.array([v.bounds[0] for v in variables])
    hi = np.array([v.bounds[1] for v in variables])

    class LiftProblem(Problem):
        def __init__(self):
            super().__init__(n_var=len(variables), n_obj=3, n_ieq_constr=int(active.sum()), xl=lo, xu=hi)

        def _evaluate(self, x, out, *args, **kwargs):
            ev = problem.evaluate(to_setpoints(variables, x))
            out["F"] = ev.f_min
            out["G"] = ev.g[:, active]

    return LiftProblem()


def to_setpoints(variables: Sequence[DecisionVariable], coordinates) -> np.ndarray:
    c = np.atleast_2d(np.asarray(coordinates, dtype=float))
    return np.column_stack([v.value(c[:, j]) for j, v in enumerate(variables)])


def run_pymoo(pymoo_prob, algorithm, n_gen: int, seed: int, progress_callback: Callable[[int, int], None] | None = None,
              stop_event=None):
    """Run a pymoo algorithm generation by generation (pymoo's own ``has_next`` / ``next`` loop): progress after
    every generation, ``stop_event.is_set()`` checked before each one. Returns (result, generations run, stopped)."""
    if not 1 <= n_gen <= MAX_GENERATIONS:
        raise ParetoError(f"generations must be in [1, {MAX_GENERATIONS}], got {n_gen}")
    algorithm.setup(pymoo_prob, termination=("n_gen", n_gen), seed=seed, verbose=False, save_history=False)
    stopped = False
    while algorithm.has_next():
        if stop_event is not None and stop_event.is_set():
            stopped = True
            break
        algorithm.next()
        if progress_callback is not None:
            progress_callback(int(algorithm.n_gen) - 1, n_gen)
    res = algorithm.result()
    return res, int(algorithm.n_gen) - 1, stopped


def solve_nsga(problem, algorithm: str = "nsga2", pop_size: int = DEFAULT_POPULATION, n_gen: int = DEFAULT_GENERATIONS,
               seed: int = 1, progress_callback: Callable[[int, int], None] | None = None, stop_event=None) -> ParetoResult:
    """Pareto front by NSGA-II (default) or NSGA-III; the final population's feasible non-dominated points,
    re-evaluated by the lift engines (deterministic given ``seed``)."""
    alg = make_algorithm(algorithm, pop_size, 3, [v.integer for v in problem.variables])
    relaxed = relaxation(problem)
    res, gens, stopped = run_pymoo(pymoo_problem(problem, relaxed), alg, n_gen, seed, progress_callback, stop_event)
    pop_x = res.pop.get("X") if res.pop is not None else np.zeros((0, len(problem.variables)))
    setpoints = to_setpoints(problem.variables, pop_x)
    return _finish(problem, setpoints, algorithm, int(alg.evaluator.n_eval), gens, stopped, seed, relaxed)
