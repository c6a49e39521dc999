"""Hourly Pareto step: the three-objective front of a well's setpoint (oil, specific energy, equipment life),
its knee, the choice under the well's (or the field's) preference weights and the hypervolume.

The engine is :mod:`engines.optimize.pareto`; this module builds its problem from the well's configuration on the
lift optimizers' cached curves (:mod:`tb_bridge.adapters.lift`, one nodal build per configuration), runs the
configured method, passes the weighted choice through the safety layer (:class:`engines.optimize.safety.SafetyLayer`:
the well's limits and maximum step, the 15-minute rate limit against the last change applied to the device, refusal
of a choice the engine predicts to violate a constraint; the verdict is written with the choice, nothing is sent to
the device from here) and names the keys through :mod:`tb_bridge.writeback.keys`.

Method (``pareto_method``: well attribute, else :data:`DEFAULT_HOURLY_METHOD`): ``grid`` enumerates the decision grid
(:func:`engines.optimize.pareto.solve_grid`, 201 points per continuous variable, every crank hole): exact on that
grid and ~10 ms per well, which keeps the hourly tier of 1,000 wells well inside 5 minutes; ``nsga2`` / ``nsga3``
run pymoo's NSGA-II / NSGA-III with population 100 and 200 generations (~1 s per well: the CLI's default).
Weights (importance of oil, energy, life): the well's ``pareto_weights`` attribute, else equal weights.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext

DEFAULT_HOURLY_METHOD = "grid"
DEFAULT_WEIGHTS: tuple[float, float, float] = (1.0, 1.0, 1.0)
GRID_POINTS = 201
ATMOSPHERIC_PSIA = 14.696


def pareto_problem(well: Any, telemetry: dict | None = None, cache: Any = None):
    """The :mod:`engines.optimize.pareto` problem of a configured well (gauge psi in the engines, as the lift
    optimizers use them)."""
    from engines.lift.gas_lift import casing_pressure_at_depth_psia, tubing_pressure_at_injection_psia
    from engines.optimize.pareto import EspLifeModel, EspPareto, GasLiftPareto, PcpPareto, SrpPareto
    from tb_bridge.adapters import lift as adapters
    from tb_bridge.adapters.nodal import correlation_for_well

    telemetry = dict(telemetry or {})
    wc = float(well.water_cut_frac)
    step = getattr(well, "pareto_setpoint_step", None)
    if well.lift_type == "esp":
        _, _, pc = adapters._pump_curves(well, cache)
        return EspPareto(adapters._esp_system(well, pc), wc, EspLifeModel(fluid_temperature_f=float(pc.pump_temperature_f)), step)
    if well.lift_type == "srp":
        _, _, pc = adapters._pump_curves(well, cache)
        strokes = tuple(getattr(well, "stroke_lengths_in", None) or (well.stroke_length_in,))
        return SrpPareto(adapters._srp_system(well, pc), wc, strokes, spm_step=step)
    if well.lift_type == "pcp":
        _, _, pc = adapters._pump_curves(well, cache)
        return PcpPareto(adapters._pcp_system(well, pc, telemetry), wc, step)
    if well.lift_type == "gas_lift":
        def build():
            glpc, fluid, wellbore, inj_md = adapters.gas_lift_glpc(well)
            whp = well.wellhead_pressure_psi + ATMOSPHERIC_PSIA
            tubing = [tubing_pressure_at_injection_psia(max(float(ql), 1.0), float(qi), fluid, wellbore, whp, inj_md,
                                                        correlation=correlation_for_well(well), n_segments=adapters.N_SEGMENTS)
                      for qi, ql in zip(glpc.injection_mscfd, glpc.liquid_bpd)]
            casing = casing_pressure_at_depth_psia(well.injection_pressure_psi + ATMOSPHERIC_PSIA, well.injection_depth_ft,
                                                   well.injection_gas_specific_gravity, well.surface_temperature_f,
                                                   float(wellbore.temperature_at(inj_md)))
            return glpc, np.asarray(tubing), casing
        glpc, tubing, casing = adapters._cached(cache, well, "pareto_gas_lift", build)
        return GasLiftPareto(glpc, tubing, casing, well.injection_pressure_psi + ATMOSPHERIC_PSIA, well.injection_min_mscfd,
                             well.injection_max_mscfd, energy_basis=well.pareto_energy_basis,
                             gas_cost_usd_per_mscf=well.gas_cost_usd_per_mscf, injection_step_mscfd=step)
    raise ValueError(f"no Pareto problem for lift type {well.lift_type!r}")


def current_point(problem, well: Any, telemetry: dict) -> dict[str, float] | None:
    """Today's operating point on the problem's objectives (the running setpoint from telemetry; for an SRP the
    configured stroke length), or None without a usable setpoint telemetry value."""
    from tb_bridge.adapters.lift import CURRENT_SETPOINT_TELEMETRY, finite_or_none

    value = finite_or_none(telemetry.get(CURRENT_SETPOINT_TELEMETRY[well.lift_type]))
    variables = problem.variables
    if value is None or not (variables[0].lower <= value <= variables[0].upper):
        return None
    x = [value] + ([float(well.stroke_length_in)] if len(variables) > 1 else [])
    ev = problem.evaluate(np.array([x]))
    out = {v.name: float(ev.setpoints[0, j]) for j, v in enumerate(variables)}
    out.update(oil_bpd=float(ev.oil_bpd[0]), specific_energy=float(ev.specific_energy[0]), equipment_life=float(ev.equipment_life[0]),
               feasible=bool(ev.feasible[0]))
    return out


def run_pareto(problem, method: str = "nsga2", seed: int = 1, pop_size: int | None = None, n_gen: int | None = None,
               progress_callback=None, stop_event=None):
    from engines.optimize import pareto

    if method == "grid":
        return pareto.solve_grid(problem, GRID_POINTS)
    return pareto.solve_nsga(problem, method, pop_size or pareto.DEFAULT_POPULATION, n_gen or pareto.DEFAULT_GENERATIONS,
                             seed, progress_callback, stop_event)


def review_choice(well: Any, result, choice: int, current: float | None, now_ms: int, last_change_ms: int | None) -> dict[str, Any]:
    """The weighted choice through the safety layer: the verdict (allowed, setpoint, reasons) for its first variable
    (the setpoint the safety layer knows: frequency, SPM, rpm, injection)."""
    from engines.optimize.safety import SafetyLayer, SafetyLimits

    proposed = float(result.front.setpoints[choice, 0])
    if current is None:
        return {"allowed": False, "setpoint": None, "reasons": ["no current setpoint telemetry: nothing to step from"]}
    verdict = SafetyLayer(SafetyLimits.from_well(well)).review(current, proposed, now_ms, last_change_ms,
                                                               result.front.violations(choice))
    return verdict.as_dict()


def pareto_payload(result, weights: Sequence[float], current: dict | None, verdict: dict | None) -> dict[str, Any]:
    """JSON-ready outputs: front (points with setpoints and objectives, units), knee, choice, hypervolume."""
    choice = result.choose(weights)
    return {
        "front": {"lift_type": result.lift_type, "algorithm": result.algorithm,
                  "units": {"oil_bpd": "bbl/d", "specific_energy": result.energy_unit, "equipment_life": result.life_unit,
                            **{v.name: v.unit for v in result.variables}},
                  "points": [result.point(i) for i in range(result.size)], "current": current,
                  "knee_index": result.knee, "choice_index": choice, "relaxed": list(result.relaxed)},
        "knee": result.point(result.knee),
        "choice": {**result.point(choice), "weights": [float(w) for w in weights], "safety": verdict},
        "hypervolume": result.hypervolume,
    }


def pareto_step(context: WellContext) -> StepOutput:
    """Hourly: the well's Pareto front, knee, weighted choice (reviewed by the safety layer) and hypervolume."""
    from tb_bridge.writeback import keys

    from tb_bridge.handlers.engine_steps import LIFT_OPTIMIZER

    well = context.config
    telemetry: dict[str, Any] = dict(context.window.latest())
    problem = pareto_problem(well, telemetry, LIFT_OPTIMIZER.cache)
    method = getattr(well, "pareto_method", None) or DEFAULT_HOURLY_METHOD
    result = run_pareto(problem, method)
    weights = getattr(well, "pareto_weights", None) or DEFAULT_WEIGHTS
    now = current_point(problem, well, telemetry)
    context.state["pareto_last"] = (result, now, int(context.now_ms))  # for the field weights (pareto_field_choice_step)
    # the last change applied to the device: kept by tb_bridge.setpoint_control in the same per-well state
    last_change_ms = (context.state.get("setpoint_control") or {}).get("last_change_ms")
    verdict = review_choice(well, result, result.choose(weights), None if now is None else now[problem.variables[0].name],
                            int(context.now_ms), last_change_ms)
    if not result.size:
        raise InsufficientData("empty Pareto front")
    return StepOutput(attributes=keys.pareto_attributes(pareto_payload(result, weights, now, verdict)))


def pareto_field_choice_step(contexts: Sequence[WellContext], settings: Any) -> dict[str, StepOutput]:
    """Hourly field step (after the per-well steps): with field-wide ``settings.pareto_weights`` set, each well of
    this run without its own ``pareto_weights`` gets ``opt_pareto_choice`` re-picked on this hour's front under the
    field's weights and reviewed again by the safety layer (the per-well step picked with equal weights)."""
    from tb_bridge.writeback import keys

    weights = getattr(settings, "pareto_weights", None)
    outputs: dict[str, StepOutput] = {}
    if not weights:
        return outputs
    for context in contexts:
        well = context.config
        last = context.state.get("pareto_last")
        if getattr(well, "pareto_weights", None) or last is None or last[2] != int(context.now_ms):
            continue
        result, now, _ = last
        choice = result.choose(weights)
        current = None if now is None else now[result.variables[0].name]
        last_change_ms = (context.state.get("setpoint_control") or {}).get("last_change_ms")
        verdict = review_choice(well, result, choice, current, int(context.now_ms), last_change_ms)
        payload = pareto_payload(result, weights, now, verdict)
        outputs[well.entity_id] = StepOutput(attributes={"opt_pareto_choice": keys.pareto_attributes(payload)["opt_pareto_choice"]})
    return outputs
