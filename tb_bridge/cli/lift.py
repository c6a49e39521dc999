"""``atilax lift``: lift optimizers from the command line (JSON in, table or JSON out).

``atilax lift optimize WELL.json``
    WELL.json holds one well's flat attributes as stored in ThingsBoard (any lift type; see
    ``tb_bridge.wells.model``), plus the optional keys of :class:`OptimizeOptions` (``telemetry``: the
    latest values, e.g. ``frequency_hz``, ``spm``, ``rpm``, ``injection_rate_mscfd``, ``flow_rate_bpd``,
    ``surface_card``). Prints the recommended setpoint, expected rate, delta, efficiency, kWh/bbl, the
    binding constraint and (``--json``) the ``opt_*`` attributes and the production-vs-setpoint curve.
``atilax lift what-if WELL.json``
    The dashboard's what-if from the command line: WELL.json as for ``optimize`` plus ``parameters`` (the
    changed attributes, e.g. ``{"water_cut_frac": 0.5}``). Prints the configured and the modified operating
    point at the same setpoint (latest telemetry, else the recommendation) and their difference
    (:mod:`tb_bridge.adapters.whatif`).
``atilax lift allocate-gas FIELD.json``
    Field-wide equal-slope gas allocation (:class:`AllocateInput`): each well gives its GLPC
    (``injection_mscfd``/``oil_bpd``) or its gas-lift attributes (the GLPC then comes from the nodal
    engine); the result is checked against SciPy's linear-programming optimum.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tb_bridge.cli.io import CliInputError, format_table, format_validation_error, print_json, print_key_values, read_json, read_model
from tb_bridge.wells.model import WellConfigError, parse_well_config


class OptimizeOptions(BaseModel):
    """Optional keys of WELL.json besides the well attributes."""

    model_config = ConfigDict(extra="ignore")
    entity_id: str = Field("cli-well", min_length=1, description="well identifier (any text)")
    name: str = Field("well", min_length=1, description="well name (any text)")
    telemetry: dict[str, Any] = Field(default_factory=dict, description="latest telemetry values (contract keys, oilfield units)")
    parameters: dict[str, Any] = Field(default_factory=dict, description="what-if: changed well attributes")


class GlpcInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    injection_mscfd: list[float] = Field(min_length=2, description="injection gas rates, Mscf/d, increasing")
    oil_bpd: list[float] = Field(min_length=2, description="oil rate at each injection rate, bbl/d")


class FieldWell(BaseModel):
    """One well of the field: a tabulated GLPC, or gas-lift well attributes (GLPC from the nodal engine)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="well name")
    glpc: GlpcInput | None = Field(None, description="tabulated gas-lift performance curve")
    attributes: dict[str, Any] | None = Field(None, description="flat gas-lift well attributes (lift_type gas_lift)")

    @model_validator(mode="after")
    def _one_source(self) -> "FieldWell":
        if (self.glpc is None) == (self.attributes is None):
            raise ValueError("give exactly one of glpc and attributes")
        return self


class AllocateInput(BaseModel):
    """Field allocation problem."""

    model_config = ConfigDict(extra="forbid")
    available_gas_mscfd: float = Field(ge=0, description="gas available for injection, Mscf/d")
    oil_price_usd_per_bbl: float | None = Field(None, gt=0, description="with gas_cost: stop where the marginal oil no longer pays for the gas")
    gas_cost_usd_per_mscf: float | None = Field(None, ge=0, description="injection gas cost, USD/Mscf")
    wells: list[FieldWell] = Field(min_length=1, description="the wells sharing the gas")


def _read_well(path: str) -> tuple[Any, OptimizeOptions]:
    """The well of WELL.json (validated by the service's model) and the file's optional keys."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise CliInputError(f"{path}: expected a JSON object of well attributes")
    try:
        options = OptimizeOptions.model_validate(data)
    except ValidationError as exc:
        raise CliInputError(f"{path}: invalid options:\n{format_validation_error(exc)}") from exc
    attrs = {k: v for k, v in data.items() if k not in ("telemetry", "parameters", "entity_id", "name")}
    try:
        return parse_well_config(options.entity_id, options.name, attrs), options
    except WellConfigError as exc:
        raise CliInputError(f"{path}: {exc}") from exc


def _optimize(args) -> int:
    from tb_bridge.adapters.lift import optimize_well  # deferred: keeps --help fast
    from tb_bridge.writeback.keys import lift_attributes

    well, options = _read_well(args.input)
    try:
        result = optimize_well(well, options.telemetry)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    attributes = lift_attributes(result)
    if args.json:
        print_json({"attributes": attributes, "result": result})
        return 0
    print_key_values([(k, v) for k, v in attributes.items() if k not in ("opt_lift_curve", "opt_srp_downhole_card")],
                     title=f"lift optimizer ({result.lift_type}): {well.name}")
    return 0


def _what_if(args) -> int:
    from tb_bridge.adapters.whatif import what_if  # deferred: keeps --help fast

    well, options = _read_well(args.input)
    if not options.parameters:
        raise CliInputError(f"{args.input}: give the changed attributes as \"parameters\", e.g. {{\"water_cut_frac\": 0.5}}")
    try:
        result = what_if(well, options.parameters, options.telemetry)
    except ValueError as exc:  # WhatIfError, or an engine's refusal
        raise CliInputError(f"{args.input}: {exc}") from exc
    out = {"setpoint_key": result.setpoint_key, "setpoint": result.setpoint, "setpoint_source": result.setpoint_source,
           "parameters": options.parameters, "original": vars(result.original), "modified": vars(result.modified),
           "delta_liquid_bpd": result.delta_liquid_bpd, "delta_oil_bpd": result.delta_oil_bpd,
           "delta_pwf_psi": result.delta_pwf_psi}
    if args.json:
        print_json(out)
        return 0
    rows = [[name, getattr(result.original, name), getattr(result.modified, name)]
            for name in ("liquid_bpd", "oil_bpd", "pwf_psi")]
    print(format_table(["", "configured", "modified"], [[n, round(a, 2), round(b, 2)] for n, a, b in rows]))
    print_key_values([("held", result.basis), ("delta_liquid_bpd", round(result.delta_liquid_bpd, 2)),
                      ("delta_oil_bpd", round(result.delta_oil_bpd, 2)), ("delta_pwf_psi", round(result.delta_pwf_psi, 2))],
                     title=f"what-if ({well.lift_type}): {well.name}")
    return 0


def _allocate(args) -> int:
    import numpy as np

    from engines.lift.gas_allocation import allocate_gas_equal_slope, allocate_gas_lp
    from engines.lift.gas_lift import Glpc
    from tb_bridge.adapters.lift import gas_lift_glpc

    problem = read_model(args.input, AllocateInput)
    if (problem.oil_price_usd_per_bbl is None) != (problem.gas_cost_usd_per_mscf is None):
        raise CliInputError(f"{args.input}: give both oil_price_usd_per_bbl and gas_cost_usd_per_mscf, or neither")
    threshold = 0.0 if problem.gas_cost_usd_per_mscf is None else problem.gas_cost_usd_per_mscf / problem.oil_price_usd_per_bbl
    curves = []
    try:
        for w in problem.wells:
            if w.glpc is not None:
                curves.append(Glpc(np.asarray(w.glpc.injection_mscfd), np.asarray(w.glpc.oil_bpd)))
            else:
                well = parse_well_config(w.name, w.name, {**w.attributes, "lift_type": "gas_lift"})
                curves.append(gas_lift_glpc(well)[0])
        alloc = allocate_gas_equal_slope(curves, problem.available_gas_mscfd, threshold)
        check = allocate_gas_lp(curves, problem.available_gas_mscfd, threshold)
    except (WellConfigError, ValueError) as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    wells = [{"name": w.name, "injection_mscfd": float(g), "oil_bpd": float(o)}
             for w, g, o in zip(problem.wells, alloc.injection_mscfd, alloc.oil_bpd)]
    out = {"wells": wells, "total_injection_mscfd": alloc.total_injection_mscfd, "total_oil_bpd": alloc.total_oil_bpd,
           "marginal_slope_bbl_per_mscf": alloc.marginal_slope_bbl_per_mscf, "available_gas_mscfd": problem.available_gas_mscfd,
           "lp_check_total_oil_bpd": check.total_oil_bpd}
    if args.json:
        print_json(out)
        return 0
    print(format_table(["well", "injection_mscfd", "oil_bpd"], [[w["name"], w["injection_mscfd"], w["oil_bpd"]] for w in wells]))
    print_key_values([(k, v) for k, v in out.items() if k != "wells"], title="field totals")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("lift", help="lift optimizers: recommended setpoint per well, field gas allocation")
    sub = parser.add_subparsers(dest="lift_command", required=True)
    p = sub.add_parser("optimize", help="recommend the ESP frequency / SRP SPM / PCP RPM / gas-lift injection of one well")
    p.add_argument("input", help="JSON file of well attributes (+ optional telemetry), or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_optimize)
    p = sub.add_parser("what-if", help="one well's operating point with changed parameters, at the same setpoint")
    p.add_argument("input", help="JSON file of well attributes + parameters (+ optional telemetry), or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_what_if)
    p = sub.add_parser("allocate-gas", help="equal-slope allocation of limited lift gas over many wells")
    p.add_argument("input", help="JSON file (available gas, wells' GLPCs or attributes), or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_allocate)
