"""The daily production summary, the weekly review and the monthly model audit of one well (every lift type).

Where a week of telemetry comes from. The buffer holds one day, so a week is read from one of two places
(:func:`telemetry_week`), whichever holds more samples of it (ThingsBoard on a tie):

- **ThingsBoard's history** (``context.history_source``, when the service is connected to ThingsBoard): the raw
  telemetry of the last 7 days, the authoritative record (it also holds what arrived while the service was down or
  late), read in one request per page for all the keys;
- **the history store's daily summaries**: every daily tier writes ``opt_daily_production``
  (:func:`daily_production_step`), the totals and the per-key moments of the buffered samples since the previous
  summary (at most the buffer's 24 h), and the daily run record keeps it. A week is the summaries of the daily runs
  of the 7 days before the review (by their tier time); this needs no ThingsBoard and costs seven small rows per well.

The source is written beside the results (``opt_weekly_source``).

Weekly (:func:`weekly_review_step`, every Monday at 06:30 by default, after the daily tier), per well:

- production: oil, water (liquid x water cut), separator gas, electrical energy, uptime (hours with a liquid rate
  above ``engines.review.PRODUCING_MIN_BPD`` / hours of the period), data coverage, energy per barrel of liquid
  (wells with a measured motor power), from the week's telemetry (``engines.review.production``);
- anomalies over ``[run - 7 d, run)``, from the history store: the ISA-18.2 alarms raised, counted by alarm type and
  severity, and the hours in alarm (each type, and with any alarm standing; ``engines.review.anomalies``), read from
  the alarm-event log with each alarm's state at the week's start; the hours the 5-minute diagnoses found an
  anomaly, by type and severity, from the ``opt_anomaly_type`` / ``opt_anomaly_severity`` of the fast runs of
  ``(run - 7 d, run]`` (a run belongs to a period by its tier time, ``tb_bridge.history.period_log``);
- 7-day trends: least-squares slopes of the daily mean oil rate (bbl/d per day) and of the daily health scores the
  daily baseline refresh logs (``opt_health_daily_score``, health points per day); while the week holds fewer than
  two daily scores (a new service or well), of the week's 5-minute health scores (``opt_well_health_score``).

Monthly (:func:`model_audit_step`, on the 1st at 06:45, before the monthly baseline refit renews the baselines):
every model the well's steps learned or fitted (robust baseline, own-history PCA monitor, decline fit), with its
fit time, age, training window and samples (:mod:`tb_bridge.handlers.model_fits`), and the drift of each of its
inputs: the standardized shift of the input's mean over the last 7 days from its training mean, in training
standard deviations (``engines.review.drift``). The field models of a lift type (Isolation Forest, field PCA
monitor) are audited with the field (:mod:`tb_bridge.field_review`).

Each step keeps what the field review aggregates in the well's state (``"weekly_review"``, ``"model_audit"``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from engines.review import (AlarmLogSummary, DiagnosisSummary, Moments, ProductionTotals, Trend, combine_totals,
                            linear_trend, production_totals, standardized_mean_shift, summarize_alarm_log,
                            summarize_diagnoses)
from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext
from tb_bridge.handlers.model_fits import ModelFit, well_fits

DAY_MS = 86_400_000
WEEK_DAYS = 7
WEEK_MS = WEEK_DAYS * DAY_MS
#: The daily summary's key (a JSON attribute; its daily run record keeps it in the history store).
DAILY_KEY = "opt_daily_production"
#: Health score the daily baseline refresh logs (tb_bridge.handlers.engine_steps.HEALTH_DAILY_KEY).
HEALTH_DAILY_KEY = "opt_health_daily_score"
#: The 5-minute health score (the trend's fallback while a week holds fewer than two daily scores).
HEALTH_SCORE_KEY = "opt_well_health_score"
#: Telemetry the production totals read (oilfield units).
PRODUCTION_KEYS = ("flow_rate_bpd", "oil_rate_bpd", "water_cut_frac", "gas_rate_mscfd", "motor_power_kw")
#: Prefixes of keys that are not telemetry (the service's own and simulated values).
_NOT_TELEMETRY = ("opt_", "sim_")
#: An input whose 7-day mean lies this many training standard deviations from its training mean counts as drifted.
DRIFT_FLAG_SD = 3.0


def _totals(ts: np.ndarray, get: Any, start_ms: int, end_ms: int, step_s: float | None = None) -> ProductionTotals:
    return production_totals(ts, start_ms, end_ms, liquid_bpd=get("flow_rate_bpd"), oil_bpd=get("oil_rate_bpd"),
                             water_cut_frac=get("water_cut_frac"), gas_mscfd=get("gas_rate_mscfd"),
                             power_kw=get("motor_power_kw"), step_s=step_s)


def _telemetry_keys(context: WellContext) -> list[str]:
    return [k for k in context.window.values if not k.startswith(_NOT_TELEMETRY)]


# -- daily ----------------------------------------------------------------------------------------------------
def daily_production_step(context: WellContext) -> StepOutput:
    """Daily: ``opt_daily_production`` = ``{"totals": ProductionTotals.to_dict(), "moments": {key: [n, mean, sd]}}`` of
    the buffered samples after the previous summary (at most the last 24 h) up to the tier's time: the history
    store keeps it with the daily run, and the weekly review adds seven of them when ThingsBoard has no more."""
    end = int(context.now_ms)
    state = context.state.setdefault("daily_production", {})
    start = max(int(state.get("last_end_ms", end - DAY_MS)), end - DAY_MS)
    ts = context.window.ts_ms
    inside = (ts > start) & (ts <= end)
    if not inside.any():
        raise InsufficientData(f"no buffered telemetry in the {(end - start) / 3_600_000:g} h since the last summary")
    totals = _totals(ts, lambda k: context.series(k) if k in context.window.values else None, start, end)
    moments = {k: Moments.of(context.series(k)[inside]).to_list() for k in _telemetry_keys(context)}
    state["last_end_ms"] = end
    return StepOutput(attributes={DAILY_KEY: {"totals": totals.to_dict(), "moments": moments}})


# -- a week of telemetry --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TelemetryWeek:
    """One well's week: ``days`` (production totals per day, oldest first), the ``moments`` of each telemetry key over
    the week, and its ``source``."""

    days: tuple[ProductionTotals, ...]
    moments: dict[str, Moments]
    source: str

    @property
    def total(self) -> ProductionTotals:
        return combine_totals(self.days)


def _from_thingsboard(context: WellContext, start_ms: int, end_ms: int) -> TelemetryWeek | None:
    """The week from ThingsBoard's history, in 7 day bins ``(end - (7 - i) d, end - (6 - i) d]``; None when there
    is no ThingsBoard or it cannot be read."""
    if context.history_source is None:
        return None
    keys = list(dict.fromkeys([*PRODUCTION_KEYS, *_telemetry_keys(context)]))
    try:
        series = context.history_source(context.config.entity_id, keys, WEEK_DAYS)
    except Exception:  # ThingsBoard unreachable: the history store's summaries
        return None
    got = {k: (np.asarray(t, dtype=np.int64), np.asarray(v, dtype=float)) for k, (t, v) in series.items() if len(t)}
    if not got:
        return None
    ts = np.unique(np.concatenate([t for t, _ in got.values()]))
    ts = ts[(ts > start_ms) & (ts <= end_ms)]
    if ts.size == 0:
        return None
    aligned: dict[str, np.ndarray] = {}
    for k, (t, v) in got.items():
        column = np.full(ts.shape, np.nan)
        keep = (t > start_ms) & (t <= end_ms)
        column[np.searchsorted(ts, t[keep])] = v[keep]
        aligned[k] = column
    spacing = np.diff(ts)
    step_s = float(np.median(spacing[spacing > 0])) / 1000.0 if np.any(spacing > 0) else 0.0
    days = tuple(_totals(ts, aligned.get, end_ms - (WEEK_DAYS - i) * DAY_MS, end_ms - (WEEK_DAYS - 1 - i) * DAY_MS,
                         step_s) for i in range(WEEK_DAYS))
    moments = {k: Moments.of(v) for k, v in aligned.items()}
    return TelemetryWeek(days, moments, "thingsboard")


def _from_daily_summaries(context: WellContext, start_ms: int, end_ms: int) -> TelemetryWeek | None:
    """The week from the daily summaries of the daily runs of ``(start_ms, end_ms]`` (by the tier's time)."""
    if context.history_log is None:
        return None
    runs = context.history_log.results([context.config.entity_id], "daily", [DAILY_KEY], start_ms, end_ms)
    days, parts = [], []
    for _, values in runs.get(context.config.entity_id, []):
        summary = values.get(DAILY_KEY)
        if not isinstance(summary, Mapping):
            continue
        try:
            days.append(ProductionTotals.from_dict(summary["totals"]))
            parts.append({k: Moments.from_list(m) for k, m in (summary.get("moments") or {}).items()})
        except (KeyError, TypeError, ValueError):  # a malformed row (hand-edited store): left out
            continue
    if not days:
        return None
    moments = {k: Moments.combine(p[k] for p in parts if k in p) for k in dict.fromkeys(k for p in parts for k in p)}
    noun = "summary" if len(days) == 1 else "summaries"
    return TelemetryWeek(tuple(days), moments, f"history store ({len(days)} daily {noun})")


def telemetry_week(context: WellContext, start_ms: int, end_ms: int) -> TelemetryWeek:
    """The week ``(start_ms, end_ms]`` of one well's telemetry from ThingsBoard's history or the history store's daily
    summaries, whichever holds more samples (ThingsBoard on a tie); raises :class:`InsufficientData` when neither
    has any."""
    candidates = [w for w in (_from_thingsboard(context, start_ms, end_ms),
                              _from_daily_summaries(context, start_ms, end_ms)) if w is not None]
    if not candidates:
        raise InsufficientData("no telemetry of the last 7 days in ThingsBoard's history nor in the history store's "
                               "daily summaries")
    return max(candidates, key=lambda w: w.total.samples)  # max keeps the first (ThingsBoard) on a tie


# -- weekly ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WellWeek:
    """What the weekly review found for one well (kept in its state for the field review)."""

    entity_id: str
    name: str
    lift_type: str
    now_ms: int
    week: TelemetryWeek
    alarms: AlarmLogSummary
    diagnoses: DiagnosisSummary
    oil_trend: Trend
    health_trend: Trend
    health: tuple[tuple[int, float], ...] = field(default_factory=tuple)  #: (daily run ms, health score)
    #: (5-minute run ms, health score): the trend's points while the week holds fewer than two daily scores
    health_samples: tuple[tuple[int, float], ...] = field(default_factory=tuple)


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _days_json(days: Sequence[ProductionTotals], health: Sequence[tuple[int, float]]) -> list[dict[str, Any]]:
    rows = []
    for d in days:
        score = next((h for t, h in health if d.start_ms < t <= d.end_ms), None)  # the day's health score
        rows.append({"end_ts": d.end_ms, "oil_bpd": _num(d.oil_bpd), "water_bpd": _num(d.rate_per_day(d.water_bbl)),
                     "gas_mscfd": _num(d.rate_per_day(d.gas_mscf)), "uptime_pct": _num(d.uptime_pct),
                     "health": _num(score) if score is not None else None})
    return rows


def weekly_review_step(context: WellContext) -> StepOutput:
    """Weekly: the well's production, anomalies and 7-day trends (see the module docstring) as ``opt_weekly_*``."""
    if context.history_log is None:
        raise InsufficientData("the weekly review reads the history store, and the service has none")
    end = int(context.now_ms)
    start = end - WEEK_MS
    entity = context.config.entity_id
    week = telemetry_week(context, start, end)
    events, prior = context.history_log.alarm_log([entity], start, end)
    alarms = summarize_alarm_log([e[1:] for e in events if e[0] == entity], start / 1000.0, end / 1000.0,
                                 {t: s for (w, t), s in prior.items() if w == entity})
    fast = context.history_log.results([entity], "fast", ["opt_anomaly_type", "opt_anomaly_severity", HEALTH_SCORE_KEY],
                                       start, end)
    runs = [v for _, v in fast.get(entity, []) if "opt_anomaly_type" in v]
    health_samples = tuple(sorted((t, float(v[HEALTH_SCORE_KEY])) for t, v in fast.get(entity, [])
                                  if isinstance(v.get(HEALTH_SCORE_KEY), (int, float))
                                  and not isinstance(v.get(HEALTH_SCORE_KEY), bool)))
    diagnoses = summarize_diagnoses([str(v["opt_anomaly_type"]) for v in runs],
                                    [str(v.get("opt_anomaly_severity")) for v in runs], context.interval_s)
    daily = context.history_log.results([entity], "daily", [HEALTH_DAILY_KEY], start, end)
    health = tuple((t, float(v[HEALTH_DAILY_KEY])) for t, v in daily.get(entity, [])
                   if isinstance(v.get(HEALTH_DAILY_KEY), (int, float)))
    days = week.days
    oil_trend = linear_trend(np.array([(d.end_ms - end) / DAY_MS for d in days]), np.array([d.oil_bpd for d in days]))
    # fewer than two daily scores (a new service or well): the trend of the 5-minute health scores of the week
    trend_points = health if len(health) >= 2 else health_samples
    health_trend = linear_trend(np.array([(t - end) / DAY_MS for t, _ in trend_points]),
                                np.array([h for _, h in trend_points]))
    total = week.total
    result = WellWeek(entity, context.config.name, context.config.lift_type, end, week, alarms, diagnoses, oil_trend,
                      health_trend, health, health_samples)
    context.state["weekly_review"] = result
    attributes = {
        "opt_weekly_period_start_ts": total.start_ms, "opt_weekly_period_end_ts": total.end_ms,
        "opt_weekly_source": week.source,
        "opt_weekly_oil_bbl": total.oil_bbl, "opt_weekly_water_bbl": total.water_bbl,
        "opt_weekly_gas_mscf": total.gas_mscf, "opt_weekly_energy_kwh": _num(total.energy_kwh),
        "opt_weekly_oil_bpd": _num(total.oil_bpd), "opt_weekly_uptime_pct": _num(total.uptime_pct),
        "opt_weekly_data_coverage_pct": _num(total.coverage_pct), "opt_weekly_kwh_per_bbl": _num(total.kwh_per_bbl),
        "opt_weekly_oil_trend_bpd_per_day": _num(oil_trend.slope_per_day),
        "opt_weekly_health_trend_per_day": _num(health_trend.slope_per_day),
        "opt_weekly_alarm_count": alarms.raised, "opt_weekly_alarm_hours": alarms.hours_in_alarm,
        "opt_weekly_anomaly_hours": diagnoses.hours,
        "opt_weekly_anomaly_summary": anomaly_summary_json(alarms, diagnoses, start, end),
        "opt_weekly_daily": _days_json(days, health),
    }
    return StepOutput(attributes=attributes)


def anomaly_summary_json(alarms: AlarmLogSummary, diagnoses: DiagnosisSummary, start_ms: int,
                         end_ms: int) -> dict[str, Any]:
    """The anomaly summary as written (``opt_weekly_anomaly_summary``, ``opt_field_anomaly_summary``)."""
    return {"period": [int(start_ms), int(end_ms)],
            "alarms_raised": {"total": alarms.raised, "by_type": alarms.raised_by_type,
                              "by_severity": alarms.raised_by_severity},
            "alarm_hours": {"any": alarms.hours_in_alarm, "by_type": alarms.hours_by_type},
            "diagnosed_hours": {"any": diagnoses.hours, "by_type": diagnoses.hours_by_type,
                                "by_severity": diagnoses.hours_by_severity}}


# -- monthly --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WellAudit:
    """The monthly audit of one well: its ``rows`` (as written) and the week's input ``moments`` (field review)."""

    entity_id: str
    name: str
    lift_type: str
    now_ms: int
    rows: tuple[dict[str, Any], ...]
    moments: dict[str, Moments]
    drift_source: str


def audit_row(model: str, fit: ModelFit | None, now_ms: int, inputs: Sequence[str], train_mean: Sequence[float],
              train_sd: Sequence[float], recent: Mapping[str, Moments], drift_source: str, *, scope: str,
              entity: str, lift_type: str) -> dict[str, Any]:
    """One model's audit row: age and training window (from ``fit``; None where unknown) and the standardized shift
    of each input's recent mean (``recent[input]``) from its training mean (``train_mean`` / ``train_sd``)."""
    means = np.array([recent[k].mean if k in recent and recent[k].n else np.nan for k in inputs])
    z = standardized_mean_shift(means, np.asarray(train_mean, dtype=float), np.asarray(train_sd, dtype=float))
    drift = {k: round(float(v), 4) for k, v in zip(inputs, z) if math.isfinite(float(v))}
    top = max(drift, key=lambda k: abs(drift[k])) if drift else None
    row: dict[str, Any] = {"model": model, "scope": scope, "entity": entity, "lift_type": lift_type,
                           "fitted_ts": None, "updated_ts": None, "age_days": None, "window_start_ts": None,
                           "window_end_ts": None, "window_days": None, "samples": None, "source": None}
    if fit is not None:
        row.update(fitted_ts=fit.fitted_ms, updated_ts=fit.updated_ms, age_days=(now_ms - fit.fitted_ms) / DAY_MS,
                   window_start_ts=fit.window_start_ms, window_end_ts=fit.window_end_ms,
                   window_days=(fit.window_end_ms - fit.window_start_ms) / DAY_MS, samples=fit.samples,
                   source=fit.source)
    row.update(inputs=len(inputs), drift=drift, max_abs_drift=abs(drift[top]) if top else None, max_drift_input=top,
               drifted=bool(top and abs(drift[top]) >= DRIFT_FLAG_SD), drift_source=drift_source)
    return row


def model_audit_step(context: WellContext) -> StepOutput:
    """Monthly: the audit of the well's learned and fitted models (see the module docstring): ``opt_model_audit``
    (one row per model), the largest input drift ``opt_model_max_drift`` and the age of the oldest model
    ``opt_model_oldest_days``."""
    now = int(context.now_ms)
    try:
        week = telemetry_week(context, now - WEEK_MS, now)
        recent, drift_source = week.moments, week.source
    except InsufficientData:
        recent, drift_source = {}, "no telemetry of the last 7 days"
    fits = well_fits(context.state)
    diagnostics = context.state.get("diagnostics")
    common = dict(scope="well", entity=context.config.name, lift_type=context.config.lift_type)
    rows = []
    baseline = getattr(diagnostics, "baseline", None)
    if baseline is not None:
        rows.append(audit_row("baseline", fits.get("baseline"), now, baseline.keys, baseline.loc[0], baseline.scale[0],
                              recent, drift_source, **common))
    own_pca = getattr(diagnostics, "own_pca", None)
    if own_pca is not None:
        rows.append(audit_row("own_pca", fits.get("own_pca"), now, own_pca.keys, own_pca.mean, own_pca.scale, recent,
                              drift_source, **common))
    decline = fits.get("decline")
    if decline is not None:
        rows.append(audit_row("decline", decline, now, decline.inputs, decline.train_mean, decline.train_sd, recent,
                              drift_source, **common))
    lstm_ae = context.state.pop("lstm_ae_audit", None)  # tb_bridge.handlers.ml_steps.lstm_ae_audit_step, run before
    if lstm_ae is not None:  # the LSTM autoencoder: registry version, age, input drift (mean shift and PSI)
        rows.append(lstm_ae)
    if not rows:
        raise InsufficientData("no learned or fitted model yet")
    context.state["model_audit"] = WellAudit(context.config.entity_id, context.config.name, context.config.lift_type,
                                             now, tuple(rows), dict(recent), drift_source)
    drifts = [r["max_abs_drift"] for r in rows if r["max_abs_drift"] is not None]
    ages = [r["age_days"] for r in rows if r["age_days"] is not None]
    return StepOutput(attributes={"opt_model_audit": rows, "opt_model_max_drift": max(drifts) if drifts else None,
                                  "opt_model_oldest_days": max(ages) if ages else None})
