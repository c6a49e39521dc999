"""From a well's configuration and latest telemetry to the lift optimizer of its lift type, and back.

``optimize_well(well, telemetry)`` builds the engine problem (inflow and tubing from the nodal engine
via :mod:`tb_bridge.adapters.nodal`), runs the optimizer for the well's decision variable and returns a
:class:`LiftResult` (``tb_bridge.writeback.keys.lift_attributes`` maps it to ThingsBoard keys). The
configuration holds gauge pressures; the engines get absolute ones (``+ 14.696 psi``) and results are
shifted back. ``telemetry`` is a flat dict of the latest values (keys of the telemetry contract).

``lifted_operating_point(well, setpoint)`` is the nodal operating point with the installed lift at a setpoint
(ESP frequency, SRP strokes/min, PCP rpm, gas-lift injection rate), on the same well hydraulics the optimizer
uses (:mod:`engines.lift.well_hydraulics`, :func:`engines.lift.gas_lift.glpc_from_nodal`), so at the optimizer's
recommended setpoint the two rates agree; ``current_setpoint(well, telemetry)`` picks the setpoint it runs at.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engines.lift.elastomer import Environment
from engines.lift.esp import EspSystem, optimize_frequency, scan_frequencies
from engines.lift.esp import pump_pressure_gain_psi as esp_pressure_gain_psi
from engines.lift.esp_catalogue import load_pump_catalogue
from engines.lift.gas_lift import (casing_pressure_at_depth_psia, glpc_from_nodal, glpc_optimum,
                                   tubing_pressure_at_injection_psia, valve_stability)
from engines.lift.pcp import PcpSystem, optimize_rpm, scan_rpm
from engines.lift.pcp import pump_pressure_gain_psi as pcp_pressure_gain_psi
from engines.lift.rod_string import RodString, RodTaper
from engines.lift.srp import SrpSystem, optimize_spm, scan_spm
from engines.lift.srp import pump_pressure_gain_psi as srp_pressure_gain_psi
from engines.lift.srp_card import analyze_pump_card
from engines.lift.srp_wave import Card, downhole_card_fourier
from engines.lift.well_hydraulics import pump_curves, pumped_operating_point, pumped_rate_limit_bpd
from engines.nodal import GasInjection, NodalResult
from tb_bridge.adapters.nodal import (ATMOSPHERIC_PSIA, correlation_for_well, fluid_from_well, ipr_from_well, solve_well,
                                      to_config_datum,
                                      wellbore_from_well)
from tb_bridge.wells.model import EspWellConfig, GasLiftWellConfig, PcpWellConfig, SrpWellConfig, WellConfig

CURRENT_SETPOINT_TELEMETRY = {"esp": "frequency_hz", "srp": "spm", "pcp": "rpm", "gas_lift": "injection_rate_mscfd"}
N_RATES = 40
N_SEGMENTS = 30
#: round-off allowed on the atmospheric intake pressure of the rate grid's last point (psi)
INTAKE_ROUNDOFF_PSI = 1e-3


class LiftCache:
    """Curves that depend only on a well's static configuration (nodal traverses, GLPC, the SRP wave-equation
    check), kept between runs so the hourly tier only redoes the cheap, telemetry-dependent part.

    Keys are the configuration's JSON (a changed attribute gives a new entry); oldest entries are dropped
    beyond ``max_entries``. One instance per service process; not shared between threads.
    """

    def __init__(self, max_entries: int = 20_000):
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._store: dict[tuple[str, str], Any] = {}
        self.hits = 0
        self.misses = 0

    def get(self, well: WellConfig, what: str, build):
        key = (what, well.model_dump_json(exclude={"entity_id", "name"}))
        if key in self._store:
            self.hits += 1
            return self._store[key]
        self.misses += 1
        value = build()
        if len(self._store) >= self.max_entries:
            self._store.pop(next(iter(self._store)))
        self._store[key] = value
        return value


def _cached(cache: "LiftCache | None", well: WellConfig, what: str, build):
    return build() if cache is None else cache.get(well, what, build)


@dataclass(frozen=True)
class LiftResult:
    """One well's recommendation (oilfield units, gauge pressures)."""

    lift_type: str
    recommended_setpoint: float
    expected_q_bpd: float
    current_setpoint: float | None
    current_q_bpd: float | None
    delta_q_bpd: float | None
    efficiency_pct: float
    kwh_per_bbl: float
    binding_constraint: str
    curve: list[list[float]]
    extras: dict[str, Any] = field(default_factory=dict)


def finite_or_none(x: Any) -> float | None:
    """``x`` as a finite float, or ``None`` (missing, non-numeric, NaN or infinite)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _inflow_grid(well: WellConfig, pump_md_ft: float):
    fluid = fluid_from_well(well)
    wellbore = wellbore_from_well(well)
    ipr = ipr_from_well(well)
    q_limit = pumped_rate_limit_bpd(ipr, fluid, wellbore, pump_md_ft)
    if not q_limit > 0:
        raise ValueError("the reservoir cannot hold a liquid column up to the pump: intake pressure is below "
                         "atmospheric at every rate (pump set too shallow, or reservoir pressure too low)")
    # from zero to the rate whose intake pressure is atmospheric: every grid rate is one the pump can take
    q = q_limit * np.linspace(0.0, 1.0, N_RATES)
    curves = pump_curves(ipr, fluid, wellbore, well.wellhead_pressure_psi + ATMOSPHERIC_PSIA, pump_md_ft, q,
                         correlation=correlation_for_well(well), n_segments=N_SEGMENTS)
    return fluid, wellbore, curves


def _above_atmospheric(pc) -> np.ndarray:
    """Grid rates whose intake pressure is at or above atmospheric (to round-off: the grid ends there)."""
    return pc.intake_psia > ATMOSPHERIC_PSIA - INTAKE_ROUNDOFF_PSI


def _pump_md(well: WellConfig, pump_tvd_ft: float) -> float:
    wb = wellbore_from_well(well)
    return float(np.interp(pump_tvd_ft, np.asarray(wb.tvd_ft), np.asarray(wb.md_ft)))


def _delta(expected: float, current_model: float | None, telemetry: dict) -> tuple[float | None, float | None]:
    measured = finite_or_none(telemetry.get("flow_rate_bpd"))
    current = measured if measured is not None else current_model
    return current, (expected - current if current is not None else None)


def _pump_curves(well: WellConfig, cache: LiftCache | None):
    """(fluid, wellbore, PumpCurves) of a pumped well on the optimizers' rate grid (cached by configuration)."""
    return _cached(cache, well, "pump_curves", lambda: _inflow_grid(well, _pump_md(well, well.pump_depth_ft)))


def _esp_system(well: EspWellConfig, pc) -> EspSystem:
    catalogue = load_pump_catalogue()
    if well.pump_model not in catalogue:
        raise ValueError(f"pump_model {well.pump_model!r} not in the catalogue ({', '.join(sorted(catalogue))})")
    pump = catalogue[well.pump_model]
    return EspSystem(pump=pump, stages=well.pump_stages, liquid_sg=pc.liquid_sg, rate_grid_bpd=pc.q_bpd,
                       intake_pressure_psi=pc.intake_psia - ATMOSPHERIC_PSIA, discharge_required_psi=pc.discharge_psia - ATMOSPHERIC_PSIA,
                       intake_gas_fraction=pc.gas_fraction, motor_hp=well.motor_hp, motor_voltage_v=well.motor_voltage_v,
                       base_frequency_hz=well.base_frequency_hz, frequency_min_hz=well.frequency_min_hz,
                       frequency_max_hz=well.frequency_max_hz, min_intake_pressure_psi=well.min_intake_pressure_psi,
                       casing_id_in=well.casing_id_in)


def optimize_esp(well: EspWellConfig, telemetry: dict, cache: LiftCache | None = None) -> LiftResult:
    _, _, pc = _pump_curves(well, cache)
    system = _esp_system(well, pc)
    rec = optimize_frequency(system)
    f_now = finite_or_none(telemetry.get("frequency_hz"))
    q_model = None
    if f_now is not None and 30.0 <= f_now <= 90.0:
        q_model = float(np.nan_to_num(scan_frequencies(system, [f_now]).q_bpd[0]))
    current, delta = _delta(rec.q_bpd, q_model, telemetry)
    s = rec.scan
    return LiftResult("esp", rec.frequency_hz, rec.q_bpd, f_now, current, delta, rec.efficiency_pct, rec.kwh_per_bbl,
                      rec.binding_constraint, [[float(f), float(np.nan_to_num(q))] for f, q in zip(s.frequency_hz, s.q_bpd)],
                      {"esp_bep_distance_pct": rec.bep_distance_pct, "motor_load_pct": 100.0 * rec.motor_load_frac,
                       "motor_current_a": rec.motor_current_a, "power_kw": rec.power_kw,
                       "intake_pressure_psi": rec.intake_pressure_psi, "operating_range_bpd": list(rec.operating_range_bpd)})


def _rods(well: SrpWellConfig) -> RodString:
    return RodString(tuple(RodTaper(r.diameter_in, r.length_ft, r.grade, r.material) for r in well.rod_string))


def srp_card_context(well: SrpWellConfig, cache: LiftCache | None = None) -> tuple[RodString, float, float]:
    """``(rod string, damping factor, produced-liquid SG)`` of an SRP well: what the Gibbs transform of its cards needs."""
    _, _, pc = _pump_curves(well, cache)
    return _rods(well), well.damping_factor, float(pc.liquid_sg)


def _surface_card(telemetry: dict, spm: float | None) -> Card | None:
    raw = telemetry.get("surface_card")
    if raw is None or spm is None or spm <= 0:
        return None
    data = json.loads(raw) if isinstance(raw, str) else raw
    return Card(np.asarray(data["position_in"], float), np.asarray(data["load_lbf"], float), spm)


def _srp_system(well: SrpWellConfig, pc) -> SrpSystem:
    """The rod-pump problem on the grid rates whose intake pressure is above atmospheric, with the discharge
    pressure the tubing requires at each of them (gauge psi)."""
    ok = _above_atmospheric(pc)
    return SrpSystem(rods=_rods(well), plunger_diameter_in=well.plunger_diameter_in, stroke_in=well.stroke_length_in,
                     discharge_pressure_psi=pc.discharge_psia[ok] - ATMOSPHERIC_PSIA,
                     intake_pressure_grid_psi=np.maximum(pc.intake_psia[ok] - ATMOSPHERIC_PSIA, 0.0),
                     inflow_grid_bpd=pc.q_bpd[ok], fluid_sg=pc.liquid_sg, damping_factor=well.damping_factor,
                     spm_min=max(well.spm_min, 4.0), spm_max=min(well.spm_max, 14.0))


def optimize_srp(well: SrpWellConfig, telemetry: dict, cache: LiftCache | None = None) -> LiftResult:
    _, _, pc = _pump_curves(well, cache)
    system = _srp_system(well, pc)
    rods = system.rods
    rec = _cached(cache, well, "srp_recommendation", lambda: optimize_spm(system))
    spm_now = finite_or_none(telemetry.get("spm"))
    q_model = float(scan_spm(system, [spm_now]).q_bpd[0]) if spm_now is not None and 0 < spm_now <= 20 else None
    current, delta = _delta(rec.q_bpd, q_model, telemetry)
    measured = _surface_card(telemetry, spm_now)
    if measured is not None:
        pump_card = downhole_card_fourier(measured, rods, well.damping_factor, pc.liquid_sg).card
    else:
        pump_card = rec.pump_card
    analysis = analyze_pump_card(pump_card, well.plunger_diameter_in, expected_fluid_load_lbf=rec.fluid_load_lbf,
                                 measured_rate_bpd=finite_or_none(telemetry.get("flow_rate_bpd")))
    return LiftResult("srp", rec.spm, rec.q_bpd, spm_now, current, delta, rec.efficiency_pct, rec.kwh_per_bbl,
                      rec.binding_constraint, [[float(n), float(q)] for n, q in zip(rec.scan.spm, rec.scan.q_bpd)],
                      {"srp_fillage_pct": 100.0 * analysis.fillage_frac, "srp_card_class": analysis.card_class,
                       "srp_card_source": "measured" if measured is not None else "predicted",
                       "srp_downhole_card": {"position_in": np.round(pump_card.position_in, 2).tolist(),
                                             "load_lbf": np.round(pump_card.load_lbf, 1).tolist()},
                       "srp_pump_efficiency_pct": None if analysis.pump_efficiency_frac is None else 100.0 * analysis.pump_efficiency_frac,
                       "predicted_fillage_pct": 100.0 * rec.fillage_frac, "rod_loading_pct": rec.max_rod_loading_pct,
                       "peak_polished_rod_load_lbf": rec.peak_polished_rod_load_lbf, "rod_fall_limit_spm": rec.rod_fall_limit_spm,
                       "power_kw": rec.motor_kw})


def _pcp_system(well: PcpWellConfig, pc, telemetry: dict) -> PcpSystem:
    """The PCP problem on the grid rates whose intake pressure is above atmospheric, with the discharge pressure
    the tubing requires at each of them (gauge psi); intake temperature from telemetry, else the geothermal one."""
    ok = _above_atmospheric(pc)
    t_intake_f = finite_or_none(telemetry.get("intake_temperature_f")) or pc.pump_temperature_f
    return PcpSystem(displacement_bpd_per_rpm=well.displacement_bpd_per_rpm, rated_lift_psi=well.pump_rated_lift_psi,
                     discharge_pressure_psi=pc.discharge_psia[ok] - ATMOSPHERIC_PSIA,
                     intake_pressure_grid_psi=np.maximum(pc.intake_psia[ok] - ATMOSPHERIC_PSIA, 0.0),
                     inflow_grid_bpd=pc.q_bpd[ok], intake_temperature_c=(t_intake_f - 32.0) / 1.8,
                     elastomer=well.elastomer, environment=Environment(), rod_torque_limit_ftlbf=well.rod_torque_limit_ftlbf,
                     motor_hp=well.motor_hp, rpm_min=max(well.rpm_min, 50.0), rpm_max=min(well.rpm_max, 400.0))


def optimize_pcp(well: PcpWellConfig, telemetry: dict, cache: LiftCache | None = None) -> LiftResult:
    _, _, pc = _pump_curves(well, cache)
    system = _pcp_system(well, pc, telemetry)
    rec = optimize_rpm(system)
    rpm_now = finite_or_none(telemetry.get("rpm"))
    q_model = float(scan_rpm(system, [rpm_now]).q_bpd[0]) if rpm_now is not None and rpm_now > 0 else None
    current, delta = _delta(rec.q_bpd, q_model, telemetry)
    return LiftResult("pcp", rec.rpm, rec.q_bpd, rpm_now, current, delta, rec.efficiency_pct, rec.kwh_per_bbl,
                      rec.binding_constraint, [[float(n), float(q)] for n, q in zip(rec.scan.rpm, rec.scan.q_bpd)],
                      {"pcp_elastomer_life_days": rec.run_life_days, "elastomer_thermal_life_days": rec.elastomer_life_days,
                       "torque_ftlbf": rec.torque_ftlbf, "power_kw": rec.motor_kw,
                       "volumetric_efficiency_pct": 100.0 * rec.volumetric_efficiency_frac})


def gas_lift_glpc(well: GasLiftWellConfig, n_points: int = 8):
    """GLPC of a configured gas-lift well (injection Mscf/d vs oil bbl/d) from the nodal engine."""
    fluid = fluid_from_well(well)
    wellbore = wellbore_from_well(well)
    ipr = ipr_from_well(well)
    inj_md = float(np.interp(well.injection_depth_ft, np.asarray(wellbore.tvd_ft), np.asarray(wellbore.md_ft)))
    grid = np.linspace(well.injection_min_mscfd, well.injection_max_mscfd, n_points)
    glpc = glpc_from_nodal(ipr, fluid, wellbore, well.wellhead_pressure_psi + ATMOSPHERIC_PSIA, inj_md, grid,
                           correlation=correlation_for_well(well), n_segments=20, n_rates=20)
    return glpc, fluid, wellbore, inj_md


def optimize_gas_lift(well: GasLiftWellConfig, telemetry: dict, cache: LiftCache | None = None) -> LiftResult:
    glpc, fluid, wellbore, inj_md = _cached(cache, well, "glpc", lambda: gas_lift_glpc(well))
    opt = glpc_optimum(glpc, well.oil_price_usd_per_bbl, well.gas_cost_usd_per_mscf, well.injection_min_mscfd, well.injection_max_mscfd)
    q_inj, q_oil = opt.economic_injection_mscfd, opt.economic_oil_bpd
    if abs(q_inj - well.injection_max_mscfd) < 1e-6 * max(1.0, well.injection_max_mscfd):
        binding = "injection_max"
    elif abs(q_inj - opt.technical_injection_mscfd) < 1e-6 * max(1.0, q_inj):
        binding = "technical_optimum"
    else:
        binding = "economic_optimum"
    wc = fluid.water_cut_frac
    q_liq = q_oil / (1.0 - wc) if wc < 1 else 0.0
    extras: dict[str, Any] = {"technical_optimum_mscfd": opt.technical_injection_mscfd,
                              "technical_optimum_oil_bpd": opt.technical_oil_bpd,
                              "marginal_ratio_bbl_per_mscf": opt.marginal_ratio_bbl_per_mscf}
    t_valve = float(wellbore.temperature_at(inj_md))
    p_cas = casing_pressure_at_depth_psia(well.injection_pressure_psi + ATMOSPHERIC_PSIA, well.injection_depth_ft,
                                          well.injection_gas_specific_gravity, well.surface_temperature_f, t_valve)
    if q_liq > 0 and q_inj > 0:
        p_tub = _cached(cache, well, "tubing_at_valve", lambda: tubing_pressure_at_injection_psia(
            q_liq, q_inj, fluid, wellbore, well.wellhead_pressure_psi + ATMOSPHERIC_PSIA, inj_md,
            correlation=correlation_for_well(well), n_segments=N_SEGMENTS))
        stab = valve_stability(p_cas, p_tub)
        extras.update(casing_pressure_at_valve_psi=p_cas - ATMOSPHERIC_PSIA, tubing_pressure_at_valve_psi=p_tub - ATMOSPHERIC_PSIA,
                      valve_critical_flow=stab.critical_flow, stability=stab.reason)
        if p_cas - p_tub < 100.0:
            binding = "injection_pressure"
    inj_now = finite_or_none(telemetry.get("injection_rate_mscfd"))
    q_model = None
    if inj_now is not None:
        q_model = float(glpc.oil_at(inj_now)) / (1.0 - wc) if wc < 1 else 0.0
    current, delta = _delta(q_liq, q_model, telemetry)
    # lift efficiency: hydraulic power given to the liquid over isothermal compression power of the gas (70 %)
    p_sep = 100.0 + ATMOSPHERIC_PSIA
    comp_kw = (q_inj * 1000.0 / 86400.0 * ATMOSPHERIC_PSIA * 144.0 * math.log(max(well.injection_pressure_psi + ATMOSPHERIC_PSIA, p_sep) / p_sep)
               / 0.7 * 1.355_817_948e-3)
    grad = 0.433 * ((1 - wc) * fluid.oil_sg + wc * fluid.water_sg)
    ipr = ipr_from_well(well)
    pwf = float(np.nan_to_num(ipr.pwf_psi(q_liq))) - ATMOSPHERIC_PSIA
    lift_psi = max(grad * well.perforation_depth_ft + well.wellhead_pressure_psi - pwf, 0.0)
    hyd_kw = q_liq * lift_psi / 58_771.0 * 0.745_699_872
    return LiftResult("gas_lift", q_inj, q_liq, inj_now, current, delta,
                      100.0 * hyd_kw / comp_kw if comp_kw > 0 else 0.0, comp_kw * 24.0 / q_liq if q_liq > 0 else float("inf"),
                      binding, [[float(x), float(y)] for x, y in zip(glpc.injection_mscfd, glpc.oil_bpd)], extras)


_OPTIMIZERS = {"esp": optimize_esp, "srp": optimize_srp, "pcp": optimize_pcp, "gas_lift": optimize_gas_lift}


def optimize_well(well: WellConfig, telemetry: dict | None = None, cache: LiftCache | None = None) -> LiftResult:
    """Run the optimizer of the well's lift type on its configuration and latest telemetry.

    ``cache`` (optional) keeps the configuration-only curves between calls (see :class:`LiftCache`).
    """
    try:
        fn = _OPTIMIZERS[well.lift_type]
    except KeyError:
        raise ValueError(f"no lift optimizer for lift type {well.lift_type!r}") from None
    return fn(well, dict(telemetry or {}), cache)


#: Largest setpoint accepted from telemetry per lift type (the well model's bounds), and its unit; 0 is the lift off.
SETPOINT_MAX = {"esp": 90.0, "srp": 20.0, "pcp": 600.0, "gas_lift": 50_000.0}
SETPOINT_UNIT = {"esp": "Hz", "srp": "1/min", "pcp": "rpm", "gas_lift": "Mscf/d"}
#: Segments of the lifted nodal traverse (those of the natural-flow nodal analysis, :func:`solve_well`).
NODAL_SEGMENTS = 100


@dataclass(frozen=True)
class LiftSetpoint:
    """The setpoint a lifted well's nodal operating point is solved at, and where it came from.

    ``source``: "latest telemetry", "nominal base_frequency_hz" (ESP without telemetry) or "recommended for the
    configured well" (SRP, PCP and gas lift without telemetry: the well model holds no running setpoint);
    ``fallback_reason``: why the telemetry was not used (empty when it was).
    """

    lift_type: str
    key: str
    value: float
    source: str
    fallback_reason: str = ""

    @property
    def lift_off(self) -> bool:
        """Zero frequency, speed or injection: the lift adds nothing and the well is in natural flow."""
        return self.value == 0.0

    @property
    def basis(self) -> str:
        """One line for ``opt_nodal_basis``, e.g. ``esp at frequency_hz = 52.03 Hz (latest telemetry)``."""
        text = f"{self.lift_type} at {self.key} = {self.value:.4g} {SETPOINT_UNIT[self.lift_type]} ({self.source}"
        text += f"; {self.fallback_reason})" if self.fallback_reason else ")"
        return text + (": lift off, natural flow" if self.lift_off else "")


def current_setpoint(well: WellConfig, telemetry: dict | None = None, cache: LiftCache | None = None) -> LiftSetpoint:
    """The well's running setpoint: the latest telemetry value (``CURRENT_SETPOINT_TELEMETRY``) when it is a number
    in [0, ``SETPOINT_MAX``]; else the ESP's nominal (base) frequency within its window, or for SRP, PCP and gas lift
    the optimizer's recommendation for the configured well."""
    lift = well.lift_type
    key = CURRENT_SETPOINT_TELEMETRY[lift]
    raw = (telemetry or {}).get(key)
    value = finite_or_none(raw)
    if value is not None and 0.0 <= value <= SETPOINT_MAX[lift]:
        return LiftSetpoint(lift, key, value, "latest telemetry")
    if raw is None:
        reason = f"no {key} telemetry"
    else:
        reason = f"latest {key} telemetry {raw!r} is not in 0-{SETPOINT_MAX[lift]:g} {SETPOINT_UNIT[lift]}"
    if isinstance(well, EspWellConfig):
        nominal = min(max(well.base_frequency_hz, well.frequency_min_hz), well.frequency_max_hz)
        return LiftSetpoint(lift, key, float(nominal), "nominal base_frequency_hz", reason)
    recommended = optimize_well(well, {}, cache).recommended_setpoint
    return LiftSetpoint(lift, key, float(recommended), "recommended for the configured well", reason)


def lifted_operating_point(well: WellConfig, setpoint: float, cache: LiftCache | None = None,
                           n_segments: int = NODAL_SEGMENTS) -> NodalResult:
    """Nodal operating point of ``well`` with its lift at ``setpoint`` (pressures in the configuration's datum,
    as :func:`tb_bridge.adapters.nodal.solve_well`).

    * ESP: pump gain stages x H(q, f) x 0.433 SG (affinity laws at frequency f; the optimizer's SG);
    * SRP: plunger capacity less rod stretch at ``setpoint`` strokes/min; the intake cannot fall below the
      pump-off pressure (the optimizer's minimum intake pressure);
    * PCP: displacement x rpm less slip;
    * pumps: tubing traverse to the pump, liquid column in the casing below it (:mod:`engines.lift.well_hydraulics`);
    * gas lift: tubing traverse with the injected gas above the operating valve (:class:`engines.nodal.GasInjection`),
      the formation GLR below it.

    A setpoint of 0 is the lift off: the natural-flow operating point.
    """
    if not (math.isfinite(setpoint) and setpoint >= 0):
        raise ValueError(f"setpoint must be a finite number >= 0, got {setpoint}")
    if setpoint == 0:
        return solve_well(well, n_segments=n_segments)
    if isinstance(well, GasLiftWellConfig):
        wb = wellbore_from_well(well)
        inj_md = float(np.interp(well.injection_depth_ft, np.asarray(wb.tvd_ft), np.asarray(wb.md_ft)))
        return solve_well(well, n_segments=n_segments, gas_lift=GasInjection(inj_md, float(setpoint)))
    fluid, wellbore, pc = _pump_curves(well, cache)
    min_intake_psia = ATMOSPHERIC_PSIA
    if isinstance(well, EspWellConfig):
        esp = _esp_system(well, pc)
        gain = lambda q: esp_pressure_gain_psi(esp, q, setpoint)  # noqa: E731
    elif isinstance(well, SrpWellConfig):
        srp = _srp_system(well, pc)
        gain = lambda q: srp_pressure_gain_psi(srp, q, setpoint)  # noqa: E731
        min_intake_psia = srp.min_intake_pressure_psi + ATMOSPHERIC_PSIA
    elif isinstance(well, PcpWellConfig):
        pcp = _pcp_system(well, pc, {})
        gain = lambda q: pcp_pressure_gain_psi(pcp, q, setpoint)  # noqa: E731
    else:
        raise ValueError(f"no lifted operating point for lift type {well.lift_type!r}")
    result = pumped_operating_point(ipr_from_well(well), fluid, wellbore, well.wellhead_pressure_psi + ATMOSPHERIC_PSIA,
                                    _pump_md(well, well.pump_depth_ft), gain, correlation=correlation_for_well(well),
                                    n_segments=n_segments, min_intake_psia=min_intake_psia)
    return to_config_datum(result, ATMOSPHERIC_PSIA)
