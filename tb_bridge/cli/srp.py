"""``atilax srp``: rod-pump diagnostics from the command line.

``atilax srp downhole-card CARD.json``
    Surface card (uniform in time over one stroke) + rod string -> downhole pump card by the Gibbs
    damped wave equation (:class:`DownholeCardInput`), with fillage, effective stroke, fluid load,
    pump displacement, card class and modified-Goodman rod loading per taper.

``atilax srp classify-card CARD.json``
    Surface or downhole card of any number of points, rod string optional (:class:`ClassifyCardInput`)
    -> class, probabilities and the path that gave them (surface model, downhole model after the
    Gibbs transform, or the geometric classifier when no trained model exists).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tb_bridge.cli.io import CliInputError, format_table, print_json, print_key_values, read_model


class RodInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    diameter_in: float = Field(gt=0.25, le=2.0, description="rod diameter, in")
    length_ft: float = Field(gt=0, description="taper length, ft")
    grade: Literal["C", "K", "D", "KD", "HS", "FG"] = Field("D", description="API grade")
    material: Literal["steel", "fiberglass"] = Field("steel", description="rod material")


class DownholeCardInput(BaseModel):
    """Surface dynamometer card and the well data the wave equation needs."""

    model_config = ConfigDict(extra="forbid")
    position_in: list[float] = Field(min_length=16, description="polished-rod position, in, uniform in time over one stroke")
    load_lbf: list[float] = Field(min_length=16, description="polished-rod load, lbf, same samples")
    spm: float = Field(gt=0, le=40, description="pumping speed, strokes/min")
    rod_string: list[RodInput] = Field(min_length=1, description="tapers from the surface down")
    plunger_diameter_in: float = Field(gt=0.5, le=5, description="pump plunger diameter, in")
    damping_factor: float = Field(0.05, ge=0, le=1, description="dimensionless Gibbs damping factor")
    fluid_sg: float = Field(1.0, gt=0, le=2, description="produced-liquid specific gravity (buoyancy)")
    method: Literal["fd", "fourier"] = Field("fd", description="finite differences (Everitt-Jennings) or Gibbs Fourier series")
    expected_fluid_load_lbf: float | None = Field(None, gt=0, description="(p_discharge - p_intake) * A_plunger, enables rod-part detection")
    measured_rate_bpd: float | None = Field(None, ge=0, description="measured liquid rate, bbl/d, for pump efficiency")
    service_factor: float = Field(1.0, gt=0, le=1, description="Goodman service factor")

    @model_validator(mode="after")
    def _same_length(self) -> "DownholeCardInput":
        if len(self.position_in) != len(self.load_lbf):
            raise ValueError("position_in and load_lbf must have the same number of samples")
        return self


def _downhole(args) -> int:
    import numpy as np

    from engines.lift.rod_loading import rod_string_loading
    from engines.lift.rod_string import RodString, RodTaper
    from engines.lift.srp_card import analyze_pump_card
    from engines.lift.srp_wave import Card, downhole_card_fd, downhole_card_fourier

    data = read_model(args.input, DownholeCardInput)
    try:
        rods = RodString(tuple(RodTaper(r.diameter_in, r.length_ft, r.grade, r.material) for r in data.rod_string))
        surface = Card(np.asarray(data.position_in), np.asarray(data.load_lbf), data.spm)
        solver = downhole_card_fd if data.method == "fd" else downhole_card_fourier
        res = solver(surface, rods, data.damping_factor, data.fluid_sg)
        analysis = analyze_pump_card(res.card, data.plunger_diameter_in, data.expected_fluid_load_lbf, data.measured_rate_bpd)
        loading = rod_string_loading(rods, res.taper_top_load_lbf, data.service_factor)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    out = {
        "card_class": analysis.card_class, "fillage_pct": 100.0 * analysis.fillage_frac,
        "gross_stroke_in": analysis.gross_stroke_in, "effective_stroke_in": analysis.effective_stroke_in,
        "fluid_load_lbf": analysis.fluid_load_lbf, "pump_displacement_bpd": analysis.pump_displacement_bpd,
        "effective_displacement_bpd": analysis.effective_displacement_bpd,
        "pump_efficiency_pct": None if analysis.pump_efficiency_frac is None else 100.0 * analysis.pump_efficiency_frac,
        "surface_work_ftlbf": surface.work_ftlbf(), "pump_work_ftlbf": res.card.work_ftlbf(),
        "rod_loading_pct": [t.loading_pct for t in loading],
        "downhole_card": {"position_in": res.card.position_in, "load_lbf": res.card.load_lbf},
    }
    if args.json:
        print_json(out)
        return 0
    print_key_values([(k, v) for k, v in out.items() if k not in ("downhole_card", "rod_loading_pct")], title="downhole card")
    print(format_table(["taper", "max_stress_psi", "min_stress_psi", "allowable_psi", "loading_pct"],
                       [[i + 1, t.max_stress_psi, t.min_stress_psi, t.allowable_stress_psi, t.loading_pct] for i, t in enumerate(loading)]))
    return 0


class ClassifyCardInput(BaseModel):
    """A surface or downhole card of any number of points (time order); the rod string when known."""

    model_config = ConfigDict(extra="forbid")
    position_in: list[float] = Field(min_length=16, max_length=20_000, description="position, in, in time order over one stroke")
    load_lbf: list[float] = Field(min_length=16, max_length=20_000, description="load, lbf, same samples")
    card_type: Literal["surface", "downhole"] = Field("surface", description="polished-rod (surface) or pump (downhole) card")
    spm: float | None = Field(None, gt=0, le=40, description="pumping speed, strokes/min (needed with rod_string)")
    rod_string: list[RodInput] | None = Field(None, min_length=1, description="tapers from the surface down: Gibbs transform first")
    damping_factor: float = Field(0.05, ge=0, le=1, description="dimensionless Gibbs damping factor")
    fluid_sg: float = Field(1.0, gt=0, le=2, description="produced-liquid specific gravity (buoyancy)")

    @model_validator(mode="after")
    def _consistent(self) -> "ClassifyCardInput":
        if len(self.position_in) != len(self.load_lbf):
            raise ValueError("position_in and load_lbf must have the same number of samples")
        if self.rod_string is not None and self.spm is None:
            raise ValueError("spm is needed with rod_string (the Gibbs transform)")
        return self


def _classify(args) -> int:
    from engines.lift.rod_string import RodString, RodTaper
    from engines.ml.card_classifier import classify_card, load_model

    data = read_model(args.input, ClassifyCardInput)
    model = load_model(args.model) if args.model else load_model()
    if args.model and model is None:
        raise CliInputError(f"model file not found: {args.model}")
    try:
        rods = None if data.rod_string is None or data.card_type == "downhole" else RodString(
            tuple(RodTaper(r.diameter_in, r.length_ft, r.grade, r.material) for r in data.rod_string))
        res = classify_card(data.position_in, data.load_lbf, data.spm, data.card_type, rods, data.damping_factor,
                            data.fluid_sg, model)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    out = {"card_class": res.card_class, "confidence": res.confidence, "probabilities": res.probabilities,
           "path": res.path, "detail": res.detail}
    if args.json:
        print_json(out)
        return 0
    print_key_values([(k, out[k]) for k in ("card_class", "confidence", "path", "detail")], title="card class")
    print(format_table(["class", "probability"], sorted(res.probabilities.items(), key=lambda kv: -kv[1])))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("srp", help="sucker-rod pump diagnostics")
    sub = parser.add_subparsers(dest="srp_command", required=True)
    p = sub.add_parser("downhole-card", help="surface card + rod string -> downhole card, fillage, classification")
    p.add_argument("input", help="JSON file, or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_downhole)
    p = sub.add_parser("classify-card", help="surface or downhole card (any points, rod string optional) -> card class")
    p.add_argument("input", help="JSON file, or - for stdin")
    p.add_argument("--model", help="card model file (default: the packaged one; none -> geometric classifier)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_classify)
