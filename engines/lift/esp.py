"""ESP frequency optimizer: operating point of reservoir + pump + tubing at each frequency.

The problem (:class:`EspSystem`) carries, on a common liquid-rate grid, the pump-intake pressure the
reservoir supplies (IPR minus the liquid column between perforations and pump) and the discharge
pressure the tubing requires (VLP from the wellhead down to the pump), both built by the adapter
from the nodal engine, plus the intake gas void fraction. At frequency f the pump adds
dP = n_stages H(q, f) 0.433 SG (psi); the operating point solves dP_pump(q) = p_dis(q) - p_in(q).

Per frequency: BEP distance (q / q_BEP(f) - 1), thrust window (catalogue range scaled by f), motor
load = BHP / (nameplate HP x min(f / f_base, 1)) (constant V/Hz below base frequency, constant power
above; Takacs 2009 ch. 3), current from P = sqrt(3) V I pf eta with V ~ f below base, fluid velocity
past the motor (>= 1 ft/s for cooling), electrical power, kWh/bbl and system efficiency.
The recommendation maximizes rate subject to the window, motor load, minimum intake pressure, intake
gas fraction, thrust range and cooling velocity; among frequencies within 0.5 % of the best rate the
lowest wins. The binding constraint is the first one violated just above the recommendation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.lift.esp_catalogue import PumpCurve

PSI_PER_FT_WATER = 0.433
KW_PER_HP = 0.745_699_872
HHP_PER_BPD_PSI = 1.0 / 58_771.0
CONSTRAINTS = ("motor_load", "min_intake_pressure", "gas_fraction", "downthrust", "upthrust", "motor_cooling")


@dataclass(frozen=True)
class EspSystem:
    """An ESP well on a liquid-rate grid (bbl/d) with intake / required discharge pressures (psi)."""

    pump: PumpCurve
    stages: int
    liquid_sg: float
    rate_grid_bpd: np.ndarray
    intake_pressure_psi: np.ndarray
    discharge_required_psi: np.ndarray
    intake_gas_fraction: np.ndarray | None = None
    motor_hp: float = 150.0
    motor_voltage_v: float = 2300.0
    base_frequency_hz: float = 60.0
    frequency_min_hz: float = 35.0
    frequency_max_hz: float = 70.0
    min_intake_pressure_psi: float = 150.0
    max_gas_fraction: float = 0.10
    max_motor_load: float = 1.0
    casing_id_in: float = 6.276
    min_cooling_velocity_ft_s: float = 1.0
    motor_efficiency: float = 0.88
    power_factor: float = 0.85
    surface_efficiency: float = 0.95

    def __post_init__(self) -> None:
        q = np.asarray(self.rate_grid_bpd, dtype=float)
        arrays = {"intake_pressure_psi": self.intake_pressure_psi, "discharge_required_psi": self.discharge_required_psi}
        if self.intake_gas_fraction is not None:
            arrays["intake_gas_fraction"] = self.intake_gas_fraction
        if q.ndim != 1 or q.size < 3 or np.any(np.diff(q) <= 0) or q[0] < 0:
            raise ValueError("rate_grid_bpd must be an increasing 1-D array of >= 3 non-negative rates")
        object.__setattr__(self, "rate_grid_bpd", q)
        for name, arr in arrays.items():
            a = np.asarray(arr, dtype=float)
            if a.shape != q.shape or not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must be finite with the shape of rate_grid_bpd")
            object.__setattr__(self, name, a)
        if not (30.0 <= self.frequency_min_hz < self.frequency_max_hz <= 90.0):
            raise ValueError(f"frequency window must satisfy 30 <= min < max <= 90 Hz, got {self.frequency_min_hz}..{self.frequency_max_hz}")
        if not (self.stages >= 1 and self.liquid_sg > 0 and self.motor_hp > 0 and self.casing_id_in > self.pump.motor_od_in):
            raise ValueError("stages >= 1, liquid_sg > 0, motor_hp > 0 and casing_id_in > motor OD are required")


@dataclass(frozen=True)
class FrequencyScan:
    """Operating point per frequency (NaN rate where the pump cannot lift)."""

    frequency_hz: np.ndarray
    q_bpd: np.ndarray
    intake_pressure_psi: np.ndarray
    pump_dp_psi: np.ndarray
    bep_distance_pct: np.ndarray
    motor_load_frac: np.ndarray
    motor_current_a: np.ndarray
    power_kw: np.ndarray
    kwh_per_bbl: np.ndarray
    efficiency_pct: np.ndarray
    gas_fraction: np.ndarray
    cooling_velocity_ft_s: np.ndarray
    violations: dict


@dataclass(frozen=True)
class EspRecommendation:
    """Recommended frequency, its operating point and why it is not higher."""

    frequency_hz: float
    q_bpd: float
    intake_pressure_psi: float
    bep_distance_pct: float
    motor_load_frac: float
    motor_current_a: float
    power_kw: float
    kwh_per_bbl: float
    efficiency_pct: float
    binding_constraint: str
    operating_range_bpd: tuple[float, float]
    scan: FrequencyScan


def pump_pressure_gain_psi(system: EspSystem, q_bpd, frequency_hz) -> np.ndarray:
    """dP (psi) = stages * H(q, f) * 0.433 * SG."""
    return system.stages * system.pump.head_ft(q_bpd, frequency_hz) * PSI_PER_FT_WATER * system.liquid_sg


def scan_frequencies(system: EspSystem, frequency_hz) -> FrequencyScan:
    """Operating point and constraint values at each frequency (vectorized over frequency x rate)."""
    f = np.atleast_1d(np.asarray(frequency_hz, dtype=float))
    q = system.rate_grid_bpd
    need = system.discharge_required_psi - system.intake_pressure_psi  # (n_q,)
    g = pump_pressure_gain_psi(system, q[None, :], f[:, None]) - need[None, :]  # decreasing in q
    # the highest crossing of each row (vectorized over frequency: one row per frequency)
    cross = (g[:, :-1] > 0) & (g[:, 1:] <= 0)
    has_cross = cross.any(axis=1)
    k = cross.shape[1] - 1 - np.argmax(cross[:, ::-1], axis=1)
    rows = np.arange(f.size)
    gk, gk1 = g[rows, k], g[rows, k + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        q_cross = q[k] + gk / (gk - gk1) * (q[k + 1] - q[k])
    # no crossing and the pump stronger than the whole grid: inflow-limited at the grid end
    q_op = np.where(has_cross, q_cross, np.where(g[:, -1] > 0, q[-1], np.nan))
    qq = np.nan_to_num(q_op)
    p_in = np.interp(qq, q, system.intake_pressure_psi)
    dp = pump_pressure_gain_psi(system, qq, f)
    bhp = system.stages * system.pump.bhp(qq, f, system.liquid_sg)
    available_hp = system.motor_hp * np.minimum(f / system.base_frequency_hz, 1.0)
    load = bhp / available_hp
    elec_kw = bhp * KW_PER_HP / system.motor_efficiency / system.surface_efficiency
    volts = system.motor_voltage_v * np.minimum(f / system.base_frequency_hz, 1.0)
    current = bhp * KW_PER_HP / system.motor_efficiency * 1000.0 / (np.sqrt(3.0) * volts * system.power_factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        kwh_bbl = np.where(qq > 0, elec_kw * 24.0 / qq, np.inf)
        eff = np.where(elec_kw > 0, 100.0 * qq * dp * HHP_PER_BPD_PSI * KW_PER_HP / elec_kw, 0.0)
    gvf = np.interp(qq, q, system.intake_gas_fraction) if system.intake_gas_fraction is not None else np.zeros(f.size)
    ann_ft2 = np.pi / 4.0 * (system.casing_id_in**2 - system.pump.motor_od_in**2) / 144.0
    vel = qq * 5.614_583 / 86_400.0 / ann_ft2
    q_lo, q_hi = system.pump.operating_range_at(f)
    flowing = np.isfinite(q_op) & (qq > 0)
    violations = {
        "motor_load": load > system.max_motor_load,
        "min_intake_pressure": p_in < system.min_intake_pressure_psi,
        "gas_fraction": gvf > system.max_gas_fraction,
        "downthrust": qq < q_lo,
        "upthrust": qq > q_hi,
        "motor_cooling": vel < system.min_cooling_velocity_ft_s,
    }
    violations = {k: v | ~flowing for k, v in violations.items()}
    return FrequencyScan(f, q_op, p_in, dp, 100.0 * (qq / system.pump.bep_at(f) - 1.0), load, current, elec_kw, kwh_bbl,
                         eff, gvf, vel, violations)


def optimize_frequency(system: EspSystem, step_hz: float = 0.5) -> EspRecommendation:
    """Recommend the frequency inside [frequency_min_hz, frequency_max_hz] (see module docstring).

    If no frequency meets every constraint, soft ones are relaxed in the order motor_cooling,
    gas_fraction, downthrust, upthrust and the binding constraint reads ``<binding> (infeasible, relaxed: <names>)``.
    """
    if not step_hz > 0:
        raise ValueError("step_hz must be positive")
    grid = np.unique(np.append(np.arange(system.frequency_min_hz, system.frequency_max_hz, step_hz), system.frequency_max_hz))
    s = scan_frequencies(system, grid)
    active = list(CONSTRAINTS)
    relaxed: list[str] = []
    q = np.nan_to_num(s.q_bpd)
    for soft in ("motor_cooling", "gas_fraction", "downthrust", "upthrust", None):
        ok = ~np.logical_or.reduce([s.violations[c] for c in active])
        if np.any(ok & (q > 0)) or soft is None:
            break
        active.remove(soft)
        relaxed.append(soft)
    ok &= q > 0
    if np.any(ok):
        best = float(np.max(q[ok]))
        k = int(np.flatnonzero(ok & (q >= 0.995 * best))[0])
        if k == grid.size - 1:
            binding = "frequency_max"
        else:
            failing = [c for c in active if s.violations[c][k + 1]]
            binding = failing[0] if failing else "inflow"
    else:
        k = 0
        binding = "no_flow"
    relaxed = [c for c in relaxed if s.violations[c][k]]  # report only those the choice actually violates
    if relaxed:
        binding = f"{binding} (infeasible, relaxed: {', '.join(relaxed)})"
    lo, hi = system.pump.operating_range_at(grid[k])
    return EspRecommendation(
        frequency_hz=float(grid[k]), q_bpd=float(q[k]), intake_pressure_psi=float(s.intake_pressure_psi[k]),
        bep_distance_pct=float(s.bep_distance_pct[k]), motor_load_frac=float(s.motor_load_frac[k]),
        motor_current_a=float(s.motor_current_a[k]), power_kw=float(s.power_kw[k]), kwh_per_bbl=float(s.kwh_per_bbl[k]),
        efficiency_pct=float(s.efficiency_pct[k]), binding_constraint=binding, operating_range_bpd=(float(lo), float(hi)), scan=s)
