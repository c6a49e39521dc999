"""Lift-specific handler steps beyond the hourly optimizer: gas-lift casing heading (fast tier) and valve
stability (hourly), PCP elastomer life from the temperature history (hourly), and the field-wide gas-lift
gas allocation (hourly field step over all gas-lift wells).

The physics is in :mod:`engines.lift`; these steps only pick the buffered samples, convert units (gauge
psi -> psia, degF -> degC, ms -> min/days), keep per-well memory in ``context.state`` and name the keys
through :mod:`tb_bridge.writeback.keys`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext
from tb_bridge.writeback import keys

ATMOSPHERIC_PSIA = 14.696
MS_PER_MIN = 60_000.0
MS_PER_DAY = 86_400_000.0

#: Casing-heading analysis window (the most recent 6 h: six cycles of a 1-hour heading period) and the
#: fewest samples :func:`engines.lift.gas_lift.detect_casing_heading` accepts.
HEADING_WINDOW_MIN = 360.0
HEADING_MIN_SAMPLES = 32


def _latest_finite(context: WellContext, key: str) -> float | None:
    values = context.series(key)
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[-1]]) if finite.size else None


def gas_lift_heading_step(context: WellContext) -> StepOutput:
    """Casing heading from the buffered wellhead casing and tubing pressures of the last 6 h.

    A heading needs at least two cycles in the window, so the longest period searched is half the span
    of the samples (the engine's 2 min lower bound stays; 5-minute samples cap it at 10 min anyway)."""
    from engines.lift.gas_lift import detect_casing_heading

    ts = context.window.ts_ms
    casing, tubing = context.series("casing_pressure_psi"), context.series("tubing_pressure_psi")
    use = (ts >= context.now_ms - HEADING_WINDOW_MIN * MS_PER_MIN) & np.isfinite(casing) & np.isfinite(tubing)
    if np.count_nonzero(use) < HEADING_MIN_SAMPLES:
        raise InsufficientData(f"{int(np.count_nonzero(use))} of {HEADING_MIN_SAMPLES} casing/tubing pressure samples "
                               f"in the last {HEADING_WINDOW_MIN:.0f} min")
    t_min = (ts[use] - ts[use][0]) / MS_PER_MIN
    detection = detect_casing_heading(t_min, casing[use], tubing[use], max_period_min=0.5 * float(t_min[-1]))
    return StepOutput(attributes=keys.gas_lift_heading_attributes(detection))


def gas_lift_valve_step(context: WellContext) -> StepOutput:
    """Predictive valve stability at the current operation (measured rates and wellhead pressures).

    Casing pressure at the valve: static gas column from the wellhead casing pressure (the configured
    injection pressure when no casing pressure is buffered); tubing pressure at the valve: flowing traverse
    of the measured liquid and injection rates from the wellhead tubing pressure (configured when absent)."""
    from engines.lift.gas_lift import casing_pressure_at_depth_psia, tubing_pressure_at_injection_psia, valve_stability
    from tb_bridge.adapters.nodal import correlation_for_well, fluid_from_well, wellbore_from_well

    well = context.config
    q_liq, q_inj = _latest_finite(context, "flow_rate_bpd"), _latest_finite(context, "injection_rate_mscfd")
    if q_liq is None or q_inj is None or q_liq <= 0 or q_inj <= 0:
        raise InsufficientData("no positive flow_rate_bpd and injection_rate_mscfd yet")
    casing_psi = _latest_finite(context, "casing_pressure_psi")
    tubing_psi = _latest_finite(context, "tubing_pressure_psi")
    casing_psi = well.injection_pressure_psi if casing_psi is None else casing_psi
    tubing_psi = well.wellhead_pressure_psi if tubing_psi is None else tubing_psi
    fluid, wellbore = fluid_from_well(well), wellbore_from_well(well)
    inj_md = float(np.interp(well.injection_depth_ft, np.asarray(wellbore.tvd_ft), np.asarray(wellbore.md_ft)))
    p_casing = casing_pressure_at_depth_psia(casing_psi + ATMOSPHERIC_PSIA, well.injection_depth_ft,
                                             well.injection_gas_specific_gravity, well.surface_temperature_f,
                                             float(wellbore.temperature_at(inj_md)))
    p_tubing = tubing_pressure_at_injection_psia(q_liq, q_inj, fluid, wellbore, tubing_psi + ATMOSPHERIC_PSIA, inj_md,
                                                 correlation=correlation_for_well(well), n_segments=30)
    return StepOutput(attributes=keys.gas_lift_valve_attributes(valve_stability(p_casing, p_tubing)))


def _pump_temperature_f(well: Any) -> float:
    """Static (geothermal) temperature at the pump from the configuration, degF."""
    from tb_bridge.adapters.nodal import wellbore_from_well

    wellbore = wellbore_from_well(well)
    pump_md = float(np.interp(well.pump_depth_ft, np.asarray(wellbore.tvd_ft), np.asarray(wellbore.md_ft)))
    return float(wellbore.temperature_at(pump_md))


def pcp_elastomer_history_step(context: WellContext) -> StepOutput:
    """Arrhenius elastomer damage accumulated over the temperature history, and the remaining life.

    Temperature: buffered ``intake_temperature_f`` (a downhole gauge) when the well reports it, else the
    configured geothermal temperature at pump depth at every buffered timestamp. Each run integrates
    (trapezoid, Miner's rule, :func:`engines.lift.elastomer.remaining_life`) the samples newer than the last
    run, starting from the last run's final sample, so the damage is additive across runs; the state
    (in ``context.state``) restarts when the elastomer changes (a new stator). Remaining life =
    (1 - damage) x life at the latest temperature, capped at the PCP optimizer's maximum run life (5 y):
    field run lives are 1-3 years, not the nominal decades."""
    from engines.lift.elastomer import life_days, remaining_life
    from engines.lift.pcp import PcpSystem

    well = context.config
    ts = context.window.ts_ms
    temp_f = context.series("intake_temperature_f")
    if not np.any(np.isfinite(temp_f)):
        temp_f = np.full(ts.shape, _pump_temperature_f(well))
    ok = np.isfinite(temp_f)
    ts, temp_c = ts[ok], (temp_f[ok] - 32.0) / 1.8
    state = context.state.get("pcp_elastomer")
    if state is None or state["elastomer"] != well.elastomer:
        state = None
    new = ts > state["last_ts_ms"] if state is not None else np.ones(ts.shape, dtype=bool)
    if state is None and not np.any(new):
        raise InsufficientData("no temperature samples buffered yet")
    if state is None:
        t_ms, t_c = ts[new], temp_c[new]
        state = {"elastomer": well.elastomer, "damage_frac": 0.0, "first_ts_ms": int(t_ms[0])}
    else:
        t_ms = np.concatenate([[state["last_ts_ms"]], ts[new]])
        t_c = np.concatenate([[state["last_temperature_c"]], temp_c[new]])
    increment = remaining_life(well.elastomer, (t_ms - t_ms[0]) / MS_PER_DAY, t_c).damage_frac
    state.update(damage_frac=min(1.0, state["damage_frac"] + increment), last_ts_ms=int(t_ms[-1]),
                 last_temperature_c=float(t_c[-1]))
    context.state["pcp_elastomer"] = state
    cap_days = PcpSystem.__dataclass_fields__["max_run_life_days"].default
    remaining = min((1.0 - state["damage_frac"]) * float(life_days(well.elastomer, state["last_temperature_c"])), cap_days)
    history_days = (state["last_ts_ms"] - state["first_ts_ms"]) / MS_PER_DAY
    return StepOutput(attributes=keys.pcp_elastomer_attributes(state["damage_frac"], remaining, history_days))


def gas_allocation_field_step(contexts: Sequence[WellContext], settings: Any) -> dict[str, StepOutput]:
    """Field-wide equal-slope allocation of ``settings.lift_gas_available_mscfd`` over the gas-lift wells.

    Each well's GLPC (:func:`tb_bridge.adapters.lift.gas_lift_glpc`, between its injection minimum and
    maximum) is kept in its ``context.state`` and rebuilt only when its configuration changes. Unset
    available gas means unconstrained: the sum of the wells' maximum injections is offered, so each well
    gets the optimum of its own (hull) curve. The allocation maximizes field oil (no economic threshold;
    the per-well economic optimum is the optimizer's ``opt_gl_injection_recommended_mscfd``). A well
    whose GLPC cannot be built gets the error and is left out of the split."""
    from engines.lift.gas_allocation import allocate_gas_equal_slope
    from tb_bridge.adapters.lift import gas_lift_glpc

    outputs: dict[str, StepOutput] = {}
    ids, curves = [], []
    for context in contexts:
        cached = context.state.get("gl_glpc")
        if cached is None or cached[0] != context.config:
            try:
                cached = (context.config, gas_lift_glpc(context.config)[0])
            except Exception as exc:
                outputs[context.config.entity_id] = StepOutput(errors=[f"gas_allocation: GLPC: {type(exc).__name__}: {exc}"])
                continue
            context.state["gl_glpc"] = cached
        ids.append(context.config.entity_id)
        curves.append(cached[1])
    if not curves:
        return outputs
    available = settings.lift_gas_available_mscfd
    if available is None:
        available = float(sum(c.injection_mscfd[-1] for c in curves))
    allocation = allocate_gas_equal_slope(curves, available)
    for i, entity_id in enumerate(ids):
        outputs[entity_id] = StepOutput(attributes=keys.gas_allocation_attributes(
            allocation.injection_mscfd[i], allocation.oil_bpd[i], allocation.marginal_slope_bbl_per_mscf))
    return outputs
