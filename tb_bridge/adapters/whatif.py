"""What-if simulation of one well: its operating point under modified parameters, at a fixed lift setpoint.

A dashboard slider changes one or more configuration parameters (reservoir pressure, productivity index, water
cut, GOR, wellhead pressure, or any other :class:`~tb_bridge.wells.model.WellConfig` field). The well is then
solved twice with its lift model at the same setpoint (ESP frequency, SRP strokes/min, PCP rpm, gas-lift
injection rate): once as configured, once modified. The setpoint is the latest telemetry value, or, when the
well reports none, the lift optimizer's recommendation for the configured well. Each operating point is the
lift model's liquid rate at that setpoint (the inflow-outflow crossing the lift optimizers use) and the flowing
bottomhole pressure on the well's IPR at that rate; the difference is what the change alone does.

Inflow under a change: for the productivity-index IPRs (Darcy, Vogel, composite) the modified well keeps the
configured well's productivity index J (Darcy and composite: J above the bubble point; Vogel: J = 1.8 qmax / Pr,
Vogel 1968) unless J itself is changed, so a reservoir-pressure change moves the IPR at constant J, as in the
usual what-if (Brown 1984, vol. 4, ch. 2). A well described by a test rate is re-expressed by that test's J for
this. Fetkovich (1973) and Jones-Blount-Glaze (1976) wells come from a multi-rate test at one reservoir
pressure; their what-if of reservoir pressure or J is refused with a clear error rather than guessed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from tb_bridge.adapters.lift import CURRENT_SETPOINT_TELEMETRY, LiftCache, finite_or_none, optimize_well
from tb_bridge.adapters.nodal import ATMOSPHERIC_PSIA, ipr_from_well
from tb_bridge.wells.model import WellConfig, WellConfigError, parse_well_config

#: Fields that identify the well: not what-if parameters.
_IDENTITY_FIELDS = frozenset({"entity_id", "name", "lift_type"})
#: Fields of the single-test description of inflow, replaced by the test's J in a modified well.
_TEST_FIELDS = ("test_rate_bpd", "test_pwf_psi", "test_points")
_PI_MODELS = ("darcy", "vogel", "composite")


class WhatIfError(ValueError):
    """A what-if request that cannot be simulated (unknown parameter, invalid value, no setpoint)."""


@dataclass(frozen=True)
class OperatingPoint:
    """One well at one setpoint: liquid and oil rates (STB/d) and flowing bottomhole pressure (psig)."""

    liquid_bpd: float
    oil_bpd: float
    pwf_psi: float


@dataclass(frozen=True)
class WhatIfResult:
    """The configured and the modified well at the same setpoint (``setpoint_key`` = ``setpoint``)."""

    original: OperatingPoint
    modified: OperatingPoint
    setpoint_key: str
    setpoint: float
    setpoint_source: str  #: "telemetry" (latest value) or "recommended" (the optimizer, for the configured well)
    modified_config: WellConfig

    @property
    def delta_liquid_bpd(self) -> float:
        return self.modified.liquid_bpd - self.original.liquid_bpd

    @property
    def delta_oil_bpd(self) -> float:
        return self.modified.oil_bpd - self.original.oil_bpd

    @property
    def delta_pwf_psi(self) -> float:
        return self.modified.pwf_psi - self.original.pwf_psi

    @property
    def basis(self) -> str:
        """One line naming the setpoint held fixed, e.g. ``frequency_hz = 55 (latest telemetry)``."""
        where = "latest telemetry" if self.setpoint_source == "telemetry" else "recommended for the configured well"
        return f"{self.setpoint_key} = {self.setpoint:.4g} ({where})"


def productivity_index(well: WellConfig) -> float:
    """The configured well's productivity index J (STB/d/psi) of a Darcy, Vogel or composite IPR."""
    ipr = ipr_from_well(well)
    if hasattr(ipr, "pi_bpd_psi"):
        return float(ipr.pi_bpd_psi)
    return 1.8 * float(ipr.qmax_bpd) / float(ipr.reservoir_pressure_psi)  # Vogel (1968): J = 1.8 qmax / Pr


def unknown_parameters_error(well: WellConfig, names: Any) -> WhatIfError | None:
    """The error naming ``names`` that are not what-if parameters of ``well`` (``None`` when all are)."""
    unknown = sorted(set(names) - (set(type(well).model_fields) - _IDENTITY_FIELDS))
    if not unknown:
        return None
    return WhatIfError(f"unknown what-if parameter(s) for a {well.lift_type} well: {', '.join(unknown)}")


def modified_config(well: WellConfig, parameters: Mapping[str, Any]) -> WellConfig:
    """``well`` with ``parameters`` applied and validated by the well model (raises :class:`WhatIfError`)."""
    error = unknown_parameters_error(well, parameters)
    if error is not None:
        raise error
    data = well.model_dump(mode="json")
    inflow_change = {"reservoir_pressure_psi", "bubble_point_psi", "productivity_index_bpd_psi"} & set(parameters)
    model = parameters.get("ipr_model", well.ipr_model)
    if inflow_change and not set(_TEST_FIELDS) & set(parameters):
        if model not in _PI_MODELS:
            raise WhatIfError(f"a what-if of {', '.join(sorted(inflow_change))} needs a productivity-index IPR "
                              f"({', '.join(_PI_MODELS)}); this well's {model} IPR comes from a multi-rate test "
                              "at one reservoir pressure")
        if any(data.get(f) is not None for f in _TEST_FIELDS):  # hold the test's J, not the test itself
            data["productivity_index_bpd_psi"] = productivity_index(well)
            data.update({f: None for f in _TEST_FIELDS})
    data.update(parameters)
    try:
        return parse_well_config(well.entity_id, well.name, data)
    except WellConfigError as exc:
        raise WhatIfError("; ".join(exc.problems)) from None


def operating_point(well: WellConfig, setpoint: float, cache: LiftCache | None = None) -> OperatingPoint:
    """The lift model's operating point of ``well`` at ``setpoint`` (its lift type's decision variable)."""
    key = CURRENT_SETPOINT_TELEMETRY[well.lift_type]
    result = optimize_well(well, {key: setpoint}, cache=cache)  # no measured rate: current_q_bpd is the model's
    liquid = finite_or_none(result.current_q_bpd)
    if liquid is None:
        raise WhatIfError(f"{key} = {setpoint:g} is outside the {well.lift_type} model's range")
    liquid = max(liquid, 0.0)
    pwf_abs = float(ipr_from_well(well).pwf_psi(liquid))
    if not math.isfinite(pwf_abs):
        raise WhatIfError(f"the {well.lift_type} model's rate {liquid:.1f} bbl/d exceeds the well's open flow")
    return OperatingPoint(liquid, liquid * (1.0 - well.water_cut_frac), pwf_abs - ATMOSPHERIC_PSIA)


def what_if(well: WellConfig, parameters: Mapping[str, Any], telemetry: Mapping[str, Any] | None = None,
            cache: LiftCache | None = None) -> WhatIfResult:
    """Solve ``well`` as configured and with ``parameters`` changed, at the same setpoint (module docstring)."""
    modified = modified_config(well, parameters)
    key = CURRENT_SETPOINT_TELEMETRY[well.lift_type]
    setpoint = finite_or_none((telemetry or {}).get(key))
    source = "telemetry"
    if setpoint is None:
        setpoint = finite_or_none(optimize_well(well, {}, cache=cache).recommended_setpoint)
        source = "recommended"
        if setpoint is None:
            raise WhatIfError(f"no {key} in the telemetry and no recommended {key} for the configured well")
    return WhatIfResult(operating_point(well, setpoint, cache), operating_point(modified, setpoint, cache),
                        key, setpoint, source, modified)


# --- simulation sessions (issue 19): public parameters, the lift model at a setpoint, decline projection -------

@dataclass(frozen=True)
class SimParameter:
    """One what-if parameter as the dashboard names it (``sim_param_<name>``).

    ``kind``: ``setpoint`` (the lift type's decision variable, evaluated by the lift model) or ``well`` (a well
    parameter, applied to the configuration). ``target``: the telemetry key of the setpoint, or the
    :class:`~tb_bridge.wells.model.WellConfig` field the value ends up in (``scale`` converts: field = value *
    scale). ``low``/``high``: accepted range (inclusive) in ``unit``."""

    name: str
    kind: str
    lift_types: tuple[str, ...]
    target: str
    unit: str
    low: float
    high: float
    scale: float = 1.0
    description: str = ""


_ALL_LIFT = ("esp", "srp", "pcp", "gas_lift")

#: ``ln(re/rw) - 0.75`` of the radial-flow productivity index used to turn skin into J (re = 745 ft, a 40-acre
#: drainage circle, rw = 0.328 ft: ln(2271) - 0.75 = 6.98): J(s) = J(0) * 7.0 / (7.0 + s) (Brown 1984, vol. 4).
SKIN_LOG_TERM = 7.0

#: Every what-if parameter, its model field (or setpoint telemetry key), unit and range: the one table.
SIM_PARAMETERS: dict[str, SimParameter] = {p.name: p for p in (
    SimParameter("freq_hz", "setpoint", ("esp",), "frequency_hz", "Hz", 30.0, 90.0,
                 description="ESP drive frequency (the ESP model's range; the well's window is checked as a warning)"),
    SimParameter("spm", "setpoint", ("srp",), "spm", "strokes/min", 1.0, 20.0, description="rod-pump strokes per minute"),
    SimParameter("rpm", "setpoint", ("pcp",), "rpm", "rev/min", 10.0, 600.0, description="PCP drive speed"),
    SimParameter("gas_injection_rate", "setpoint", ("gas_lift",), "injection_rate_mscfd", "Mscf/d", 0.0, 50_000.0,
                 description="lift-gas injection rate"),
    SimParameter("water_cut_pct", "well", _ALL_LIFT, "water_cut_frac", "%", 0.0, 99.0, 0.01,
                 "water cut of the produced liquid (field water_cut_frac = value / 100)"),
    SimParameter("reservoir_pressure_psi", "well", _ALL_LIFT, "reservoir_pressure_psi", "psi", 100.0, 20_000.0,
                 description="average reservoir pressure Pr (productivity index held)"),
    SimParameter("skin_factor", "well", _ALL_LIFT, "productivity_index_bpd_psi", "dimensionless", -5.0, 50.0,
                 description="skin s; J = J0 * 7.0 / (7.0 + s) with the configured J as the undamaged J0 (s = 0)"),
    SimParameter("productivity_index_bpd_psi", "well", _ALL_LIFT, "productivity_index_bpd_psi", "bbl/d/psi", 0.01, 100.0,
                 description="straight-line productivity index J above the bubble point"),
    SimParameter("gor_scf_stb", "well", _ALL_LIFT, "gor_scf_stb", "scf/STB", 0.0, 50_000.0,
                 description="producing gas-oil ratio"),
    SimParameter("wellhead_pressure_psi", "well", _ALL_LIFT, "wellhead_pressure_psi", "psi", 0.0, 10_000.0,
                 description="flowing wellhead (tubing) pressure, gauge"),
)}

#: The setpoint parameter of each lift type.
SETPOINT_PARAMETER = {p.lift_types[0]: p.name for p in SIM_PARAMETERS.values() if p.kind == "setpoint"}


def parameters_for(lift_type: str) -> tuple[str, ...]:
    """The what-if parameters of a lift type: its setpoint first, then the well parameters (table order)."""
    if lift_type not in SETPOINT_PARAMETER:
        raise WhatIfError(f"no what-if simulation for lift type {lift_type!r} (esp, srp, pcp, gas_lift)")
    return tuple(n for n, p in SIM_PARAMETERS.items() if lift_type in p.lift_types)


def validate_parameters(lift_type: str, parameters: Mapping[str, Any]) -> dict[str, float]:
    """``parameters`` as finite floats inside their ranges; raises :class:`WhatIfError` naming the first
    unknown parameter (for this lift type) or bad value."""
    allowed = parameters_for(lift_type)
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise WhatIfError(f"unknown what-if parameter(s) for a {lift_type} well: {', '.join(unknown)} "
                          f"(known: {', '.join(allowed)})")
    out: dict[str, float] = {}
    for name, raw in parameters.items():
        spec = SIM_PARAMETERS[name]
        value = finite_or_none(raw) if not isinstance(raw, bool) else None
        if value is None:
            raise WhatIfError(f"{name} must be a finite number, got {raw!r}")
        if not spec.low <= value <= spec.high:
            raise WhatIfError(f"{name} = {value:g} {spec.unit} is out of range [{spec.low:g}, {spec.high:g}]")
        out[name] = value
    return out


def original_parameters(well: WellConfig, telemetry: Mapping[str, Any] | None = None,
                        cache: LiftCache | None = None) -> dict[str, float]:
    """Every what-if parameter of ``well`` as it is now: the setpoint from the latest telemetry (else the lift
    optimizer's recommendation for the configured well), the well parameters from the configuration (skin 0;
    productivity index the inflow's J, ``None`` for a multi-rate-test IPR that has none)."""
    setpoint_name = SETPOINT_PARAMETER.get(well.lift_type)
    if setpoint_name is None:
        raise WhatIfError(f"no what-if simulation for lift type {well.lift_type!r} (esp, srp, pcp, gas_lift)")
    key = SIM_PARAMETERS[setpoint_name].target
    setpoint = finite_or_none((telemetry or {}).get(key))
    if setpoint is None:
        setpoint = finite_or_none(optimize_well(well, {}, cache=cache).recommended_setpoint)
        if setpoint is None:
            raise WhatIfError(f"no {key} in the telemetry and no recommended {key} for the configured well")
    out: dict[str, Any] = {setpoint_name: round(setpoint, 6)}
    out["water_cut_pct"] = round(100.0 * well.water_cut_frac, 6)
    out["reservoir_pressure_psi"] = well.reservoir_pressure_psi
    out["skin_factor"] = 0.0
    out["productivity_index_bpd_psi"] = (round(productivity_index(well), 6) if well.ipr_model in _PI_MODELS else None)
    out["gor_scf_stb"] = well.gor_scf_stb
    out["wellhead_pressure_psi"] = well.wellhead_pressure_psi
    return out


def apply_parameters(well: WellConfig, original: Mapping[str, Any], parameters: Mapping[str, float]) -> WellConfig:
    """``well`` with the well parameters of ``parameters`` (public names) that differ from ``original`` applied
    through the parameter table (skin and J combine: J = J_param * 7 / (7 + s)); validated by the well model."""
    changed = {n: v for n, v in parameters.items()
               if SIM_PARAMETERS[n].kind == "well" and (original.get(n) is None or abs(v - float(original[n])) > 1e-9)}
    fields: dict[str, Any] = {}
    for name, value in changed.items():
        spec = SIM_PARAMETERS[name]
        if name in ("skin_factor", "productivity_index_bpd_psi"):
            continue
        fields[spec.target] = value * spec.scale
    if "skin_factor" in changed or "productivity_index_bpd_psi" in changed:
        j0 = parameters.get("productivity_index_bpd_psi", original.get("productivity_index_bpd_psi"))
        if j0 is None:
            raise WhatIfError(f"a what-if of skin_factor or productivity_index_bpd_psi needs a productivity-index IPR "
                              f"({', '.join(_PI_MODELS)}); this well's {well.ipr_model} IPR comes from a multi-rate test")
        skin = parameters.get("skin_factor", 0.0)
        fields["productivity_index_bpd_psi"] = float(j0) * SKIN_LOG_TERM / (SKIN_LOG_TERM + skin)
    return modified_config(well, fields) if fields else well


@dataclass(frozen=True)
class LiftPoint:
    """The lift model of one well at one setpoint (gauge pressures; ``None`` where a quantity does not apply).

    setpoint in the lift type's unit (Hz, strokes/min, rev/min, Mscf/d); liquid_bpd, oil_bpd (STB/d); pwf_psi,
    intake_pressure_psi (pump intake, psi); efficiency_pct (lift system efficiency, %); kwh_per_bbl (surface
    energy per barrel of liquid); power_kw (surface input power, kW); fillage_pct (SRP pump fillage, %);
    injection_pressure_psi (gas lift: surface casing injection pressure, psi); warnings: constraint
    violations in words; ipr_curve / vlp_curve: [[q_bpd, pwf_psi], ...], the VLP with the lift at the setpoint."""

    setpoint: float
    liquid_bpd: float
    oil_bpd: float
    pwf_psi: float
    intake_pressure_psi: float | None
    efficiency_pct: float
    kwh_per_bbl: float
    power_kw: float
    fillage_pct: float | None
    injection_pressure_psi: float | None
    warnings: tuple[str, ...]
    ipr_curve: list[list[float]]
    vlp_curve: list[list[float]]


def _curve(points: Any) -> list[list[float]]:
    out = []
    for q, p in points:
        if math.isfinite(float(q)) and math.isfinite(float(p)):
            out.append([round(float(q), 3), round(float(p), 3)])
    return out


def _ipr_curve(well: WellConfig) -> list[list[float]]:
    from engines.nodal.operating_point import ipr_curve

    pts = ipr_curve(ipr_from_well(well))
    return _curve([(q, p - ATMOSPHERIC_PSIA) for q, p in pts])


def _pumped_vlp(well: WellConfig, pc: Any, gain: Any) -> list[list[float]]:
    """The VLP seen at the perforations with the pump at the setpoint: pwf_IPR(q) + (discharge needed - intake)(q)
    - pump gain(q) on the optimizers' rate grid; it crosses the IPR where the pump lifts exactly the inflow."""
    import numpy as np

    q = np.asarray(pc.q_bpd, dtype=float)
    pwf = np.asarray(ipr_from_well(well).pwf_psi(q), dtype=float) - ATMOSPHERIC_PSIA
    vlp = pwf + (np.asarray(pc.discharge_psia) - np.asarray(pc.intake_psia)) - np.asarray(gain(q), dtype=float)
    return _curve(zip(q, vlp))


def _pwf(well: WellConfig, liquid_bpd: float) -> float:
    pwf_abs = float(ipr_from_well(well).pwf_psi(liquid_bpd))
    if not math.isfinite(pwf_abs):
        raise WhatIfError(f"the {well.lift_type} model's rate {liquid_bpd:.1f} bbl/d exceeds the well's open flow")
    return pwf_abs - ATMOSPHERIC_PSIA


def lift_point(well: WellConfig, setpoint: float, telemetry: Mapping[str, Any] | None = None,
               cache: LiftCache | None = None) -> LiftPoint:
    """The lift model of ``well``'s lift type at ``setpoint`` (engines.lift scans at that one value) with its
    energy, efficiency, constraint checks and curves. Raises :class:`WhatIfError` when the model has no
    operating point there."""
    from tb_bridge.adapters import lift as lift_adapter

    telemetry = dict(telemetry or {})
    setpoint = float(setpoint)
    try:
        if well.lift_type == "esp":
            return _esp_point(well, setpoint, cache, lift_adapter)
        if well.lift_type == "srp":
            return _srp_point(well, setpoint, cache, lift_adapter)
        if well.lift_type == "pcp":
            return _pcp_point(well, setpoint, telemetry, cache, lift_adapter)
        if well.lift_type == "gas_lift":
            return _gas_lift_point(well, setpoint, cache, lift_adapter)
    except WhatIfError:
        raise
    except ValueError as exc:  # the engines' refusals (no liquid column at the pump, bad window)
        raise WhatIfError(str(exc)) from None
    raise WhatIfError(f"no what-if simulation for lift type {well.lift_type!r}")


def _esp_point(well: Any, f_hz: float, cache: LiftCache | None, la: Any) -> LiftPoint:
    from engines.lift.esp import pump_pressure_gain_psi, scan_frequencies

    _, _, pc = la._pump_curves(well, cache)
    system = la._esp_system(well, pc)
    s = scan_frequencies(system, [f_hz])
    q = finite_or_none(s.q_bpd[0])
    if q is None:
        raise WhatIfError(f"freq_hz = {f_hz:g}: the pump cannot lift the well at this frequency (no operating point)")
    warnings = []
    if not well.frequency_min_hz <= f_hz <= well.frequency_max_hz:
        warnings.append(f"frequency {f_hz:g} Hz outside the drive window {well.frequency_min_hz:g}-{well.frequency_max_hz:g} Hz")
    names = {"motor_load": f"motor overloaded ({100 * float(s.motor_load_frac[0]):.0f} % load)",
             "min_intake_pressure": f"intake pressure {float(s.intake_pressure_psi[0]):.0f} psi below the minimum "
                                    f"{well.min_intake_pressure_psi:g} psi",
             "gas_fraction": f"free gas at the intake {100 * float(s.gas_fraction[0]):.0f} %, above the pump's "
                             f"{100 * system.max_gas_fraction:.0f} % limit",
             "downthrust": "pump off its operating window (downthrust: rate below the recommended range)",
             "upthrust": "pump off its operating window (upthrust: rate above the recommended range)",
             "motor_cooling": f"motor cooling velocity {float(s.cooling_velocity_ft_s[0]):.2f} ft/s below 1 ft/s"}
    warnings += [text for key, text in names.items() if bool(s.violations[key][0])]
    return LiftPoint(f_hz, q, q * (1.0 - well.water_cut_frac), _pwf(well, q), float(s.intake_pressure_psi[0]),
                     float(s.efficiency_pct[0]), float(s.kwh_per_bbl[0]), float(s.power_kw[0]), None, None,
                     tuple(warnings), _ipr_curve(well),
                     _pumped_vlp(well, pc, lambda qq: pump_pressure_gain_psi(system, qq, f_hz)))


def _srp_point(well: Any, spm: float, cache: LiftCache | None, la: Any) -> LiftPoint:
    from engines.lift.srp import _cards, pump_pressure_gain_psi, scan_spm
    from engines.lift.rod_loading import rod_fall_limit_spm
    from engines.lift.srp import HHP_PER_BPD_PSI

    _, _, pc = la._pump_curves(well, cache)
    system = la._srp_system(well, pc)
    s = scan_spm(system, [spm])
    q, fill, p_in, fo = float(s.q_bpd[0]), float(s.fillage_frac[0]), float(s.intake_pressure_psi[0]), float(s.fluid_load_lbf[0])
    pred, loading = _cards(system, spm, fo, fill)
    prhp = max(pred.surface.work_ftlbf(), 0.0) * spm / 33_000.0
    kw = prhp * 0.745_699_872 / system.surface_efficiency
    lift_kw = q * max(float(system.discharge_psi(p_in)) - p_in, 0.0) * HHP_PER_BPD_PSI * 0.745_699_872
    warnings = []
    if not well.spm_min <= spm <= well.spm_max:
        warnings.append(f"{spm:g} strokes/min outside the unit's window {well.spm_min:g}-{well.spm_max:g}")
    fall = rod_fall_limit_spm(system.stroke_in, system.rod_fall_fraction)
    if spm > fall + 1e-9:
        warnings.append(f"{spm:g} strokes/min above the rod-fall limit {fall:.1f}")
    if fill < system.min_fillage - 1e-9:
        warnings.append(f"pump fillage {100 * fill:.0f} % below {100 * system.min_fillage:.0f} % (pumped off)")
    if p_in < system.min_intake_pressure_psi - 1e-6:
        warnings.append(f"intake pressure {p_in:.0f} psi below the minimum {system.min_intake_pressure_psi:g} psi")
    if loading > system.max_rod_loading_pct:
        warnings.append(f"rod load {loading:.0f} % of the modified-Goodman allowable")
    return LiftPoint(spm, q, q * (1.0 - well.water_cut_frac), _pwf(well, q), p_in,
                     100.0 * lift_kw / kw if kw > 0 else 0.0, kw * 24.0 / q if q > 0 else float("inf"), kw,
                     100.0 * fill, None, tuple(warnings), _ipr_curve(well),
                     _pumped_vlp(well, pc, lambda qq: pump_pressure_gain_psi(system, qq, spm)))


def _pcp_point(well: Any, rpm: float, telemetry: dict, cache: LiftCache | None, la: Any) -> LiftPoint:
    from engines.lift.pcp import pump_pressure_gain_psi, scan_rpm
    from engines.lift.srp import HHP_PER_BPD_PSI

    _, _, pc = la._pump_curves(well, cache)
    system = la._pcp_system(well, pc, telemetry)
    s = scan_rpm(system, [rpm])
    q, p_in, dp = float(s.q_bpd[0]), float(s.intake_pressure_psi[0]), float(s.dp_psi[0])
    torque, hp = float(s.torque_ftlbf[0]), float(s.hp[0])
    kw = hp * 0.745_699_872 / system.drive_efficiency
    lift_kw = q * dp * HHP_PER_BPD_PSI * 0.745_699_872
    warnings = []
    if not well.rpm_min <= rpm <= well.rpm_max:
        warnings.append(f"{rpm:g} rpm outside the drive window {well.rpm_min:g}-{well.rpm_max:g} rpm")
    if torque > system.rod_torque_limit_ftlbf:
        warnings.append(f"rod torque {torque:.0f} ft-lbf above the limit {system.rod_torque_limit_ftlbf:g} ft-lbf")
    if hp > system.motor_hp:
        warnings.append(f"motor power {hp:.1f} hp above the nameplate {system.motor_hp:g} hp")
    if dp > system.rated_lift_psi:
        warnings.append(f"pump differential {dp:.0f} psi above the rated lift {system.rated_lift_psi:g} psi")
    if p_in < system.min_intake_pressure_psi - 1e-6:
        warnings.append(f"intake pressure {p_in:.0f} psi below the minimum {system.min_intake_pressure_psi:g} psi")
    if float(s.run_life_days[0]) < system.min_run_life_days:
        warnings.append(f"expected run life {float(s.run_life_days[0]):.0f} days below {system.min_run_life_days:g} days")
    return LiftPoint(rpm, q, q * (1.0 - well.water_cut_frac), _pwf(well, q), p_in,
                     100.0 * lift_kw / kw if kw > 0 else 0.0, kw * 24.0 / q if q > 0 else float("inf"), kw,
                     None, None, tuple(warnings), _ipr_curve(well),
                     _pumped_vlp(well, pc, lambda qq: pump_pressure_gain_psi(system, qq, rpm)))


def _gas_lift_point(well: Any, inj: float, cache: LiftCache | None, la: Any) -> LiftPoint:
    import numpy as np

    from engines.lift.gas_lift import casing_pressure_at_depth_psia, tubing_pressure_at_injection_psia, valve_stability
    from engines.nodal.traverse import GasInjection, bottomhole_pressure

    glpc, fluid, wellbore, inj_md = la._cached(cache, well, "glpc", lambda: la.gas_lift_glpc(well))
    wc = fluid.water_cut_frac
    oil = float(glpc.oil_at(inj))
    q = oil / (1.0 - wc) if wc < 1 else 0.0
    warnings = []
    if not well.injection_min_mscfd <= inj <= well.injection_max_mscfd:
        warnings.append(f"injection {inj:g} Mscf/d outside the curve's range {well.injection_min_mscfd:g}-"
                        f"{well.injection_max_mscfd:g} Mscf/d (rate held at the range's end)")
    pwh = well.wellhead_pressure_psi + ATMOSPHERIC_PSIA
    t_valve = float(wellbore.temperature_at(inj_md))
    p_cas = casing_pressure_at_depth_psia(well.injection_pressure_psi + ATMOSPHERIC_PSIA, well.injection_depth_ft,
                                          well.injection_gas_specific_gravity, well.surface_temperature_f, t_valve)
    if q > 0 and inj > 0:
        p_tub = tubing_pressure_at_injection_psia(q, inj, fluid, wellbore, pwh, inj_md,
                                                  correlation=la.correlation_for_well(well), n_segments=la.N_SEGMENTS)
        stab = valve_stability(p_cas, p_tub)
        if not stab.stable:
            warnings.append(f"unstable injection: {stab.reason}")
        if p_cas - p_tub < 100.0:
            warnings.append(f"injection pressure margin at the valve {p_cas - p_tub:.0f} psi below 100 psi")
    # efficiency and energy as the gas-lift optimizer counts them (tb_bridge.adapters.lift.optimize_gas_lift):
    # isothermal compression at 70 % from a 100 psig separator, hydraulic power given to the liquid
    p_sep = 100.0 + ATMOSPHERIC_PSIA
    comp_kw = (inj * 1000.0 / 86400.0 * ATMOSPHERIC_PSIA * 144.0
               * math.log(max(well.injection_pressure_psi + ATMOSPHERIC_PSIA, p_sep) / p_sep) / 0.7 * 1.355_817_948e-3)
    pwf = _pwf(well, q)
    grad = 0.433 * ((1 - wc) * fluid.oil_sg + wc * fluid.water_sg)
    lift_psi = max(grad * well.perforation_depth_ft + well.wellhead_pressure_psi - pwf, 0.0)
    hyd_kw = q * lift_psi / 58_771.0 * 0.745_699_872
    ipr = ipr_from_well(well)
    rates = ipr.aof_bpd * np.linspace(0.005, 1.0, 20)
    vlp = bottomhole_pressure(rates, fluid, wellbore, pwh, correlation=la.correlation_for_well(well), n_segments=20,
                              gas_lift=GasInjection(inj_md, inj) if inj > 0 else None)
    return LiftPoint(inj, q, oil, pwf, None, 100.0 * hyd_kw / comp_kw if comp_kw > 0 else 0.0,
                     comp_kw * 24.0 / q if q > 0 else float("inf"), comp_kw, None, well.injection_pressure_psi,
                     tuple(warnings), _ipr_curve(well), _curve(zip(rates, np.asarray(vlp) - ATMOSPHERIC_PSIA)))


@dataclass(frozen=True)
class SimulationRun:
    """One what-if run: the well as configured at the original setpoint, and as modified at the new one."""

    lift_type: str
    setpoint_parameter: str
    original: LiftPoint
    modified: LiftPoint
    modified_config: WellConfig

    @property
    def delta_bpd(self) -> float:
        """Modified minus original liquid rate (bbl/d)."""
        return self.modified.liquid_bpd - self.original.liquid_bpd

    @property
    def delta_pct(self) -> float | None:
        """The rate change in % of the original rate (``None`` when the original rate is 0)."""
        return 100.0 * self.delta_bpd / self.original.liquid_bpd if self.original.liquid_bpd > 0 else None

    @property
    def efficiency_delta_pct(self) -> float:
        """Modified minus original lift efficiency (percentage points)."""
        return self.modified.efficiency_pct - self.original.efficiency_pct

    @property
    def warnings(self) -> tuple[str, ...]:
        """Constraint violations at the modified operating point."""
        return self.modified.warnings

    def recommended_action(self) -> str:
        """One line for the operator: apply, do not apply (and why), or no material change."""
        sp = SIM_PARAMETERS[self.setpoint_parameter]
        change = f"{self.delta_bpd:+.1f} bbl/d" + (f" ({self.delta_pct:+.1f} %)" if self.delta_pct is not None else "")
        if self.warnings:
            return f"do not apply: {change}, but {'; '.join(self.warnings)}"
        if self.delta_bpd > max(0.5, 0.005 * self.original.liquid_bpd):
            moved = abs(self.modified.setpoint - self.original.setpoint) > 1e-9
            where = f" at {sp.name} = {self.modified.setpoint:g} {sp.unit}" if moved else ""
            return f"apply: {change}{where} within every constraint"
        if self.delta_bpd < -max(0.5, 0.005 * self.original.liquid_bpd):
            return f"do not apply: {change} (less production)"
        return f"no material change ({change})"


def simulate(well: WellConfig, original: Mapping[str, Any], parameters: Mapping[str, float],
             telemetry: Mapping[str, Any] | None = None, cache: LiftCache | None = None) -> SimulationRun:
    """The configured well at its original setpoint and the modified well (``parameters`` over ``original``,
    public names) at the modified setpoint, both through the lift model of the well's lift type."""
    setpoint_name = SETPOINT_PARAMETER[well.lift_type]
    modified = apply_parameters(well, original, parameters)
    sp_orig = float(original[setpoint_name])
    sp_new = float(parameters.get(setpoint_name, sp_orig))
    return SimulationRun(well.lift_type, setpoint_name, lift_point(well, sp_orig, telemetry, cache),
                         lift_point(modified, sp_new, telemetry, cache), modified)


def comparison_table(run: SimulationRun) -> list[dict[str, Any]]:
    """Original vs modified, one row per quantity: ``{"quantity", "unit", "original", "modified", "delta"}``."""
    sp = SIM_PARAMETERS[run.setpoint_parameter]
    rows = [("setpoint " + sp.name, sp.unit, run.original.setpoint, run.modified.setpoint),
            ("liquid rate", "bbl/d", run.original.liquid_bpd, run.modified.liquid_bpd),
            ("oil rate", "bbl/d", run.original.oil_bpd, run.modified.oil_bpd),
            ("flowing bottomhole pressure", "psi", run.original.pwf_psi, run.modified.pwf_psi),
            ("pump intake pressure", "psi", run.original.intake_pressure_psi, run.modified.intake_pressure_psi),
            ("pump fillage", "%", run.original.fillage_pct, run.modified.fillage_pct),
            ("lift efficiency", "%", run.original.efficiency_pct, run.modified.efficiency_pct),
            ("energy", "kWh/bbl", run.original.kwh_per_bbl, run.modified.kwh_per_bbl),
            ("surface power", "kW", run.original.power_kw, run.modified.power_kw),
            ("injection pressure", "psi", run.original.injection_pressure_psi, run.modified.injection_pressure_psi)]

    def num(x: Any) -> float | None:
        v = finite_or_none(x)
        return None if v is None else round(v, 4)

    out = []
    for name, unit, a, b in rows:
        if a is None and b is None:
            continue
        a, b = num(a), num(b)
        out.append({"quantity": name, "unit": unit, "original": a, "modified": b,
                    "delta": None if a is None or b is None else round(b - a, 4)})
    return out


# --- decline projection ---------------------------------------------------------------------------------------
DAY_MS = 86_400_000


@dataclass(frozen=True)
class DeclineBasis:
    """The relative decline applied to the new operating point: ``factor(offset_ms)`` = q(now + offset) / q(now)
    of the Arps curve fitted on the well's rate history; ``params`` ``None`` when no fit was possible (then
    the factor is 1 and ``description`` says why)."""

    params: Any
    t_now_days: float
    source: str
    description: str

    def factors(self, offsets_ms: Any) -> Any:
        import numpy as np

        offsets = np.asarray(offsets_ms, dtype=float)
        if self.params is None:
            return np.ones(offsets.shape)
        q_now = float(self.params.rate(self.t_now_days))
        if not q_now > 0:
            return np.ones(offsets.shape)
        return np.asarray(self.params.rate(self.t_now_days + offsets / DAY_MS), dtype=float) / q_now


def fit_decline(t_ms: Any, rate_bpd: Any, now_ms: int, source: str, *, economic_limit_bpd: float = 5.0,
                seed: int = 0) -> DeclineBasis:
    """Arps decline (engines.dca, AICc model choice) fitted on ``rate_bpd`` at ``t_ms``; a history too short or
    flat to fit gives a factor of 1 with the reason in ``description``."""
    import numpy as np

    from engines.dca import DcaSettings, analyze_decline

    t = np.asarray(t_ms, dtype=np.int64)
    q = np.asarray(rate_bpd, dtype=float)
    ok = np.isfinite(q) & (q > 0)
    if ok.sum() < 3:
        return DeclineBasis(None, 0.0, source, f"no decline: {int(ok.sum())} positive rate samples from {source}")
    t, q = t[ok], q[ok]
    t_days = (t - t[0]) / DAY_MS
    try:
        result = analyze_decline(t_days, q, kind="rate",
                                 settings=DcaSettings(economic_limit_bpd=min(economic_limit_bpd, 0.5 * float(q.min())),
                                                      n_trials=50, seed=seed))
    except (ValueError, ArithmeticError) as exc:
        return DeclineBasis(None, 0.0, source, f"no decline: the fit on {source} failed ({exc})")
    if result.no_decline:  # flat, rising or just restarted: no decline to project (factor 1)
        return DeclineBasis(None, 0.0, source, f"no decline: {result.no_decline_reason}")
    # the curve's t = 0 is the start of the fitted segment (the restart after the last long shut-in)
    t_now = (int(now_ms) - int(t[0])) / DAY_MS - result.segment_start_days
    return DeclineBasis(result.params, t_now, source,
                        f"{result.model} decline (Di {result.di_pct_month:.3g} %/month, b {result.b_factor:.3g}) "
                        f"fitted on {int(ok.sum())} points from {source}")


def projection_values(run: SimulationRun, factors: Any) -> dict[str, list[float]]:
    """The projected quantities by meaning (keys.simulation_projection_points names them): the setpoint (held),
    the liquid rate (the new operating point times the decline factors), and the lift type's third quantity:
    ESP intake pressure and gas-lift injection pressure held at the new operating point, PCP motor power held,
    SRP fillage following the rate at the constant pump capacity of the setpoint."""
    m = run.modified
    n = len(factors)
    out = {"setpoint": [m.setpoint] * n, "rate_bpd": [m.liquid_bpd * float(f) for f in factors]}
    if run.lift_type == "esp":
        out["third"] = [m.intake_pressure_psi] * n
    elif run.lift_type == "srp":
        out["third"] = [min(100.0, float(m.fillage_pct or 0.0) * float(f)) for f in factors]
    elif run.lift_type == "pcp":
        out["third"] = [m.power_kw] * n
    else:
        out["third"] = [m.injection_pressure_psi] * n
    return out
