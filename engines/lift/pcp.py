"""Progressing-cavity pump: rate, slip, torque, power and the RPM recommendation.

* Rate q = D N - q_slip, with D the displacement (bbl/d per rpm) and slip rising linearly with the
  differential pressure and with wear: q_slip = s_rated (dP / dP_rated) (1 + wear) (bbl/d). Slip is
  independent of speed for a given dP (laminar leakage across the seal lines; Nelik & Brennan,
  *Progressing Cavity Pumps, Downhole Pumps and Mudmotors*, 2005, ch. 3). The differential pressure is
  the discharge pressure the tubing requires at the operating rate (a discharge curve on the inflow grid)
  or a constant, less the intake pressure. Inverted, dP = (D N - q) dP_rated / (s_rated (1 + wear)) is
  the pump's pressure gain at a rate and speed (:func:`pump_pressure_gain_psi`), the boost the nodal
  operating point at a setpoint adds at the pump.
* Hydraulic torque from the energy balance, work per revolution = swept volume x dP:
  T_h = (D / 1440) * 5.6146 ft^3 * 144 dP / (2 pi) = 0.08936 D dP (ft lbf, D in bbl/d/rpm, dP psi).
  Total torque adds a constant friction torque (rotor/stator interference and rod drag).
* Power: HP = T N / 5252; motor kW = HP * 0.7457 / drive efficiency.
* Elastomer temperature = intake temperature + hysteresis heating proportional to speed
  (``heating_c_per_100rpm``); life from :mod:`engines.lift.elastomer`, and a mechanical-wear life
  inversely proportional to speed (``wear_life_days_at_100rpm``, 3 years by default, a calibration
  default). The expected run life is the smallest of the two and ``max_run_life_days`` (5 years), so
  outputs stay near the 1-3 year run lives seen in PCP fields and never promise decades.

The recommendation maximizes rate inside RPM bounds, rod torque limit, motor power, pump rated lift,
minimum intake pressure (no running dry) and a minimum expected run life; among speeds within 0.5 % of
the best rate the slowest wins (less wear and energy).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.lift.elastomer import Environment, get_elastomer, life_days
from engines.lift.inflow_grid import sorted_inflow_grid

TORQUE_CONSTANT = 5.614_583 * 144.0 / (1440.0 * 2.0 * np.pi)  # ft lbf per (bbl/d/rpm * psi) = 0.08936
HHP_PER_BPD_PSI = 1.0 / 58_771.0


@dataclass(frozen=True)
class PcpSystem:
    """A PCP well. Inflow arrays: rate (bbl/d) delivered at each pump-intake pressure (psi).

    ``discharge_pressure_psi``: the pump-discharge pressure (psi), a constant or an array on the inflow grid
    (the pressure the tubing requires at each grid rate, aligned with ``inflow_grid_bpd``).
    """

    displacement_bpd_per_rpm: float
    rated_lift_psi: float
    discharge_pressure_psi: float | np.ndarray
    intake_pressure_grid_psi: np.ndarray
    inflow_grid_bpd: np.ndarray
    intake_temperature_c: float
    elastomer: str = "NBR"
    environment: Environment = field(default_factory=Environment)
    rod_torque_limit_ftlbf: float = 1500.0
    motor_hp: float = 60.0
    rpm_min: float = 50.0
    rpm_max: float = 400.0
    min_intake_pressure_psi: float = 50.0
    slip_at_rated_bpd: float | None = None
    wear_frac: float = 0.0
    friction_torque_ftlbf: float = 100.0
    drive_efficiency: float = 0.85
    heating_c_per_100rpm: float = 4.0
    wear_life_days_at_100rpm: float = 1100.0
    max_run_life_days: float = 1826.0
    min_run_life_days: float = 365.0

    def __post_init__(self) -> None:
        if np.ndim(self.discharge_pressure_psi):
            p, q, dis = sorted_inflow_grid(self.intake_pressure_grid_psi, self.inflow_grid_bpd, self.discharge_pressure_psi)
        else:
            (p, q), dis = sorted_inflow_grid(self.intake_pressure_grid_psi, self.inflow_grid_bpd), float(self.discharge_pressure_psi)
        object.__setattr__(self, "intake_pressure_grid_psi", p)
        object.__setattr__(self, "inflow_grid_bpd", q)
        object.__setattr__(self, "discharge_pressure_psi", dis)
        if not (50.0 <= self.rpm_min < self.rpm_max <= 400.0):
            raise ValueError(f"RPM window must satisfy 50 <= rpm_min < rpm_max <= 400, got {self.rpm_min}..{self.rpm_max}")
        for name in ("displacement_bpd_per_rpm", "rated_lift_psi", "discharge_pressure_psi", "rod_torque_limit_ftlbf", "motor_hp"):
            if not np.all(getattr(self, name) > 0):
                raise ValueError(f"{name} must be positive")
        if not (0 <= self.wear_frac <= 5):
            raise ValueError("wear_frac must be in [0, 5]")
        get_elastomer(self.elastomer)

    @property
    def slip_rated_bpd(self) -> float:
        """Slip at rated lift (bbl/d); default 20 % of the displacement at 100 rpm."""
        return self.slip_at_rated_bpd if self.slip_at_rated_bpd is not None else 0.2 * 100.0 * self.displacement_bpd_per_rpm

    def inflow_bpd(self, intake_psi) -> np.ndarray:
        return np.interp(intake_psi, self.intake_pressure_grid_psi, self.inflow_grid_bpd)

    def intake_psi_for_rate(self, q_bpd) -> np.ndarray:
        return np.interp(q_bpd, self.inflow_grid_bpd[::-1], self.intake_pressure_grid_psi[::-1])

    def discharge_psi(self, intake_psi) -> np.ndarray:
        """Discharge pressure (psi) at the steady state whose intake pressure is ``intake_psi`` (the rate is the
        inflow at that intake, so a discharge curve on the grid is read at the same grid position)."""
        if np.ndim(self.discharge_pressure_psi):
            return np.interp(intake_psi, self.intake_pressure_grid_psi, self.discharge_pressure_psi)
        return np.full(np.shape(intake_psi), self.discharge_pressure_psi)


def slip_bpd(system: PcpSystem, dp_psi) -> np.ndarray:
    """Slip (bbl/d) = s_rated * dP / dP_rated * (1 + wear)."""
    return system.slip_rated_bpd * np.maximum(np.asarray(dp_psi, float), 0.0) / system.rated_lift_psi * (1.0 + system.wear_frac)


def pump_pressure_gain_psi(system: PcpSystem, q_bpd, rpm: float) -> np.ndarray:
    """Pressure (psi) the pump adds at liquid rate(s) ``q_bpd`` (bbl/d) and ``rpm``: the inverse of q = D N - slip(dP),
    dP = (D N - q) dP_rated / (s_rated (1 + wear)). Laminar leakage runs with the pressure difference either way,
    so above D N the gain is negative (the seal lines hold back the flow that would pass the turning rotor)."""
    if not rpm > 0:
        raise ValueError(f"rpm must be positive, got {rpm}")
    excess = system.displacement_bpd_per_rpm * float(rpm) - np.asarray(q_bpd, dtype=float)
    leak = system.slip_rated_bpd * (1.0 + system.wear_frac) / system.rated_lift_psi  # bbl/d per psi
    if leak <= 0:  # no slip: an ideal positive-displacement pump adds whatever pressure holds the rate at D N
        return np.where(excess > 0, np.inf, np.where(excess < 0, -np.inf, 0.0))
    return excess / leak


def hydraulic_torque_ftlbf(displacement_bpd_per_rpm: float, dp_psi) -> np.ndarray:
    """T_h = 0.08936 D dP (ft lbf): swept volume per revolution times dP over 2 pi."""
    return TORQUE_CONSTANT * displacement_bpd_per_rpm * np.asarray(dp_psi, float)


@dataclass(frozen=True)
class RpmScan:
    """State over the RPM grid."""

    rpm: np.ndarray
    q_bpd: np.ndarray
    intake_pressure_psi: np.ndarray
    dp_psi: np.ndarray
    torque_ftlbf: np.ndarray
    hp: np.ndarray
    run_life_days: np.ndarray
    elastomer_life_days: np.ndarray
    elastomer_temperature_c: np.ndarray


def scan_rpm(system: PcpSystem, rpm) -> RpmScan:
    """Steady state at each RPM: q = D N - slip(dP) with the inflow setting the intake pressure."""
    n = np.atleast_1d(np.asarray(rpm, dtype=float))
    d = system.displacement_bpd_per_rpm
    # q(p_in) from the pump is increasing in p_in (less dP, less slip); inflow is decreasing: bisection
    lo = np.full(n.shape, system.intake_pressure_grid_psi[0])
    hi = np.full(n.shape, system.intake_pressure_grid_psi[-1])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        pump_q = np.maximum(d * n - slip_bpd(system, system.discharge_psi(mid) - mid), 0.0)
        excess = pump_q - system.inflow_bpd(mid)  # > 0: the pump draws more than the reservoir gives -> p_in lower
        hi = np.where(excess > 0, mid, hi)
        lo = np.where(excess > 0, lo, mid)
    p_in = 0.5 * (lo + hi)
    q = system.inflow_bpd(p_in)
    dp = np.maximum(system.discharge_psi(p_in) - p_in, 0.0)
    torque = hydraulic_torque_ftlbf(d, dp) + system.friction_torque_ftlbf
    hp = torque * n / 5252.0
    t_el = system.intake_temperature_c + system.heating_c_per_100rpm * n / 100.0
    el_life = life_days(system.elastomer, t_el, system.environment)
    wear_life = system.wear_life_days_at_100rpm * 100.0 / n / (1.0 + system.environment.sand_pct * 0.5)
    run_life = np.minimum(np.minimum(el_life, wear_life), system.max_run_life_days)
    return RpmScan(n, q, p_in, dp, torque, hp, run_life, el_life, t_el)


@dataclass(frozen=True)
class PcpRecommendation:
    """Recommended RPM with expected state and the binding constraint."""

    rpm: float
    q_bpd: float
    intake_pressure_psi: float
    torque_ftlbf: float
    motor_kw: float
    kwh_per_bbl: float
    efficiency_pct: float
    run_life_days: float
    elastomer_life_days: float
    volumetric_efficiency_frac: float
    binding_constraint: str
    scan: RpmScan


def optimize_rpm(system: PcpSystem, step_rpm: float = 5.0) -> PcpRecommendation:
    """Recommend the RPM (see module docstring); always inside [rpm_min, rpm_max]."""
    if not step_rpm > 0:
        raise ValueError("step_rpm must be positive")
    grid = np.unique(np.append(np.arange(system.rpm_min, system.rpm_max, step_rpm), system.rpm_max))
    s = scan_rpm(system, grid)
    checks = {
        "rod_torque": s.torque_ftlbf <= system.rod_torque_limit_ftlbf,
        "motor_power": s.hp <= system.motor_hp,
        "pump_rated_lift": s.dp_psi <= system.rated_lift_psi,
        "min_intake_pressure": s.intake_pressure_psi >= system.min_intake_pressure_psi - 1e-6,
        "run_life": s.run_life_days >= system.min_run_life_days,
    }
    ok = np.logical_and.reduce(list(checks.values()))
    if np.any(ok):
        best = float(np.max(s.q_bpd[ok]))
        k = int(np.flatnonzero(ok & (s.q_bpd >= 0.995 * best))[0])
        if k == grid.size - 1:
            binding = "rpm_max"
        else:
            failing = [name for name, arr in checks.items() if not arr[k + 1]]
            binding = failing[0] if failing else "inflow"
    else:
        k = 0
        binding = "infeasible:" + ",".join(name for name, arr in checks.items() if not arr[0])
    q = float(s.q_bpd[k])
    kw = float(s.hp[k]) * 0.745_699_872 / system.drive_efficiency
    lift_kw = q * float(s.dp_psi[k]) * HHP_PER_BPD_PSI * 0.745_699_872
    return PcpRecommendation(
        rpm=float(grid[k]), q_bpd=q, intake_pressure_psi=float(s.intake_pressure_psi[k]), torque_ftlbf=float(s.torque_ftlbf[k]),
        motor_kw=kw, kwh_per_bbl=kw * 24.0 / q if q > 0 else float("inf"), efficiency_pct=100.0 * lift_kw / kw if kw > 0 else 0.0,
        run_life_days=float(s.run_life_days[k]), elastomer_life_days=float(s.elastomer_life_days[k]),
        volumetric_efficiency_frac=q / (system.displacement_bpd_per_rpm * grid[k]), binding_constraint=binding, scan=s)
