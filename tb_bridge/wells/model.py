"""The well model: one typed, validated record of every static parameter the engines need.

ThingsBoard stores a well's configuration as flat attributes (client or shared scope), so the
model is flat too: one attribute per field, units in the name (oilfield units: psi, ft, in, bbl/d,
Mscf/d, degF, cp). Lists (rod string, deviation survey, test points) are JSON-valued attributes.

``parse_well_config(entity_id, name, attributes)`` picks the model by ``lift_type`` and raises
:class:`WellConfigError` with one readable line per problem; the service turns that into an
``opt_error`` attribute for that well only.
"""
from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

LiftType = Literal["esp", "srp", "pcp", "gas_lift", "natural_flow"]
LIFT_TYPES: tuple[str, ...] = ("esp", "srp", "pcp", "gas_lift", "natural_flow")

#: ThingsBoard device-profile names (what `TbDeviceTypeSwitchNode` routes on) for each lift type.
DEVICE_PROFILE_BY_LIFT_TYPE: dict[str, str] = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GasLift",
                                               "natural_flow": "NaturalFlow"}
LIFT_TYPE_BY_DEVICE_PROFILE: dict[str, str] = {v.lower(): k for k, v in DEVICE_PROFILE_BY_LIFT_TYPE.items()}

IprModelName = Literal["vogel", "darcy", "composite", "fetkovich", "jones"]
VlpCorrelationName = Literal["beggs_brill", "hagedorn_brown", "hagedorn_brown_original", "hagedorn_brown_guo", "no_slip"]


class WellConfigError(ValueError):
    """A well's configuration cannot be used; ``problems`` lists one message per field."""

    def __init__(self, entity_id: str, problems: list[str], name: str | None = None):
        self.entity_id = entity_id
        self.name = name
        self.problems = problems
        super().__init__(f"well {well_label(entity_id, name)}: " + "; ".join(problems))


def well_label(entity_id: str, name: str | None) -> str:
    """How messages name a well: ``NAME (id ID)``, or the id alone when the name is unknown."""
    return f"{name} (id {entity_id})" if name and name != entity_id else entity_id


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_non_finite(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"{key} is not a finite number ({value})")
        return data


class SurveyStation(_Strict):
    """One deviation-survey station: measured depth, true vertical depth (ft) and inclination from vertical (deg)."""

    md_ft: float = Field(ge=0)
    tvd_ft: float = Field(ge=0)
    inclination_deg: float = Field(ge=0, le=180)


class TemperatureStation(_Strict):
    """One flowing temperature-survey station: measured depth (ft) and temperature (degF)."""

    md_ft: float = Field(ge=0)
    temperature_f: float = Field(gt=-40, lt=700)


class RodSection(_Strict):
    """One section of a (tapered) sucker-rod string, listed from the surface down."""

    diameter_in: float = Field(gt=0.25, le=2.0)
    length_ft: float = Field(gt=0)
    grade: Literal["C", "K", "D", "KD", "HS", "FG"] = "D"
    material: Literal["steel", "fiberglass"] = "steel"


class TestPoint(_Strict):
    """A stabilized well-test point: rate (STB/d of liquid) at flowing bottomhole pressure (psi)."""

    __test__ = False  # not a pytest test class
    q_bpd: float = Field(ge=0)
    pwf_psi: float = Field(ge=0)


def _json_list(value: Any) -> Any:
    """ThingsBoard JSON attributes may arrive as strings; accept both."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from exc
    return value


class WellConfig(_Strict):
    """Parameters common to every lift type (reservoir, inflow, fluid, wellbore)."""

    entity_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    lift_type: LiftType

    # Reservoir and inflow
    reservoir_pressure_psi: float = Field(gt=0, le=20000, description="average reservoir pressure Pr")
    bubble_point_psi: float = Field(ge=0, le=20000, description="bubble-point pressure Pb")
    reservoir_temperature_f: float = Field(default=180.0, gt=32, lt=500)
    ipr_model: IprModelName = "composite"
    productivity_index_bpd_psi: float | None = Field(default=None, gt=0, description="straight-line PI J above Pb")
    test_rate_bpd: float | None = Field(default=None, gt=0, description="well-test liquid rate")
    test_pwf_psi: float | None = Field(default=None, ge=0, description="well-test flowing bottomhole pressure")
    test_points: list[TestPoint] | None = Field(default=None, description="multi-rate test (Fetkovich / Jones)")

    # Fluid (black oil)
    oil_api: float = Field(default=32.0, gt=5, lt=70)
    gas_specific_gravity: float = Field(default=0.75, gt=0.55, lt=1.8, description="air = 1")
    water_specific_gravity: float = Field(default=1.05, ge=0.99, lt=1.3)
    water_cut_frac: float = Field(default=0.3, ge=0, le=1)
    gor_scf_stb: float = Field(default=500.0, ge=0, le=50000, description="producing gas-oil ratio")
    rsb_scf_stb: float | None = Field(default=None, ge=0, le=50000,
                                      description="solution GOR at the bubble point (<= gor_scf_stb; default: the producing GOR)")
    surface_temperature_f: float = Field(default=80.0, gt=-40, lt=200)

    # Wellbore
    perforation_depth_ft: float = Field(gt=100, le=30000, description="mid-perforation true vertical depth")
    perforation_md_ft: float | None = Field(default=None, gt=100, le=40000, description="mid-perforation measured depth")
    tubing_id_in: float = Field(default=2.441, gt=0.5, le=8)
    tubing_roughness_in: float = Field(default=0.0006, ge=0, lt=0.1)
    casing_id_in: float = Field(default=6.276, gt=2, le=20)
    wellhead_pressure_psi: float = Field(default=150.0, ge=0, le=10000)
    deviation_survey: list[SurveyStation] | None = None
    vlp_correlation: VlpCorrelationName = Field(default="beggs_brill", description="VLP correlation of the nodal analysis")
    payne_correction: bool | None = Field(default=None, description="Payne et al. (1979) holdup correction; Beggs & Brill only (default on)")
    vlp_holdup_multiplier: float = Field(default=1.0, gt=0, le=100, description="VLP match: liquid-holdup multiplier of the "
                                         "correlation (atilax nodal match; 1 = as published)")
    vlp_friction_multiplier: float = Field(default=1.0, gt=0, le=100, description="VLP match: friction-gradient multiplier "
                                           "(atilax nodal match; 1 = as published)")
    temperature_survey: list[TemperatureStation] | None = Field(default=None, description="flowing temperature survey "
                                                                "(MD ft, degF) replacing the linear wellhead-to-reservoir profile")
    co2_mole_frac: float = Field(default=0.0, ge=0, le=0.544, description="CO2 mole fraction of the gas (Wichert-Aziz Z correction)")
    h2s_mole_frac: float = Field(default=0.0, ge=0, le=0.738, description="H2S mole fraction of the gas (Wichert-Aziz Z correction)")

    # Operation
    economic_limit_bpd: float = Field(default=5.0, ge=0)
    # Setpoint changes (issue 21: 4, 5; engines.optimize.safety, tb_bridge.setpoint_control)
    setpoint_mode: Literal["approval", "autonomous"] = Field(
        default="approval", description="approval: a recommended setpoint waits for an operator's approval; autonomous: "
        "the service sends it itself (still through the safety layer)")
    setpoint_max_step: float | None = Field(default=None, gt=0, description="largest single setpoint change, in the "
                                            "setpoint's unit (default per lift type: 2 Hz, 1 1/min, 25 rpm, 150 Mscf/d)")
    setpoint_min_interval_min: float | None = Field(default=None, ge=15, le=10_080, description="shortest time between "
                                                    "two setpoint changes, minutes (at least and by default 15)")
    # Pareto setpoint optimization (issue 21; tb_bridge.handlers.pareto_steps, hourly)
    pareto_weights: list[float] | None = Field(default=None, min_length=3, max_length=3, description=(
        "importance of (oil, energy, life) for opt_pareto_choice, non-negative (default equal)"))
    pareto_method: Literal["grid", "nsga2", "nsga3"] | None = Field(default=None, description=(
        "hourly Pareto method: grid (default; exact on 201 points per variable), nsga2 or nsga3 (population 100, 200 generations)"))
    pareto_setpoint_step: float | None = Field(default=None, gt=0, description=(
        "step of the setpoint where the equipment is stepped (sheaves, a coarse drive), in the setpoint's unit: the "
        "Pareto search takes it as an integer variable; default continuous"))
    _parse_pareto_weights = field_validator("pareto_weights", mode="before")(_json_list)
    # Anomaly detection (issue 20: 2): the baseline spread floor per key or key family (engines.anomaly.sensors)
    sensor_resolution: dict[str, float] | None = Field(default=None, description=(
        "absolute sensor resolution per telemetry key or unit family, e.g. {\"_psi\": 2, \"tubing_pressure_psi\": 10} "
        "(key units; default: engines.anomaly.sensors.SENSOR_RESOLUTION)"))
    _parse_sensor_resolution = field_validator("sensor_resolution", mode="before")(_json_list)

    _parse_test_points = field_validator("test_points", "deviation_survey", "temperature_survey", mode="before")(_json_list)

    @model_validator(mode="after")
    def _check_consistency(self) -> "WellConfig":
        problems = []
        if self.productivity_index_bpd_psi is None and (self.test_rate_bpd is None or self.test_pwf_psi is None) and not self.test_points:
            problems.append("inflow needs productivity_index_bpd_psi, or test_rate_bpd with test_pwf_psi, or test_points")
        if self.test_pwf_psi is not None and self.test_pwf_psi >= self.reservoir_pressure_psi:
            problems.append("test_pwf_psi must be below reservoir_pressure_psi")
        if self.ipr_model in ("fetkovich", "jones") and (not self.test_points or len(self.test_points) < 2):
            problems.append(f"ipr_model {self.ipr_model} needs at least two test_points")
        if self.rsb_scf_stb is not None and self.rsb_scf_stb > self.gor_scf_stb:
            problems.append(f"rsb_scf_stb ({self.rsb_scf_stb}) cannot exceed gor_scf_stb ({self.gor_scf_stb}): "
                            "the gas above Rsb is the free gas of the producing GOR")
        if self.payne_correction is not None and self.vlp_correlation != "beggs_brill":
            problems.append(f"payne_correction applies to vlp_correlation beggs_brill only, not {self.vlp_correlation}")
        if self.temperature_survey:
            t_mds = [s.md_ft for s in self.temperature_survey]
            if any(b <= a for a, b in zip(t_mds, t_mds[1:])):
                problems.append("temperature_survey measured depths must increase")
            if t_mds[-1] > self.measured_depth_ft:
                problems.append("temperature_survey runs below the mid-perforations")
        if self.co2_mole_frac + self.h2s_mole_frac >= 1.0:
            problems.append("co2_mole_frac + h2s_mole_frac must be below 1")
        if self.deviation_survey:
            mds = [s.md_ft for s in self.deviation_survey]
            if any(b <= a for a, b in zip(mds, mds[1:])):
                problems.append("deviation_survey measured depths must increase")
            if any(s.tvd_ft > s.md_ft + 1e-6 for s in self.deviation_survey):
                problems.append("deviation_survey tvd_ft cannot exceed md_ft")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def measured_depth_ft(self) -> float:
        """Measured depth to mid-perforation (equals TVD for a vertical well)."""
        return self.perforation_md_ft or self.perforation_depth_ft


class EspWellConfig(WellConfig):
    """Electrical submersible pump well. Decision variable: drive frequency (Hz)."""

    lift_type: Literal["esp"] = "esp"
    pump_model: str = Field(default="DN1750", min_length=1, description="catalogue pump name")
    pump_stages: int = Field(default=200, ge=1, le=1000)
    pump_depth_ft: float = Field(gt=100, le=30000)
    motor_hp: float = Field(default=150.0, gt=1, le=3000, description="nameplate power at base frequency")
    motor_voltage_v: float = Field(default=2300.0, gt=100, le=10000)
    motor_current_a: float = Field(default=40.0, gt=1, le=500, description="nameplate current")
    base_frequency_hz: float = Field(default=60.0, gt=40, le=70)
    frequency_min_hz: float = Field(default=35.0, ge=30, le=90)
    frequency_max_hz: float = Field(default=70.0, ge=30, le=90)
    min_intake_pressure_psi: float = Field(default=150.0, ge=0)

    @model_validator(mode="after")
    def _check_esp(self) -> "EspWellConfig":
        if self.frequency_min_hz >= self.frequency_max_hz:
            raise ValueError("frequency_min_hz must be below frequency_max_hz")
        if self.pump_depth_ft > self.perforation_depth_ft:
            raise ValueError("pump_depth_ft must not be below the perforations")
        return self


class SrpWellConfig(WellConfig):
    """Sucker-rod (beam) pump well. Decision variable: strokes per minute."""

    lift_type: Literal["srp"] = "srp"
    pump_depth_ft: float = Field(gt=100, le=20000)
    plunger_diameter_in: float = Field(default=1.75, gt=0.5, le=5)
    stroke_length_in: float = Field(default=100.0, gt=10, le=400, description="polished-rod stroke length")
    rod_string: list[RodSection] = Field(min_length=1, description="tapers from the surface down")
    pumping_unit: str = Field(default="C-456D-305-144", description="API unit designation")
    spm_min: float = Field(default=4.0, ge=1, le=20)
    spm_max: float = Field(default=14.0, ge=1, le=20)
    damping_factor: float = Field(default=0.05, ge=0, le=1, description="dimensionless Gibbs damping")
    stroke_lengths_in: list[float] | None = Field(default=None, max_length=12, description=(
        "the pumping unit's crank-hole stroke lengths, in (the Pareto step's stepped second variable; default: stroke_length_in)"))
    _parse_strokes = field_validator("stroke_lengths_in", mode="before")(_json_list)

    _parse_rods = field_validator("rod_string", mode="before")(_json_list)

    @model_validator(mode="after")
    def _check_srp(self) -> "SrpWellConfig":
        if self.spm_min >= self.spm_max:
            raise ValueError("spm_min must be below spm_max")
        rod_length = sum(section.length_ft for section in self.rod_string)
        if abs(rod_length - self.pump_depth_ft) > 0.02 * self.pump_depth_ft:
            raise ValueError(f"rod string length {rod_length:.0f} ft differs from pump_depth_ft {self.pump_depth_ft:.0f} ft by more than 2%")
        return self


class PcpWellConfig(WellConfig):
    """Progressing-cavity pump well. Decision variable: rotor speed (RPM)."""

    lift_type: Literal["pcp"] = "pcp"
    pump_depth_ft: float = Field(gt=100, le=15000)
    pump_model: str = Field(default="PC-40-1500")
    displacement_bpd_per_rpm: float = Field(default=1.0, gt=0, le=20, description="volumetric displacement")
    pump_rated_lift_psi: float = Field(default=2000.0, gt=0)
    elastomer: Literal["NBR", "HNBR", "FKM"] = "NBR"
    rod_torque_limit_ftlbf: float = Field(default=1500.0, gt=0)
    motor_hp: float = Field(default=60.0, gt=1, le=1000)
    rpm_min: float = Field(default=50.0, ge=0, le=600)
    rpm_max: float = Field(default=400.0, ge=1, le=600)

    @model_validator(mode="after")
    def _check_pcp(self) -> "PcpWellConfig":
        if self.rpm_min >= self.rpm_max:
            raise ValueError("rpm_min must be below rpm_max")
        return self


class GasLiftWellConfig(WellConfig):
    """Continuous gas-lift well. Decision variable: injection gas rate (Mscf/d)."""

    lift_type: Literal["gas_lift"] = "gas_lift"
    injection_depth_ft: float = Field(gt=100, le=30000, description="operating valve depth (TVD)")
    injection_pressure_psi: float = Field(default=1200.0, gt=0, le=10000, description="surface casing injection pressure")
    injection_gas_specific_gravity: float = Field(default=0.65, gt=0.55, lt=1.8)
    injection_min_mscfd: float = Field(default=0.0, ge=0)
    injection_max_mscfd: float = Field(default=2000.0, gt=0, le=50000)
    gas_cost_usd_per_mscf: float = Field(default=1.5, ge=0)
    oil_price_usd_per_bbl: float = Field(default=70.0, ge=0)
    pareto_energy_basis: Literal["compression", "gas_cost"] = Field(default="compression", description=(
        "the Pareto energy objective: isothermal compression kWh per bbl of oil, or the injection gas cost USD per bbl of oil"))

    @model_validator(mode="after")
    def _check_gl(self) -> "GasLiftWellConfig":
        if self.injection_depth_ft > self.perforation_depth_ft:
            raise ValueError("injection_depth_ft must not be below the perforations")
        if self.injection_min_mscfd >= self.injection_max_mscfd:
            raise ValueError("injection_min_mscfd must be below injection_max_mscfd")
        return self


class NaturalFlowWellConfig(WellConfig):
    """Naturally flowing well with a permanent downhole gauge, tree and choke pressures and no flow meter (no lift,
    no setpoint: monitored by the downhole-gauge rules of ``engines.anomaly.rules``)."""

    lift_type: Literal["natural_flow"] = "natural_flow"
    gauge_depth_ft: float | None = Field(default=None, gt=0, le=30000, description="permanent downhole gauge depth (TVD)")


AnyWellConfig = Annotated[
    Union[EspWellConfig, SrpWellConfig, PcpWellConfig, GasLiftWellConfig, NaturalFlowWellConfig],
    Field(discriminator="lift_type")
]
_ANY_WELL = TypeAdapter(AnyWellConfig)


def normalize_lift_type(value: Any) -> str:
    """Accept a lift type or a ThingsBoard device-profile name (``ESP``, ``GasLift``, ``gas-lift``)."""
    text = str(value).strip()
    lowered = text.lower().replace("-", "_").replace(" ", "_")
    if lowered in LIFT_TYPES:
        return lowered
    return LIFT_TYPE_BY_DEVICE_PROFILE.get(text.lower().replace("_", "").replace("-", "").replace(" ", ""), lowered)


def parse_well_config(entity_id: str, name: str, attributes: dict[str, Any]) -> WellConfig:
    """Build the typed model for one well from its flat attributes.

    ``attributes`` may hold extra keys (telemetry-like or ours); they are ignored. The lift type is
    read from ``lift_type`` (or a ``device_type`` / profile name). Raises :class:`WellConfigError`.
    """
    data = dict(attributes)
    raw_type = data.get("lift_type", data.get("device_type", data.get("deviceType")))
    expected = f"expected one of {', '.join(LIFT_TYPES)}"
    if raw_type is None:
        raise WellConfigError(entity_id, [f"lift_type is missing ({expected})"], name)
    lift_type = normalize_lift_type(raw_type)
    if lift_type not in LIFT_TYPES:
        raise WellConfigError(entity_id, [f"unknown lift type {raw_type!r} ({expected})"], name)
    data.update(entity_id=entity_id, name=name, lift_type=lift_type)
    try:
        return _ANY_WELL.validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if str(p) not in LIFT_TYPES]
            where = ".".join(loc)
            message = str(err.get("msg", "")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise WellConfigError(entity_id, problems, name) from None
