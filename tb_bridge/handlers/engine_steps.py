"""The engine steps the lift-type handlers schedule: each turns a :class:`WellContext` into
``opt_*`` attributes (and projected time series) by calling one engine family.

Steps do no I/O of their own; anything they remember between runs (CUSUM/EWMA state, baselines,
configuration-only curves) lives in the per-well ``context.state`` the service keeps, or in the step
object (a process-wide cache of curves that depend only on a well's configuration).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext
from tb_bridge.writeback import keys

DAY_MS = 86_400_000


def nodal_step(context: WellContext) -> StepOutput:
    """Natural-flow nodal analysis (IPR x VLP): operating point, AOF, PI, 100-point curves.

    For a lifted well the natural-flow answer is usually "does not flow" (``opt_nodal_flowing`` false);
    the lift step gives the lifted operating point. The answer depends only on the well's
    configuration, so it is recomputed only when the configuration changes."""
    from tb_bridge.adapters.nodal import solve_well

    cached = context.state.get("nodal")
    if cached is None or cached[0] != context.config:
        cached = (context.config, keys.nodal_attributes(solve_well(context.config)))
        context.state["nodal"] = cached
    return StepOutput(attributes=dict(cached[1]))


class LiftStep:
    """Lift optimizer of the well's lift type, with one cache of configuration-only curves per process."""

    __name__ = "lift_optimizer"

    def __init__(self, max_cached_wells: int = 20_000) -> None:
        from tb_bridge.adapters.lift import LiftCache

        self.cache = LiftCache(max_entries=max_cached_wells)

    def __call__(self, context: WellContext) -> StepOutput:
        from tb_bridge.adapters.lift import optimize_well

        telemetry: dict[str, Any] = dict(context.window.latest())
        telemetry.update(context.latest_text)
        result = optimize_well(context.config, telemetry, cache=self.cache)
        return StepOutput(attributes=keys.lift_attributes(result))


#: Fewest rate samples for a decline fit from ThingsBoard history (issue 6: 30 or more entries).
MIN_TB_HISTORY_POINTS = 30
DCA_HISTORY_DAYS = 180


def dca_step(context: WellContext) -> StepOutput:
    """Decline-curve analysis on ``flow_rate_bpd``: up to 180 days from ThingsBoard when it has at
    least 30 entries, else the buffer window; writes the model, EUR percentiles, the forecast JSON and
    the projected monthly rates as future-stamped time series."""
    from engines.dca import DcaSettings, analyze_decline

    t_ms, rate, source = _decline_history(context)
    producing = np.isfinite(rate)
    if producing.sum() < 3:
        raise InsufficientData(f"{int(producing.sum())} rate samples from {source}")
    t_days = (t_ms[producing] - t_ms[producing][0]) / DAY_MS
    settings = DcaSettings(economic_limit_bpd=context.config.economic_limit_bpd, seed=_stable_seed(context.config.entity_id))
    result = analyze_decline(t_days, rate[producing], kind="rate", settings=settings)
    attributes = keys.dca_attributes(result)
    attributes["opt_dca_history_source"] = source
    start_ms = int(t_ms[producing][0])
    points = []
    for month in result.forecast["months"]:
        ts = start_ms + int(round(month["t_days"] * DAY_MS))
        if ts > context.now_ms:
            points.append((ts, {"opt_dca_forecast_bpd": month["rate_bpd"], "opt_dca_forecast_p10_bpd": month["rate_p10_bpd"],
                                "opt_dca_forecast_p90_bpd": month["rate_p90_bpd"]}))
    return StepOutput(attributes=attributes, timeseries=points)


def _decline_history(context: WellContext) -> tuple[np.ndarray, np.ndarray, str]:
    if context.history_source is not None:
        try:
            t_ms, values = context.history_source(context.config.entity_id, "flow_rate_bpd", DCA_HISTORY_DAYS)
        except Exception as exc:  # ThingsBoard unreachable: fall back, and say so
            return context.window.ts_ms, context.series("flow_rate_bpd"), f"buffer (ThingsBoard history failed: {type(exc).__name__})"
        if len(t_ms) >= MIN_TB_HISTORY_POINTS:
            day_ms, day_mean = daily_means(np.asarray(t_ms, dtype=np.int64), np.asarray(values, dtype=float))
            return day_ms, day_mean, "thingsboard"
        return context.window.ts_ms, context.series("flow_rate_bpd"), f"buffer (ThingsBoard had {len(t_ms)} points)"
    return context.window.ts_ms, context.series("flow_rate_bpd"), "buffer"


def daily_means(ts_ms: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar-day (UTC) averages of finite values, stamped at each day's start: history sampled
    daily and telemetry sampled every 5 minutes then weigh the same per day in the fit."""
    finite = np.isfinite(values)
    days = ts_ms[finite] // DAY_MS
    if days.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    unique, inverse = np.unique(days, return_inverse=True)
    sums = np.bincount(inverse, weights=values[finite])
    counts = np.bincount(inverse)
    return unique * DAY_MS, sums / counts


def _stable_seed(entity_id: str) -> int:
    """A deterministic per-well seed (Python's hash() is salted per process)."""
    import zlib

    return zlib.crc32(entity_id.encode("utf-8"))


@dataclass
class _DiagnosticsState:
    baseline: Any = None
    tier_state: Any = None
    last_ts_ms: int = 0
    last_refresh_ms: int = 0
    last_health: float | None = None
    anomaly_active: bool = False
    health_history: list[float] = field(default_factory=list)
    last_result: Any = None  #: the latest DiagnosisResult (read by the alarm step, tb_bridge.handlers.alarm_steps)


#: Samples (5-minute) the fast tier diagnoses and the fewest needed to fit a first baseline.
DIAGNOSTIC_WINDOW_SAMPLES = 72
MIN_BASELINE_SAMPLES = 288  # one day: engines.anomaly.baseline.RobustBaseline.ready


def diagnostics_step(context: WellContext) -> StepOutput:
    """Anomaly detection (CUSUM/EWMA + 24 lift rules), health score and SPC for one well.

    Baseline: fitted on the well's first ``MIN_BASELINE_SAMPLES`` (24 h) of buffered data when none is
    stored yet (until then the step reports insufficient data), and refreshed by the daily tier."""
    from engines.anomaly.baseline import fit_baseline
    from engines.anomaly.diagnosis import MONITORED_KEYS, diagnose_window

    lift_type = context.config.lift_type
    state: _DiagnosticsState = context.state.setdefault("diagnostics", _DiagnosticsState())
    ts = context.window.ts_ms
    arrays = {key: context.series(key)[None, :] for key in context.window.values}
    missing = [key for key in MONITORED_KEYS[lift_type] if key not in arrays]
    if missing:
        raise InsufficientData(f"no telemetry yet for {missing}")
    if state.baseline is None:
        if ts.size < MIN_BASELINE_SAMPLES:
            raise InsufficientData(f"{ts.size} of {MIN_BASELINE_SAMPLES} samples needed for a first baseline")
        state.baseline = fit_baseline({k: v[:, :MIN_BASELINE_SAMPLES] for k, v in arrays.items()})
    window = {k: v[:, -DIAGNOSTIC_WINDOW_SAMPLES:] for k, v in arrays.items()}
    new_steps = int(np.count_nonzero(ts[-DIAGNOSTIC_WINDOW_SAMPLES:] > state.last_ts_ms))
    if new_steps == 0:
        raise InsufficientData("no new samples since the last run")
    history = np.asarray(state.health_history[-7:], dtype=float)[None, :] if state.health_history else None
    result = diagnose_window(lift_type, [context.config.model_dump()], window, state.baseline, state=state.tier_state,
                             health_history=history, new_steps=new_steps)
    state.tier_state = result.state
    state.last_ts_ms = int(ts[-1])
    state.last_health = float(result.health_score[0])
    state.anomaly_active = bool(result.anomaly_detected[0])
    state.last_result = result
    return StepOutput(attributes=keys.diagnosis_attributes(result, 0))


def baseline_refresh_step(context: WellContext) -> StepOutput:
    """Daily: fold the day's samples into the well's baseline (incremental robust update) unless an
    anomaly is active (alarm periods stay out of the baseline), and log the day's health score for the
    7-day trend."""
    from engines.anomaly.baseline import update_baseline

    state: _DiagnosticsState | None = context.state.get("diagnostics")
    if state is None or state.baseline is None:
        raise InsufficientData("no baseline yet")
    if state.last_health is not None:
        state.health_history = (state.health_history + [state.last_health])[-30:]
    if not state.anomaly_active:
        since = context.window.ts_ms > state.last_refresh_ms
        if since.any():
            window = {k: context.series(k)[since][None, :] for k in state.baseline.keys if k in context.window.values}
            if len(window) == len(state.baseline.keys):
                state.baseline = update_baseline(state.baseline, window, eta=0.01)
                state.last_refresh_ms = int(context.window.ts_ms[-1])
    return StepOutput()


#: One lift-optimizer step (and curve cache) shared by every handler in the process.
LIFT_OPTIMIZER = LiftStep()
