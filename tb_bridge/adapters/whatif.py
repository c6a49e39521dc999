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


def projection(result: WhatIfResult, start_ms: int, horizon_h: float = 12.0,
               interval_s: int = 300) -> list[tuple[int, dict[str, float]]]:
    """Projected ``sim_q_bpd`` / ``sim_pwf_psi`` points on the ``interval_s`` grid from ``start_ms`` (floored to
    the grid) to ``horizon_h`` hours ahead: the modified steady operating point, held (a slider change is a new
    steady state; hours of reservoir depletion do not move it measurably)."""
    step_ms = int(interval_s) * 1000
    first = int(start_ms) // step_ms * step_ms
    n = int(round(horizon_h * 3600.0 / interval_s)) + 1
    values = {"sim_q_bpd": round(result.modified.liquid_bpd, 4), "sim_pwf_psi": round(result.modified.pwf_psi, 4)}
    return [(first + k * step_ms, dict(values)) for k in range(n)]
