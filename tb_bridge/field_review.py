"""The field's weekly review and monthly model audit: the wells' reviews aggregated and written to the field asset.

Where it goes. The field is the ThingsBoard asset named by the setting ``field_asset_id`` (an asset of the ``Field``
profile, the one the field-overview dashboard's ``Field`` alias shows), written through a writeback that addresses
assets (``RestWriteback(entity_type="ASSET")``, built by the runner as for the placement jobs). Every summary is
also kept in the history store (table ``field_summary``, :meth:`HistoryStore.field_summaries`), under the asset id,
or ``default`` when no asset is configured: the summaries then go to the history store only (logged once).

Weekly, after the wells' weekly steps (:func:`tb_bridge.handlers.review_steps.weekly_review_step`), over the wells
whose review ran in this tier run:

- production: the wells' oil, water, gas and energy summed (bbl, Mscf, kWh); the field rates ``opt_field_oil_bpd``,
  ``_water_bpd``, ``_gas_mscfd`` are the sums of the wells' mean rates; uptime = the wells' producing hours / their
  hours (well-hours); energy per barrel = the energy of the wells with a measured motor power / their liquid;
- trends: per day of the week (7 bins of 24 h ending at the run) the field oil rate (the sum of the wells' daily
  mean rates, on days every well has one) and the mean of the wells' daily health scores, written as the time
  series ``opt_field_daily_oil_bpd`` / ``opt_field_daily_health`` stamped at each bin's end, and their
  least-squares slopes (bbl/d per day, health points per day; with fewer than two days of health scores, the
  slope of the field mean of the wells' 5-minute health scores at each run time);
- alarm KPIs (ISA-18.2 / EEMUA 191, :func:`engines.alarms.kpi.alarm_kpis`) over every alarm state change in the
  history store in ``[run - 7 d, run)``: what ``atilax alarms kpi --db URL --start --end`` computes, for
  ``alarm_operators`` operators;
- the wells' anomaly summaries summed (alarms raised by type and severity, hours in alarm, diagnosed hours).

Monthly, after the wells' audits (:func:`tb_bridge.handlers.review_steps.model_audit_step`): their rows, and one row
per field model of each lift type (the Isolation-Forest fallback and the field PCA monitor, fitted daily on the
wells' buffered day, ``tb_bridge.handlers.engine_steps.DiagnosticsStep.train_field_models``) with its age, window
and the drift of its inputs: the forest's raw telemetry inputs as the pooled 7-day mean over the lift type's wells
against their mean and standard deviation over the training windows; the PCA monitor's inputs (the monitored keys
standardized by each well's baseline) as the mean over the wells of each well's 7-day mean so standardized, against
the monitor's own training mean and standard deviation.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np

from engines.alarms.kpi import TARGETS, alarm_kpis
from engines.review import Moments, combine_totals, linear_trend
from tb_bridge.handlers.review_steps import DAY_MS, DRIFT_FLAG_SD, WEEK_DAYS, WEEK_MS, WellAudit, WellWeek, audit_row
from tb_bridge.history.period_log import kpi_log
from tb_bridge.history.store import HistoryStore
from tb_bridge.writeback.base import Writeback
from tb_bridge.writeback.keys import charted_values, check_attributes

log = logging.getLogger(__name__)

#: ``field_summary.field_id`` when no field asset is configured.
DEFAULT_FIELD_ID = "default"


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000.0, timezone.utc)


def _num(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _add_counts(into: dict[str, float], counts: Mapping[str, float]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


def day_bin(end_ms: int, now_ms: int) -> int:
    """The day of the week (0 oldest .. 6 newest) whose bin ``(now - (7 - i) d, now - (6 - i) d]`` holds ``end_ms``;
    outside the week: -1."""
    i = WEEK_DAYS - 1 - int((now_ms - end_ms) // DAY_MS)
    return i if 0 <= i < WEEK_DAYS and end_ms <= now_ms else -1


def weekly_field_summary(weeks: Sequence[WellWeek], now_ms: int, kpi: Any, operators: int) -> tuple[dict[str, Any],
                                                                                                   list[tuple[int, dict]]]:
    """The field's weekly attributes and its daily time-series points from the wells' reviews and the alarm KPIs."""
    totals = [w.week.total for w in weeks]
    field = combine_totals(totals)
    days_oil = np.full((len(weeks), WEEK_DAYS), np.nan)
    health_sum, health_n = np.zeros(WEEK_DAYS), np.zeros(WEEK_DAYS)
    for j, w in enumerate(weeks):
        for d in w.week.days:
            i = day_bin(d.end_ms, now_ms)
            if i >= 0 and d.period_h > 0:
                days_oil[j, i] = d.oil_bpd
        for t, h in w.health:
            i = day_bin(t, now_ms)
            if i >= 0:
                health_sum[i] += h
                health_n[i] += 1
    daily_oil = np.where(np.isfinite(days_oil).all(axis=0), np.nansum(days_oil, axis=0), np.nan)
    daily_health = np.where(health_n > 0, health_sum / np.maximum(health_n, 1), np.nan)
    t_days = np.arange(WEEK_DAYS, dtype=float) - (WEEK_DAYS - 1)  # bin ends, days before the run
    oil_trend, health_trend = linear_trend(t_days, daily_oil), linear_trend(t_days, daily_health)
    if health_trend.n < 2:  # fewer than two days with scores: the field mean of the 5-minute scores per run time
        by_run: dict[int, list[float]] = {}
        for w in weeks:
            for t, h in w.health_samples:
                by_run.setdefault(t, []).append(h)
        runs = sorted(by_run)
        health_trend = linear_trend(np.array([(t - now_ms) / DAY_MS for t in runs]),
                                    np.array([float(np.mean(by_run[t])) for t in runs]))
    raised_type: dict[str, float] = {}
    raised_sev: dict[str, float] = {}
    hours_type: dict[str, float] = {}
    diag_type: dict[str, float] = {}
    diag_sev: dict[str, float] = {}
    for w in weeks:
        _add_counts(raised_type, w.alarms.raised_by_type)
        _add_counts(raised_sev, w.alarms.raised_by_severity)
        _add_counts(hours_type, w.alarms.hours_by_type)
        _add_counts(diag_type, w.diagnoses.hours_by_type)
        _add_counts(diag_sev, w.diagnoses.hours_by_severity)
    sources: dict[str, int] = {}
    for w in weeks:
        kind = "thingsboard" if w.week.source == "thingsboard" else "history store"
        sources[kind] = sources.get(kind, 0) + 1
    kpi_json = {**asdict(kpi), "top_bad_actors": [list(a) for a in kpi.top_bad_actors],
                "chattering_tags": list(kpi.chattering_tags), "stale_tags": list(kpi.stale_tags),
                "operators": operators, "targets": dict(TARGETS), "period": [int(now_ms - WEEK_MS), int(now_ms)]}
    attributes = {
        "opt_field_weekly_ts": int(now_ms),
        "opt_field_period_start_ts": field.start_ms, "opt_field_period_end_ts": field.end_ms,
        "opt_field_wells": len(weeks),
        "opt_field_source": ", ".join(f"{k}: {n} wells" for k, n in sorted(sources.items())),
        "opt_field_oil_bbl": field.oil_bbl, "opt_field_water_bbl": field.water_bbl, "opt_field_gas_mscf": field.gas_mscf,
        "opt_field_energy_kwh": _num(field.energy_kwh),
        "opt_field_oil_bpd": float(sum(t.oil_bpd for t in totals)),
        "opt_field_water_bpd": float(sum(t.rate_per_day(t.water_bbl) for t in totals)),
        "opt_field_gas_mscfd": float(sum(t.rate_per_day(t.gas_mscf) for t in totals)),
        "opt_field_uptime_pct": _num(field.uptime_pct), "opt_field_kwh_per_bbl": _num(field.kwh_per_bbl),
        "opt_field_oil_trend_bpd_per_day": _num(oil_trend.slope_per_day),
        "opt_field_health_trend_per_day": _num(health_trend.slope_per_day),
        "opt_field_alarm_count": sum(w.alarms.raised for w in weeks),
        "opt_field_alarm_hours": float(sum(w.alarms.hours_in_alarm for w in weeks)),
        "opt_field_anomaly_hours": float(sum(w.diagnoses.hours for w in weeks)),
        "opt_field_alarms_per_hour": kpi.alarms_per_operator_per_hour,
        "opt_field_alarm_kpi": kpi_json,
        "opt_field_anomaly_summary": {
            "period": [int(now_ms - WEEK_MS), int(now_ms)],
            "alarms_raised": {"total": sum(w.alarms.raised for w in weeks), "by_type": raised_type,
                              "by_severity": raised_sev},
            "alarm_hours": {"sum_over_wells": float(sum(w.alarms.hours_in_alarm for w in weeks)),
                            "by_type": hours_type},
            "diagnosed_hours": {"sum_over_wells": float(sum(w.diagnoses.hours for w in weeks)), "by_type": diag_type,
                                "by_severity": diag_sev},
            "wells": [{"well": w.name, "alarms": w.alarms.raised, "alarm_hours": w.alarms.hours_in_alarm,
                       "diagnosed_hours": w.diagnoses.hours} for w in weeks]},
    }
    points = [(int(now_ms - (WEEK_DAYS - 1 - i) * DAY_MS),
               {k: v for k, v in (("opt_field_daily_oil_bpd", _num(daily_oil[i])),
                                  ("opt_field_daily_health", _num(daily_health[i]))) if v is not None})
              for i in range(WEEK_DAYS)]
    return attributes, [(ts, p) for ts, p in points if p]


def field_model_rows(lift_type: str, models: Mapping[str, Any], audits: Sequence[WellAudit],
                     baselines: Mapping[str, Any], now_ms: int) -> list[dict[str, Any]]:
    """Audit rows of one lift type's field models (``models``: its ``field_state["diagnostics"]``) against the 7-day
    input means of the lift type's audited wells (``baselines``: entity id -> the well's RobustBaseline)."""
    fits = models.get("fits") or {}
    mine = [a for a in audits if a.lift_type == lift_type]
    common = dict(scope="field", entity=f"{lift_type} wells", lift_type=lift_type)
    source = f"7-day means of {len(mine)} {lift_type} wells"
    rows = []
    forest_fit = fits.get("isolation_forest")
    if models.get("forest") is not None and forest_fit is not None:
        recent = {k: Moments.combine(a.moments[k] for a in mine if k in a.moments) for k in forest_fit.inputs}
        rows.append(audit_row("isolation_forest", forest_fit, now_ms, forest_fit.inputs, forest_fit.train_mean,
                              forest_fit.train_sd, recent, source, **common))
    pca = models.get("pca")
    if pca is not None:
        z: dict[str, list[float]] = {k: [] for k in pca.keys}
        for a in mine:
            base = baselines.get(a.entity_id)
            if base is None:
                continue
            for k in pca.keys:
                m = a.moments.get(k)
                if k in base.keys and m is not None and m.n:
                    c = base.column(k)
                    z[k].append((m.mean - float(base.loc[0, c])) / float(base.scale[0, c]))
        recent = {k: Moments.of(v) for k, v in z.items()}
        rows.append(audit_row("field_pca", fits.get("field_pca"), now_ms, pca.keys, pca.mean, pca.scale, recent,
                              f"7-day means of {max((len(v) for v in z.values()), default=0)} {lift_type} wells, "
                              f"standardized by each well's baseline", **common))
    return rows


def audit_field_summary(rows: Sequence[Mapping[str, Any]], now_ms: int) -> dict[str, Any]:
    """The field's monthly audit attributes from all rows (wells' and field models')."""
    ages = [r["age_days"] for r in rows if r.get("age_days") is not None]
    return {"opt_field_model_audit_ts": int(now_ms), "opt_field_model_audit": list(rows), "opt_field_models": len(rows),
            "opt_field_models_drifted": sum(1 for r in rows if r.get("drifted")),
            "opt_field_model_oldest_days": max(ages) if ages else None}


class FieldReview:
    """Writes the field summaries (weekly, monthly) to the field asset and the history store."""

    def __init__(self, history: HistoryStore, *, field_asset_id: str | None, asset_writeback: Writeback | None,
                 alarm_operators: int = 1) -> None:
        self.history = history
        self.field_asset_id = field_asset_id
        self.asset_writeback = asset_writeback
        self.alarm_operators = int(alarm_operators)
        self._logged_no_asset = False

    def run(self, tier: str, now_ms: int, states: Sequence[Mapping[str, Any]],
            field_states: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
        """The field summary of ``tier`` (``weekly`` or ``monthly``) from the wells' states after this tier run
        (only reviews made at ``now_ms`` count); returns the attributes written, None when no well had a review."""
        if tier == "weekly":
            weeks = [s["weekly_review"] for s in states
                     if isinstance(s.get("weekly_review"), WellWeek) and s["weekly_review"].now_ms == now_ms]
            if not weeks:
                return None
            start, end = now_ms - WEEK_MS, now_ms
            ts, tags, events = kpi_log(self.history.alarm_log(_instant(start), _instant(end)))
            kpi = alarm_kpis(ts, tags, events, start / 1000.0, end / 1000.0, self.alarm_operators)
            attributes, points = weekly_field_summary(weeks, now_ms, kpi, self.alarm_operators)
            kind = "weekly"
        elif tier == "monthly":
            audits = [s["model_audit"] for s in states
                      if isinstance(s.get("model_audit"), WellAudit) and s["model_audit"].now_ms == now_ms]
            baselines = {s["model_audit"].entity_id: getattr(s.get("diagnostics"), "baseline", None) for s in states
                         if isinstance(s.get("model_audit"), WellAudit) and s["model_audit"].now_ms == now_ms}
            rows = [row for a in audits for row in a.rows]
            for lift_type, field_state in sorted(field_states.items()):
                rows.extend(field_model_rows(lift_type, field_state.get("diagnostics") or {}, audits, baselines, now_ms))
            if not rows:
                return None
            attributes, points = audit_field_summary(rows, now_ms), []
            start, end, kind = now_ms - WEEK_MS, now_ms, "model_audit"
        else:
            return None
        encoded = check_attributes(attributes)
        self.history.record_field_summary(self.field_asset_id or DEFAULT_FIELD_ID, kind, encoded,
                                          period_start=_instant(start), period_end=_instant(end),
                                          created_at=_instant(now_ms))
        self._write(encoded, [(int(now_ms), charted_values(encoded))] + points)
        return encoded

    def _write(self, attributes: Mapping[str, Any], points: list[tuple[int, dict[str, Any]]]) -> None:
        if not self.field_asset_id or self.asset_writeback is None:
            if not self._logged_no_asset:
                self._logged_no_asset = True
                why = ("no field asset is configured (field_asset_id)" if not self.field_asset_id
                       else "the service has no writeback addressing assets")
                log.info("%s: the field summaries go to the history store only (table field_summary)", why)
            return
        self.asset_writeback.write_attributes(self.field_asset_id, dict(attributes), scope="SERVER_SCOPE")
        series = [(ts, check_attributes(p, "timeseries")) for ts, p in points]
        series = [(ts, p) for ts, p in series if p]
        if series:
            self.asset_writeback.write_timeseries(self.field_asset_id, series)
        self.asset_writeback.flush()
