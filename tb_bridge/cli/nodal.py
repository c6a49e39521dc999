"""``atilax nodal``: nodal analysis from the command line (JSON in, table or JSON out).

``atilax nodal solve WELL.json``
    WELL.json holds one well's flat attributes exactly as stored in ThingsBoard (see
    ``tb_bridge.wells.model.WellConfig``: ``lift_type``, ``reservoir_pressure_psi``, ``bubble_point_psi``,
    ``ipr_model``, PI or test data, fluid, tubing, ``wellhead_pressure_psi``, optional
    ``deviation_survey``), plus the optional keys of :class:`SolveOptions`. Pressures are gauge (psig)
    unless ``atmospheric_pressure_psia`` is 0. Prints the operating point, AOF, PI and (``--json``) the
    100-point IPR and VLP curves as [q_bpd, p_psi] pairs: in natural flow, or with ``setpoint`` the operating
    point with the installed lift at that setpoint (``tb_bridge.adapters.lift.lifted_operating_point``).
``atilax nodal traverse TRAVERSE.json``
    Pressure profile along the well for given rates (:class:`TraverseInput`, absolute pressures).
``atilax nodal ipr TEST.json``
    Fit an IPR model to test points (:class:`IprInput`); prints its parameters, AOF and curve.
``atilax nodal match TEST.json``
    VLP matching (:class:`MatchInput`, absolute pressures): every correlation's error at the measured gauge
    pressure of each well test, ranked, and the holdup and friction multipliers of the chosen (default: the
    best) correlation fitted to the tests (``engines.nodal.matching``); prints the well attributes to set
    (``vlp_correlation``, ``vlp_holdup_multiplier``, ``vlp_friction_multiplier``).
"""
from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engines.nodal import (BlackOilFluid, CompositeIpr, DarcyIpr, FetkovichIpr, JonesIpr, MatchedCorrelation, VogelIpr, Wellbore,
                           ipr_curve, ipr_from_test, traverse)
from tb_bridge.cli.io import CliInputError, format_table, format_validation_error, print_json, print_key_values, read_json, read_model
from tb_bridge.wells.model import WellConfigError, parse_well_config

CorrelationName = Literal["beggs_brill", "beggs_brill_original", "hagedorn_brown", "hagedorn_brown_original", "hagedorn_brown_guo",
                          "no_slip"]


class SolveOptions(BaseModel):
    """Optional keys of WELL.json besides the well attributes."""

    model_config = ConfigDict(extra="ignore")
    entity_id: str = Field("cli-well", min_length=1, description="well identifier (any text)")
    name: str = Field("well", min_length=1, description="well name (any text)")
    correlation: CorrelationName | None = Field(None, description="VLP correlation overriding the well's vlp_correlation / payne_correction attributes")
    n_segments: int = Field(100, ge=1, le=2000, description="traverse segments along the measured depth")
    atmospheric_pressure_psia: float = Field(14.696, ge=0, le=20, description="added to the well's pressures to make them absolute, psia (0 = already absolute)")
    setpoint: float | None = Field(None, ge=0, le=50_000, description="lift setpoint (ESP frequency Hz, SRP strokes/min, PCP rpm, gas-lift injection Mscf/d): the operating point with the installed lift at it (0: lift off); omitted: natural flow")

    @model_validator(mode="after")
    def _check_setpoint(self) -> "SolveOptions":
        if self.setpoint is not None and (self.correlation is not None or self.atmospheric_pressure_psia != 14.696):
            raise ValueError("setpoint solves on the lift optimizer's hydraulics: the well's vlp_correlation and gauge "
                             "pressures; leave out correlation and atmospheric_pressure_psia")
        return self


class SurveyPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    md_ft: float = Field(ge=0, description="measured depth, ft")
    tvd_ft: float = Field(ge=0, description="true vertical depth, ft")


class TemperaturePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    md_ft: float = Field(ge=0, description="measured depth, ft")
    temperature_f: float = Field(gt=-40, lt=700, description="flowing temperature, degF")


class WellPathFluid(BaseModel):
    """Fluid and well path shared by a traverse and a VLP match (absolute pressures, psia)."""

    model_config = ConfigDict(extra="forbid")
    oil_api: float = Field(gt=5, lt=80, description="stock-tank oil gravity, degAPI")
    gas_specific_gravity: float = Field(0.75, ge=0.55, lt=2, description="gas gravity, air = 1")
    water_specific_gravity: float = Field(1.07, ge=0.99, lt=1.35, description="water gravity, fresh water = 1")
    bubble_point_psia: float | None = Field(None, gt=14.7, description="fixed bubble point at the bottomhole temperature, psia (None: Standing's for the GOR)")
    rsb_scf_stb: float | None = Field(None, ge=0, description="solution GOR at the bubble point, scf/STB (None: the producing GOR)")
    co2_mole_frac: float = Field(0.0, ge=0, le=0.544, description="CO2 mole fraction of the gas (Wichert-Aziz 1972 Z correction)")
    h2s_mole_frac: float = Field(0.0, ge=0, le=0.738, description="H2S mole fraction of the gas (Wichert-Aziz 1972 Z correction)")
    depth_ft: float | None = Field(None, gt=0, description="vertical well depth, ft (or give deviation_survey)")
    deviation_survey: list[SurveyPoint] | None = Field(None, description="stations from the wellhead to the perforations")
    tubing_id_in: float = Field(2.441, gt=0.2, lt=30, description="tubing inside diameter, in")
    tubing_roughness_in: float = Field(0.0006, ge=0, description="absolute roughness, in")
    wellhead_temperature_f: float = Field(100.0, description="flowing wellhead temperature, degF")
    bottomhole_temperature_f: float = Field(180.0, description="flowing bottomhole (reservoir) temperature, degF")
    temperature_survey: list[TemperaturePoint] | None = Field(None, description="flowing temperature survey (MD, degF) "
                                                              "replacing the linear wellhead-to-bottomhole profile")
    n_segments: int = Field(100, ge=1, le=2000, description="segments along the measured depth")

    @model_validator(mode="after")
    def _check_path(self) -> "WellPathFluid":
        if (self.depth_ft is None) == (not self.deviation_survey):
            raise ValueError("give exactly one of depth_ft and deviation_survey")
        if self.co2_mole_frac + self.h2s_mole_frac >= 1.0:
            raise ValueError("co2_mole_frac + h2s_mole_frac must be below 1")
        return self

    def fluid(self, water_cut_frac: float, gor_scf_stb: float) -> BlackOilFluid:
        return BlackOilFluid(oil_api=self.oil_api, gas_sg=self.gas_specific_gravity, water_sg=self.water_specific_gravity,
                             water_cut_frac=water_cut_frac, gor_scf_stb=gor_scf_stb, bubble_point_psia=self.bubble_point_psia,
                             bubble_point_temperature_f=self.reservoir_temperature_f, rsb_scf_stb=self.rsb_scf_stb,
                             co2_frac=self.co2_mole_frac, h2s_frac=self.h2s_mole_frac)

    @property
    def reservoir_temperature_f(self) -> float:
        """Temperature of the bubble point (degF): the deepest survey station's, else the bottomhole temperature."""
        return self.temperature_survey[-1].temperature_f if self.temperature_survey else self.bottomhole_temperature_f

    def wellbore(self) -> Wellbore:
        common = dict(tubing_id_in=self.tubing_id_in, roughness_in=self.tubing_roughness_in,
                      wellhead_temperature_f=self.wellhead_temperature_f, bottomhole_temperature_f=self.bottomhole_temperature_f)
        if self.temperature_survey:
            common.update(temperature_survey_md_ft=tuple(t.md_ft for t in self.temperature_survey),
                          temperature_survey_f=tuple(t.temperature_f for t in self.temperature_survey))
        if self.deviation_survey:
            return Wellbore.from_survey([s.md_ft for s in self.deviation_survey], [s.tvd_ft for s in self.deviation_survey], **common)
        return Wellbore.vertical(self.depth_ft, **common)


class TraverseInput(WellPathFluid):
    """A pressure traverse: fluid, well path, rates and one boundary pressure (all absolute, psia)."""

    rates_bpd: list[float] = Field(min_length=1, description="liquid rates, STB/d")
    wellhead_pressure_psia: float | None = Field(None, gt=0, description="start at the wellhead and march down, psia")
    bottomhole_pressure_psia: float | None = Field(None, gt=0, description="start at the perforations and march up, psia")
    correlation: CorrelationName = Field("beggs_brill", description="VLP correlation")
    holdup_multiplier: float = Field(1.0, gt=0, le=100, description="matched liquid-holdup multiplier (atilax nodal match; 1 = as published)")
    friction_multiplier: float = Field(1.0, gt=0, le=100, description="matched friction multiplier (atilax nodal match; 1 = as published)")
    max_dp_psi: float | None = Field(None, gt=0, description="adaptive segments: cut any segment whose pressure change exceeds this, psi")
    water_cut_frac: float = Field(ge=0, le=1, description="water cut, fraction of liquid")
    gor_scf_stb: float = Field(ge=0, description="producing gas-oil ratio, scf/STB")

    @model_validator(mode="after")
    def _check(self) -> "TraverseInput":
        if (self.wellhead_pressure_psia is None) == (self.bottomhole_pressure_psia is None):
            raise ValueError("give exactly one of wellhead_pressure_psia and bottomhole_pressure_psia")
        if any(q < 0 for q in self.rates_bpd):
            raise ValueError("rates_bpd must be >= 0")
        return self


class WellTestInput(BaseModel):
    __test__ = False
    model_config = ConfigDict(extra="forbid")
    q_liquid_bpd: float = Field(gt=0, description="stabilized liquid rate, STB/d")
    water_cut_frac: float = Field(ge=0, le=1, description="water cut, fraction of liquid")
    gor_scf_stb: float = Field(ge=0, le=1e5, description="producing gas-oil ratio, scf/STB")
    wellhead_pressure_psia: float = Field(gt=0, description="flowing tubing-head pressure, psia")
    gauge_pressure_psia: float = Field(gt=0, description="measured flowing pressure at the gauge, psia")
    gauge_md_ft: float | None = Field(None, gt=0, description="gauge measured depth, ft (None: the mid-perforations)")


class MatchInput(WellPathFluid):
    """VLP matching: fluid, well path and one or more well tests with a measured gauge pressure (absolute, psia)."""

    tests: list[WellTestInput] = Field(min_length=1, max_length=200, description="well tests (one or more)")
    correlation: CorrelationName | None = Field(None, description="correlation to tune (None: the best-ranked)")
    correlations: list[CorrelationName] | None = Field(None, min_length=1, description="correlations to rank (None: all)")
    multiplier_bounds: tuple[float, float] = Field((0.2, 5.0), description="search bounds of both multipliers (low < 1 < high)")


class TestPointInput(BaseModel):
    __test__ = False
    model_config = ConfigDict(extra="forbid")
    q_bpd: float = Field(gt=0, description="stabilized liquid rate, STB/d")
    pwf_psi: float = Field(ge=0, description="flowing bottomhole pressure, psi (same datum as the reservoir pressure)")


class IprInput(BaseModel):
    """IPR fit: model name, reservoir pressure and test points (any consistent pressure datum)."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["vogel", "darcy", "composite", "fetkovich", "jones"] = Field(description="IPR model")
    reservoir_pressure_psi: float = Field(gt=0, description="average reservoir pressure, psi")
    bubble_point_psi: float | None = Field(None, ge=0, description="bubble point, psi (composite only)")
    test_points: list[TestPointInput] = Field(min_length=1, description="one point (vogel, darcy, composite; the last is used) or >= 2 (fetkovich, jones)")
    n_points: int = Field(100, ge=2, le=10000, description="points on the printed curve")


def _solve(args) -> int:
    from tb_bridge.adapters.lift import lifted_operating_point  # engine imports deferred: keeps `atilax --help` fast
    from tb_bridge.adapters.nodal import solve_well

    data = read_json(args.input)
    if not isinstance(data, dict):
        raise CliInputError(f"{args.input}: expected a JSON object of well attributes")
    try:
        options = SolveOptions.model_validate(data)
    except ValidationError as exc:
        raise CliInputError(f"{args.input}: invalid options:\n{format_validation_error(exc)}") from exc
    try:
        well = parse_well_config(options.entity_id, options.name, data)
        if options.setpoint is not None:
            result = lifted_operating_point(well, options.setpoint, n_segments=options.n_segments)
        else:
            result = solve_well(well, correlation=options.correlation, n_segments=options.n_segments,
                                atmospheric_pressure_psia=options.atmospheric_pressure_psia)
    except (WellConfigError, ValueError) as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    if args.json:
        print_json(result)
        return 0
    print_key_values([
        ("status", result.status), ("flowing", result.flowing), ("correlation", result.correlation),
        ("q_bpd", result.q_bpd), ("pwf_psi", result.pwf_psi), ("aof_bpd", result.aof_bpd),
        ("pi_stb_d_psi", result.pi_bpd_psi), ("drawdown_psi", result.drawdown_psi),
    ], title=f"nodal operating point: {well.name}")
    return 0


def _traverse(args) -> int:
    spec = read_model(args.input, TraverseInput)
    try:
        fluid = spec.fluid(spec.water_cut_frac, spec.gor_scf_stb)
        wellbore = spec.wellbore()
        result = traverse(spec.rates_bpd, fluid, wellbore, wellhead_pressure_psia=spec.wellhead_pressure_psia,
                          bottomhole_pressure_psia=spec.bottomhole_pressure_psia,
                          correlation=MatchedCorrelation(spec.correlation, spec.holdup_multiplier, spec.friction_multiplier),
                          n_segments=spec.n_segments, max_dp_psi=spec.max_dp_psi)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    if args.json:
        print_json({"correlation": result.correlation, "rates_bpd": result.q_bpd, "md_ft": result.md_ft,
                    "tvd_ft": result.tvd_ft, "temperature_f": result.temperature_f,
                    "pressure_psia": result.pressure_psia.T, "liquid_holdup": result.holdup.T})
        return 0
    step = max(1, (result.md_ft.size - 1) // 20)
    rows_idx = sorted(set(range(0, result.md_ft.size, step)) | {result.md_ft.size - 1})
    headers = ["md_ft", "tvd_ft", "T_degF"] + [f"p_psia@{q:g}" for q in result.q_bpd]
    rows = [[result.md_ft[i], result.tvd_ft[i], result.temperature_f[i], *result.pressure_psia[i]] for i in rows_idx]
    print(f"pressure traverse ({result.correlation})")
    print(format_table(headers, rows, float_format="{:.1f}"))
    return 0


def well_attributes_for(matched: MatchedCorrelation) -> dict:
    """The well attributes (``tb_bridge.wells.model.WellConfig``) that make the service use ``matched``."""
    attrs = {"vlp_correlation": matched.name, "vlp_holdup_multiplier": matched.holdup_multiplier,
             "vlp_friction_multiplier": matched.friction_multiplier}
    if matched.name == "beggs_brill_original":
        attrs.update(vlp_correlation="beggs_brill", payne_correction=False)
    return attrs


def _match(args) -> int:
    from engines.nodal.matching import WellTest, match_vlp

    spec = read_model(args.input, MatchInput)
    try:
        tests = [WellTest(**t.model_dump()) for t in spec.tests]
        fluid = spec.fluid(tests[0].water_cut_frac, tests[0].gor_scf_stb)  # each test brings its own water cut and GOR
        result = match_vlp(tests, fluid, spec.wellbore(), correlation=spec.correlation, correlations=spec.correlations,
                           n_segments=spec.n_segments, bounds=spec.multiplier_bounds)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    attributes = well_attributes_for(result.matched)
    measured = [t.gauge_pressure_psia for t in tests]
    if args.json:
        print_json({"measured_psia": measured, "ranking": result.ranking, "correlation": result.matched.name,
                    "holdup_multiplier": result.holdup_multiplier, "friction_multiplier": result.friction_multiplier,
                    "fitted": result.fitted, "success": result.success, "message": result.message, "warnings": result.warnings,
                    "unmatched": result.unmatched, "matched": result.after, "well_attributes": attributes})
        return 0 if result.success else 1
    print("correlation ranking (calculated - measured at the gauges)")
    rows = [[s.correlation, s.mean_abs_error_psi, s.mean_abs_error_pct, *s.calculated_psia] for s in result.ranking]
    headers = ["correlation", "mean |err| psi", "mean |err| %"] + [f"p@test{i + 1} psia" for i in range(len(tests))]
    print(format_table(headers, [["measured", 0.0, 0.0, *measured]] + rows, float_format="{:.2f}"))
    print_key_values([
        ("correlation", result.matched.name), ("holdup_multiplier", result.holdup_multiplier),
        ("friction_multiplier", result.friction_multiplier), ("fitted", ", ".join(result.fitted) or "none"),
        ("mean |err| before, psi", result.unmatched.mean_abs_error_psi), ("mean |err| after, psi", result.after.mean_abs_error_psi),
        ("success", result.success), ("message", result.message),
    ], title="VLP match")
    for warning in result.warnings:
        print(f"warning: {warning}")
    print("well attributes: " + json.dumps(attributes))
    return 0 if result.success else 1


def _ipr(args) -> int:
    spec = read_model(args.input, IprInput)
    q = [p.q_bpd for p in spec.test_points]
    pwf = [p.pwf_psi for p in spec.test_points]
    try:
        ipr = ipr_from_test(spec.model, spec.reservoir_pressure_psi, q, pwf, bubble_point_psi=spec.bubble_point_psi)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    params = {VogelIpr: ("qmax_bpd",), DarcyIpr: ("pi_bpd_psi",), CompositeIpr: ("bubble_point_psi", "pi_bpd_psi", "qb_bpd"),
              FetkovichIpr: ("c", "n"), JonesIpr: ("a", "b")}[type(ipr)]
    values = {name: getattr(ipr, name) for name in params}
    curve = ipr_curve(ipr, spec.n_points)
    if args.json:
        print_json({"model": spec.model, "reservoir_pressure_psi": ipr.reservoir_pressure_psi, "parameters": values,
                    "aof_bpd": ipr.aof_bpd, "curve": curve})
        return 0
    print_key_values([("model", spec.model), *values.items(), ("aof_bpd", ipr.aof_bpd)], title="IPR fit")
    idx = np.unique(np.linspace(0, curve.shape[0] - 1, min(11, curve.shape[0])).astype(int))
    print(format_table(["q_bpd", "pwf_psi"], curve[idx].tolist(), float_format="{:.1f}"))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("nodal", help="nodal analysis: IPR/VLP operating point, pressure traverse, IPR fit")
    sub = parser.add_subparsers(dest="nodal_command", required=True)
    for name, func, help_text in (
        ("solve", _solve, "operating point, AOF, PI and curves of one well (WELL.json: the well's attributes)"),
        ("traverse", _traverse, "pressure profile along the well for given rates (TRAVERSE.json)"),
        ("ipr", _ipr, "fit an IPR model to well-test points (TEST.json)"),
        ("match", _match, "VLP matching: rank the correlations on well tests and fit holdup/friction multipliers (TEST.json)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("input", help="JSON file, or - for stdin")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.set_defaults(func=func)


__all__ = ["register", "SolveOptions", "TraverseInput", "IprInput", "MatchInput", "well_attributes_for"]
