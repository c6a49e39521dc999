"""Every ThingsBoard key the service writes: the public contract with dashboards and rule chains.

This is the one module that names ``opt_*`` and ``sim_*`` keys. Handlers build results with the
``*_attributes`` functions below; :func:`check_attributes` rejects a key that is not in the table (a
renamed key breaks a test instead of silently blanking a dashboard widget). The bundled dashboards and
rule chains are tested against :data:`KEYS` and :data:`KEY_PREFIXES`.

Each entry: ThingsBoard kind (server attribute, time series, or both), value type, unit, meaning.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

KeyKind = Literal["attribute", "timeseries", "both"]
ValueType = Literal["number", "string", "boolean", "json"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One written key: its ThingsBoard kind, value type, unit and meaning."""

    key: str
    kind: KeyKind
    value_type: ValueType
    unit: str | None
    description: str


def _spec(key: str, kind: KeyKind, value_type: ValueType, unit: str | None, description: str) -> KeySpec:
    return KeySpec(key, kind, value_type, unit, description)


_TABLE: tuple[KeySpec, ...] = (
    # --- service status (every handler) ---
    _spec("opt_status", "attribute", "string", None, "ok | error | insufficient_data: outcome of the last run"),
    _spec("opt_error", "attribute", "string", None, "last error for this well (empty when none)"),
    _spec("opt_status_detail", "attribute", "string", None,
          "steps of the last run still waiting for data, and why; which PCA monitor charts T^2/SPE"),
    _spec("opt_error_ts", "attribute", "number", "ms", "when opt_error was set (epoch ms)"),
    _spec("opt_last_run_ts", "attribute", "number", "ms", "when the service last wrote results (epoch ms)"),
    _spec("opt_last_tier", "attribute", "string", None, "tier of the last run: fast | hourly | daily | weekly | monthly | event"),
    # --- monitoring (5-minute tier, every lift type) ---
    _spec("opt_monitor_last_ts", "attribute", "number", "ms", "timestamp of the newest buffered telemetry point"),
    _spec("opt_monitor_points", "attribute", "number", None, "points in the buffer window"),
    _spec("opt_monitor_completeness_pct", "attribute", "number", "%", "received / expected points over the window, main keys"),
    _spec("opt_monitor_stats", "attribute", "json", None, "{key: {min, mean, max, last, unit}} over the window for the lift type's main keys"),
    # --- nodal analysis ---
    _spec("opt_nodal_q_bpd", "both", "number", "bbl/d",
          "operating-point liquid rate with the installed lift at its current setpoint (see opt_nodal_basis)"),
    _spec("opt_nodal_pwf_psi", "both", "number", "psi", "operating-point flowing bottomhole pressure"),
    _spec("opt_nodal_aof_bpd", "attribute", "number", "bbl/d", "absolute open flow (rate at Pwf = 0)"),
    _spec("opt_nodal_pi_stb_d_psi", "attribute", "number", "STB/d/psi", "productivity index"),
    _spec("opt_nodal_drawdown_psi", "attribute", "number", "psi", "Pr - Pwf at the operating point"),
    _spec("opt_nodal_flowing", "attribute", "boolean", None, "IPR and VLP intersect (the well can flow at this setpoint)"),
    _spec("opt_nodal_ipr_curve", "attribute", "json", "[bbl/d, psi]", "IPR curve, 100 points [q, pwf]"),
    _spec("opt_nodal_vlp_curve", "attribute", "json", "[bbl/d, psi]", "VLP (outflow) curve, 100 points [q, pwf]"),
    _spec("opt_nodal_basis", "attribute", "string", None,
          "lift setpoint the operating point is solved at and where it came from (latest telemetry, nominal, recommended)"),
    _spec("opt_nodal_natural_q_bpd", "attribute", "number", "bbl/d", "natural-flow (lift off) operating-point liquid rate"),
    _spec("opt_nodal_natural_pwf_psi", "attribute", "number", "psi", "natural-flow flowing bottomhole pressure"),
    _spec("opt_nodal_natural_flowing", "attribute", "boolean", None, "the well flows naturally (without its lift)"),
    # --- decline-curve analysis ---
    _spec("opt_dca_model", "attribute", "string", None, "selected Arps model"),
    _spec("opt_dca_qi_bpd", "attribute", "number", "bbl/d", "initial rate of the fitted model"),
    _spec("opt_dca_di_pct_month", "attribute", "number", "%/month", "initial nominal decline"),
    _spec("opt_dca_b_factor", "attribute", "number", None, "Arps b exponent"),
    _spec("opt_dca_eur_stb", "attribute", "number", "STB", "deterministic EUR of the fitted model"),
    _spec("opt_dca_eur_p10", "attribute", "number", "STB", "high estimate (exceeded with 10% probability)"),
    _spec("opt_dca_eur_p50", "attribute", "number", "STB", "median estimate"),
    _spec("opt_dca_eur_p90", "attribute", "number", "STB", "low estimate (exceeded with 90% probability)"),
    _spec("opt_dca_forecast", "attribute", "json", "bbl/d", "60 monthly forecast points and 12-month summaries"),
    _spec("opt_dca_history_source", "attribute", "string", None, "thingsboard | buffer: where the fitted history came from"),
    _spec("opt_dca_forecast_bpd", "timeseries", "number", "bbl/d", "projected rate (future timestamps)"),
    _spec("opt_dca_forecast_p10_bpd", "timeseries", "number", "bbl/d", "projected P10 rate"),
    _spec("opt_dca_forecast_p90_bpd", "timeseries", "number", "bbl/d", "projected P90 rate"),
    # --- decline analysis, field effects (issue 20: 1) ---
    _spec("opt_dca_forecast_p50_bpd", "timeseries", "number", "bbl/d",
          "projected P50 (median of the Monte Carlo trials) monthly average on-stream rate, stamped at calendar month ends"),
    _spec("opt_dca_no_decline", "attribute", "boolean", None,
          "no decline identified (flat or rising history, or too soon after a restart): the forecast assumes the "
          "configured decline range and maximum life instead of extrapolating the history"),
    _spec("opt_dca_no_decline_reason", "attribute", "string", None, "why no decline was identified (empty otherwise)"),
    _spec("opt_dca_segment_start_ts", "attribute", "number", "ms",
          "start of the fitted decline segment (epoch ms): the restart after the last long shut-in, or the first sample"),
    # --- lift optimizers ---
    _spec("opt_esp_freq_recommended_hz", "both", "number", "Hz", "recommended ESP drive frequency"),
    _spec("opt_esp_bep_distance_pct", "attribute", "number", "%", "distance of the operating rate from the pump's BEP"),
    _spec("opt_srp_spm_recommended", "both", "number", "1/min", "recommended strokes per minute"),
    _spec("opt_srp_fillage_pct", "attribute", "number", "%", "pump fillage from the downhole card"),
    _spec("opt_srp_card_class", "attribute", "string", None, "downhole card classification"),
    _spec("opt_srp_downhole_card", "attribute", "json", "[in, lbf]", "computed downhole card"),
    # --- learned card classifier (issue 22: 4; tb_bridge.handlers.card_steps, hourly after the lift optimizer) ---
    _spec("opt_srp_card_confidence", "attribute", "number", None,
          "probability of opt_srp_card_class from the learned card model (0-1); null from the geometric classifier"),
    _spec("opt_srp_card_classifier", "attribute", "string", None,
          "which path classified the measured card: downhole_model (Gibbs transform), surface_model or geometric"),
    _spec("opt_pcp_rpm_recommended", "both", "number", "rpm", "recommended PCP rotor speed"),
    _spec("opt_pcp_elastomer_life_days", "attribute", "number", "d", "remaining elastomer life"),
    _spec("opt_gl_injection_recommended_mscfd", "both", "number", "Mscf/d", "recommended gas-lift injection rate"),
    _spec("opt_lift_expected_q_bpd", "attribute", "number", "bbl/d", "expected liquid rate at the recommended setpoint"),
    _spec("opt_lift_delta_q_bpd", "attribute", "number", "bbl/d", "expected rate change vs the current setpoint"),
    _spec("opt_lift_efficiency_pct", "attribute", "number", "%", "lift system efficiency at the recommendation"),
    _spec("opt_lift_kwh_per_bbl", "attribute", "number", "kWh/bbl", "specific energy at the recommendation"),
    _spec("opt_lift_binding_constraint", "attribute", "string", None, "constraint that limits the recommendation"),
    _spec("opt_lift_curve", "attribute", "json", "[setpoint, bbl/d]", "production vs setpoint"),
    # --- lift handler steps: gas-lift heading / valve stability, PCP elastomer history, field gas allocation ---
    _spec("opt_gl_heading_detected", "both", "boolean", None, "casing heading: coherent casing/tubing pressure oscillation in the last 6 h"),
    _spec("opt_gl_heading_period_min", "attribute", "number", "min", "period of the dominant casing-pressure oscillation"),
    _spec("opt_gl_heading_amplitude_psi", "attribute", "number", "psi", "casing-pressure oscillation amplitude (sinusoid fit)"),
    _spec("opt_gl_valve_stable", "attribute", "boolean", None, "operating valve flows critically (annulus decoupled from tubing)"),
    _spec("opt_gl_valve_pressure_ratio", "attribute", "number", None, "tubing / casing pressure at the valve (critical below 0.551)"),
    _spec("opt_gl_allocated_mscfd", "both", "number", "Mscf/d", "field-wide equal-slope gas allocation to this well"),
    _spec("opt_gl_allocated_oil_bpd", "attribute", "number", "bbl/d", "oil rate on the well's GLPC hull at its allocated gas"),
    _spec("opt_gl_field_marginal_bbl_per_mscf", "attribute", "number", "bbl/Mscf", "common marginal oil per gas of the field allocation"),
    _spec("opt_pcp_elastomer_damage_pct", "attribute", "number", "%", "Arrhenius (Miner) damage accumulated over the temperature history"),
    _spec("opt_pcp_elastomer_history_days", "attribute", "number", "d", "span of temperature history integrated into the damage"),
    # --- diagnostics ---
    _spec("opt_anomaly_detected", "both", "boolean", None, "an anomaly is active"),
    _spec("opt_anomaly_score", "both", "number", "0-1", "anomaly score"),
    _spec("opt_anomaly_type", "attribute", "string", None, "rule or detector that fired"),
    _spec("opt_anomaly_severity", "attribute", "string", None, "CRITICAL | MAJOR | MINOR | WARNING | NONE"),
    _spec("opt_anomaly_evidence", "attribute", "json", None, "keys and their distance from baseline"),
    _spec("opt_well_health_score", "both", "number", "0-100", "well health score"),
    _spec("opt_health_status", "attribute", "string", None, "Excellent | Good | Fair | Poor"),
    _spec("opt_health_components", "attribute", "json", "0-100", "component scores"),
    _spec("opt_health_trend", "attribute", "number", "points/7 d", "7-day health trend"),
    _spec("opt_health_daily_score", "attribute", "number", "0-100",
          "the day's health score logged by the daily baseline refresh (the 7-day trend's input; kept in the history store)"),
    _spec("opt_spc_t2", "both", "number", None, "Hotelling T^2 of the latest vector"),
    _spec("opt_spc_spe", "both", "number", None, "squared prediction error (Q)"),
    _spec("opt_spc_ewma_alarm", "attribute", "boolean", None, "an EWMA chart is out of control"),
    _spec("opt_alarm_active", "attribute", "json", None, "active ISA-18.2 alarms: [{type, severity, state, since_ts}]"),
    # --- LSTM autoencoder (issue 22: 1; tb_bridge.handlers.ml_steps, 5-minute tier, wells with a registered model) ---
    _spec("opt_lstm_ae_anomaly_score", "both", "number", "ratio",
          "reconstruction error of the newest hour of the last 24 h of main keys over the model's threshold (>= 1: anomaly)"),
    _spec("opt_lstm_ae_anomaly", "attribute", "boolean", None, "the LSTM autoencoder's score is at or above 1"),
    _spec("opt_lstm_ae_model_version", "attribute", "number", None, "registry version of the well's LSTM-AE model"),
    # --- daily, weekly and monthly reviews (issue 18: 3; tb_bridge.handlers.review_steps, tb_bridge.field_review) ---
    # per well
    _spec("opt_daily_production", "attribute", "json", None,
          "{totals: {start_ms, end_ms, period_h, samples, observed_h, producing_h, oil_bbl, water_bbl, liquid_bbl, "
          "gas_mscf, energy_kwh, powered_liquid_bbl}, moments: {key: [n, mean, sd]}} of the buffered samples since the "
          "previous daily summary (the weekly review's input when ThingsBoard has no more)"),
    _spec("opt_weekly_period_start_ts", "attribute", "number", "ms", "start of the week's production data (epoch ms)"),
    _spec("opt_weekly_period_end_ts", "attribute", "number", "ms", "end of the week's production data (epoch ms)"),
    _spec("opt_weekly_source", "attribute", "string", None,
          "thingsboard | history store (n daily summaries): where the week's telemetry came from"),
    _spec("opt_weekly_oil_bbl", "attribute", "number", "bbl", "oil produced in the week"),
    _spec("opt_weekly_water_bbl", "attribute", "number", "bbl", "water produced in the week (liquid x water cut)"),
    _spec("opt_weekly_gas_mscf", "attribute", "number", "Mscf", "separator gas in the week (gas lift: with the injected gas)"),
    _spec("opt_weekly_energy_kwh", "attribute", "number", "kWh", "electrical energy of the lift in the week (motor power)"),
    _spec("opt_weekly_oil_bpd", "attribute", "number", "bbl/d", "mean oil rate over the week"),
    _spec("opt_weekly_uptime_pct", "attribute", "number", "%", "hours producing (liquid > 1 bbl/d) / hours of the week"),
    _spec("opt_weekly_data_coverage_pct", "attribute", "number", "%", "hours with telemetry / hours of the week"),
    _spec("opt_weekly_kwh_per_bbl", "attribute", "number", "kWh/bbl", "energy per barrel of liquid lifted in the week"),
    _spec("opt_weekly_oil_trend_bpd_per_day", "attribute", "number", "bbl/d/d",
          "least-squares slope of the week's daily mean oil rates"),
    _spec("opt_weekly_health_trend_per_day", "attribute", "number", "points/d",
          "least-squares slope of the week's daily health scores"),
    _spec("opt_weekly_alarm_count", "attribute", "number", None, "ISA-18.2 alarms raised in the last 7 days"),
    _spec("opt_weekly_alarm_hours", "attribute", "number", "h", "hours with at least one alarm standing (UNACK/ACKED)"),
    _spec("opt_weekly_anomaly_hours", "attribute", "number", "h", "hours the 5-minute diagnoses found an anomaly"),
    _spec("opt_weekly_anomaly_summary", "attribute", "json", None,
          "{period, alarms_raised: {total, by_type, by_severity}, alarm_hours: {any, by_type}, "
          "diagnosed_hours: {any, by_type, by_severity}} of the last 7 days"),
    _spec("opt_weekly_daily", "attribute", "json", None,
          "[{end_ts, oil_bpd, water_bpd, gas_mscfd, uptime_pct, health}] per day of the week"),
    _spec("opt_model_audit", "attribute", "json", None,
          "monthly audit of the well's learned models: [{model, fitted_ts, age_days, window_start_ts, window_end_ts, "
          "window_days, samples, source, drift: {input: standardized 7-day mean shift}, max_abs_drift, drifted}]"),
    _spec("opt_model_max_drift", "attribute", "number", "sd", "largest |standardized mean shift| of a model input"),
    _spec("opt_model_oldest_days", "attribute", "number", "d", "age of the well's oldest fitted model"),
    # field asset (field_asset_id): weekly summary
    _spec("opt_field_weekly_ts", "attribute", "number", "ms", "when the weekly field summary was made (epoch ms)"),
    _spec("opt_field_period_start_ts", "attribute", "number", "ms", "start of the week's production data (epoch ms)"),
    _spec("opt_field_period_end_ts", "attribute", "number", "ms", "end of the week's production data (epoch ms)"),
    _spec("opt_field_wells", "attribute", "number", None, "wells in the weekly field summary"),
    _spec("opt_field_source", "attribute", "string", None, "where the wells' week of telemetry came from (wells per source)"),
    _spec("opt_field_oil_bbl", "attribute", "number", "bbl", "field oil in the week (sum over wells)"),
    _spec("opt_field_water_bbl", "attribute", "number", "bbl", "field water in the week"),
    _spec("opt_field_gas_mscf", "attribute", "number", "Mscf", "field separator gas in the week"),
    _spec("opt_field_energy_kwh", "attribute", "number", "kWh", "field lift energy in the week (wells with motor power)"),
    _spec("opt_field_oil_bpd", "both", "number", "bbl/d", "field oil rate: sum of the wells' mean rates over the week"),
    _spec("opt_field_water_bpd", "both", "number", "bbl/d", "field water rate over the week"),
    _spec("opt_field_gas_mscfd", "both", "number", "Mscf/d", "field separator gas rate over the week"),
    _spec("opt_field_uptime_pct", "both", "number", "%", "producing well-hours / well-hours of the week"),
    _spec("opt_field_kwh_per_bbl", "both", "number", "kWh/bbl", "field energy per barrel of liquid (wells with motor power)"),
    _spec("opt_field_oil_trend_bpd_per_day", "both", "number", "bbl/d/d", "slope of the week's daily field oil rates"),
    _spec("opt_field_health_trend_per_day", "both", "number", "points/d", "slope of the week's daily mean health scores"),
    _spec("opt_field_daily_oil_bpd", "timeseries", "number", "bbl/d", "field oil rate of one day of the week"),
    _spec("opt_field_daily_health", "timeseries", "number", "0-100", "mean health score of the wells on one day"),
    _spec("opt_field_alarm_count", "attribute", "number", None, "ISA-18.2 alarms raised in the field in the week"),
    _spec("opt_field_alarm_hours", "attribute", "number", "h", "sum over wells of their hours in alarm"),
    _spec("opt_field_anomaly_hours", "attribute", "number", "h", "sum over wells of their diagnosed anomaly hours"),
    _spec("opt_field_alarms_per_hour", "both", "number", "1/h", "ISA-18.2 annunciated alarms per operator per hour"),
    _spec("opt_field_alarm_kpi", "attribute", "json", None,
          "ISA-18.2 / EEMUA 191 alarm KPIs of the week (engines.alarms.kpi.AlarmKpi fields, operators, targets, period)"),
    _spec("opt_field_anomaly_summary", "attribute", "json", None,
          "the wells' anomaly summaries summed, and per well {well, alarms, alarm_hours, diagnosed_hours}"),
    # field asset: monthly model audit
    _spec("opt_field_model_audit_ts", "attribute", "number", "ms", "when the monthly model audit was made (epoch ms)"),
    _spec("opt_field_model_audit", "attribute", "json", None,
          "audit rows of every learned model (wells' and field models'), as opt_model_audit with scope and entity"),
    _spec("opt_field_models", "attribute", "number", None, "models audited"),
    _spec("opt_field_models_drifted", "attribute", "number", None, "models with an input drifted >= 3 training sd"),
    _spec("opt_field_model_oldest_days", "attribute", "number", "d", "age of the oldest model"),
    # --- field development (asset) ---
    _spec("opt_placement_cells", "attribute", "json", None, "[[row, col], ...] of the best plan's producers"),
    _spec("opt_placement_npv_musd", "attribute", "number", "M$", "NPV of the best plan"),
    _spec("opt_placement_well_count", "attribute", "number", None, "producers in the best plan"),
    _spec("opt_placement_economics", "attribute", "json", "M$", "revenue, royalty, opex, tax, capex, PVI, IRR, utility index"),
    _spec("opt_placement_convergence", "attribute", "json", "M$", "best NPV per generation"),
    _spec("opt_placement_status", "attribute", "string", None, "running | done | stopped | error"),
    _spec("opt_placement_stop_reason", "attribute", "string", None,
          "why the last run stopped early (stop request, run budget spent, service stopping); empty otherwise"),
    _spec("opt_placement_refused", "attribute", "string", None,
          "why the last placement_run_requested was refused (a run under way, cooldown, too many runs) and when to "
          "retry; empty once a request is accepted"),
    _spec("opt_placement_permeability_md", "attribute", "json", "md",
          "[row][col] kx of the mapped layer (row = grid j, col = grid i, as opt_placement_cells)"),
    _spec("opt_placement_grid", "attribute", "json", None, "{nx, ny, nz, layer, dx_ft, dy_ft} of the permeability map"),
    _spec("opt_placement_oil_rate_bpd", "timeseries", "number", "bbl/d", "production profile of the best plan"),
    _spec("opt_placement_profile", "attribute", "json", "d, bbl/d",
          "the same profile as [[days from the run start, field oil rate], ...] (the dashboard draws all of it: "
          "no ThingsBoard time window reaches 24 months ahead)"),
    # --- three-objective Pareto front of the setpoint (issue 21: 1, 2; tb_bridge.handlers.pareto_steps, hourly) ---
    _spec("opt_pareto_front", "attribute", "json", None,
          "{lift_type, algorithm, units, points: [{<setpoint>, oil_bpd, specific_energy, equipment_life}], current, "
          "knee_index, choice_index, relaxed}: the whole front for the dashboard scatter, today's operating point as current"),
    _spec("opt_pareto_knee", "attribute", "json", None, "the knee point of the front: setpoint(s) and objectives"),
    _spec("opt_pareto_choice", "attribute", "json", None,
          "the front point under the well's preference weights (oil, energy, life), with the safety layer's verdict"),
    _spec("opt_pareto_hypervolume", "attribute", "number", None,
          "hypervolume of the front normalized to its ideal/nadir points, reference 1.1 per objective (at most 1.331)"),
    # --- setpoint safety, RL advisor and approval (issue 21: 3-5; tb_bridge.setpoint_control, hourly) ---
    _spec("opt_lift_safety_verdict", "attribute", "json", None,
          "the safety layer's verdict on the single-step optimizer's recommended setpoint: {allowed, setpoint, reasons}"),
    _spec("opt_rl_recommended_action", "attribute", "string", None,
          "the RL advisor's action in words, e.g. 'frequency_hz 52 -> 54 (up 1 step)', 'hold', or why none"),
    _spec("opt_rl_confidence", "attribute", "number", None, "the policy's probability of its action (0-1)"),
    _spec("opt_rl_recommended_setpoint", "attribute", "number", None,
          "the setpoint the RL advisor's action leads to after the safety layer (unit of the lift type's setpoint)"),
    _spec("opt_rl_verdict", "attribute", "json", None, "the safety layer's verdict on the RL action: {allowed, setpoint, reasons}"),
    _spec("opt_setpoint_action_id", "attribute", "string", None,
          "id of the recommendation awaiting approval (the approve button writes it to setpoint_approval); empty: none"),
    _spec("opt_setpoint_pending", "attribute", "json", None,
          "the recommendation awaiting approval: {action_id, source, setpoint_name, current, setpoint, ts}"),
    _spec("opt_setpoint_status", "attribute", "string", None,
          "awaiting approval | applied (by whom) | refused (why) | no change: the last setpoint decision"),
    _spec("opt_setpoint_last_change_ts", "attribute", "number", "ms", "when a setpoint change was last sent to the device"),
    # shared attributes (SHARED_SCOPE: the device reads them) of an approved or autonomous setpoint change
    _spec("target_frequency_hz", "attribute", "number", "Hz", "ESP drive frequency the device is to run at"),
    _spec("target_spm", "attribute", "number", "1/min", "SRP strokes per minute the device is to run at"),
    _spec("target_rpm", "attribute", "number", "rpm", "PCP rotor speed the device is to run at"),
    _spec("target_injection_mscfd", "attribute", "number", "Mscf/d", "gas-lift injection rate the device is to run at"),
    # --- learned production forecast and ESP failure probability (issue 22: 2, 3; daily field steps) ---
    _spec("opt_ml_forecast", "timeseries", "number", "bbl/d",
          "learned 30-day liquid-rate forecast (XGBoost, engines.ml.forecasting): daily points at future timestamps"),
    _spec("opt_ml_forecast_p10", "timeseries", "number", "bbl/d",
          "high edge of the forecast's 80 % conformal band (exceeded with 10 % probability), future timestamps"),
    _spec("opt_ml_forecast_p90", "timeseries", "number", "bbl/d",
          "low edge of the forecast's 80 % conformal band (exceeded with 90 % probability), future timestamps"),
    _spec("opt_ml_forecast_model", "attribute", "json", None,
          "the lift type's forecast model: registry version, SHA-256, training time, rows and wells"),
    _spec("opt_esp_failure_prob_30d", "both", "number", "0-1",
          "calibrated probability that the ESP fails within 30 days (XGBoost + isotonic, engines.ml.esp_failure)"),
    _spec("opt_esp_failure_model", "attribute", "json", None,
          "the ESP failure model: registry version, SHA-256, training source and its test ROC-AUC, PR-AUC, Brier"),
    _spec("opt_esp_failure_signal_days", "attribute", "number", "d",
          "days of the last 180 with current, motor temperature, vibration and intake pressure all present"),
    # --- interactive simulation ---
    _spec("sim_status", "attribute", "string", None, "idle | running | done | error"),
    _spec("sim_session_id", "attribute", "string", None, "current simulation session"),
    _spec("sim_error", "attribute", "string", None, "why the last what-if request was refused (empty when done)"),
    _spec("sim_basis", "attribute", "string", None, "the setpoints compared and the decline the projection follows"),
    _spec("sim_active", "attribute", "boolean", None, "a simulation session is open on this well"),
    _spec("sim_last_run", "attribute", "number", "ms", "when the session last simulated (epoch ms)"),
    _spec("sim_opt_production_bpd", "attribute", "number", "bbl/d", "liquid rate at the modified operating point"),
    _spec("sim_opt_efficiency_pct", "attribute", "number", "%", "lift system efficiency at the modified operating point"),
    _spec("sim_opt_energy_kwh_bbl", "attribute", "number", "kWh/bbl", "surface energy per barrel of liquid, modified"),
    _spec("sim_opt_recommended_action", "attribute", "string", None, "apply / do not apply (and why) / no material change"),
    _spec("sim_opt_ipr_curve", "attribute", "json", "[bbl/d, psi]", "IPR of the modified well [q, pwf]"),
    _spec("sim_opt_vlp_curve", "attribute", "json", "[bbl/d, psi]",
          "VLP of the modified well with the lift at the modified setpoint [q, pwf]"),
    _spec("sim_compare_production_delta_bpd", "attribute", "number", "bbl/d", "modified minus original liquid rate"),
    _spec("sim_compare_production_delta_pct", "attribute", "number", "%", "the rate change in % of the original rate"),
    _spec("sim_compare_efficiency_delta_pct", "attribute", "number", "%", "modified minus original lift efficiency (points)"),
    _spec("sim_compare_warnings", "attribute", "json", None,
          "constraint violations at the modified point (operating window, intake, rod load, torque, injection)"),
    _spec("sim_compare_data", "attribute", "json", None,
          "[{quantity, unit, original, modified, delta}] original vs modified, for the dashboard table"),
    # projection: 144 future points every 5 minutes, keys by lift type (SIM_PROJECTION_KEYS)
    _spec("sim_frequency_hz", "timeseries", "number", "Hz", "projected ESP frequency (the simulated setpoint)"),
    _spec("sim_spm", "timeseries", "number", "strokes/min", "projected SRP speed (the simulated setpoint)"),
    _spec("sim_drive_rpm", "timeseries", "number", "rev/min", "projected PCP drive speed (the simulated setpoint)"),
    _spec("sim_gas_injection_rate_mscfd", "timeseries", "number", "Mscf/d", "projected gas-lift injection rate (setpoint)"),
    _spec("sim_flow_rate_bpd", "timeseries", "number", "bbl/d",
          "projected liquid rate: the modified operating point following the well's fitted decline"),
    _spec("sim_intake_pressure_psi", "timeseries", "number", "psi", "projected ESP intake pressure"),
    _spec("sim_pump_fillage_pct", "timeseries", "number", "%", "projected SRP pump fillage"),
    _spec("sim_motor_power_kw", "timeseries", "number", "kW", "projected PCP motor input power"),
    _spec("sim_injection_pressure_psi", "timeseries", "number", "psi", "projected gas-lift surface injection pressure"),
)

#: The three projected time series of each lift type: (setpoint, rate, third quantity).
SIM_PROJECTION_KEYS: dict[str, tuple[str, str, str]] = {
    "esp": ("sim_frequency_hz", "sim_flow_rate_bpd", "sim_intake_pressure_psi"),
    "srp": ("sim_spm", "sim_flow_rate_bpd", "sim_pump_fillage_pct"),
    "pcp": ("sim_drive_rpm", "sim_flow_rate_bpd", "sim_motor_power_kw"),
    "gas_lift": ("sim_gas_injection_rate_mscfd", "sim_flow_rate_bpd", "sim_injection_pressure_psi"),
}
#: Every projection key (9: the rate key is shared by the lift types; the issue counts 11): what closing deletes.
ALL_SIM_PROJECTION_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for ks in SIM_PROJECTION_KEYS.values() for k in ks))

KEYS: dict[str, KeySpec] = {spec.key: spec for spec in _TABLE}

#: Key families with a variable suffix (the suffix is a setpoint or parameter name).
KEY_PREFIXES: dict[str, KeySpec] = {
    "sim_original_": _spec("sim_original_*", "attribute", "json", None, "parameter value before the simulation"),
    "sim_param_": _spec("sim_param_*", "attribute", "number", None,
                        "what-if parameter value (dashboard sliders write it; the service republishes it)"),
}

#: Keys the service reads but never writes: dashboard sliders write these.
INPUT_PREFIXES: tuple[str, ...] = ("sim_param_",)

#: Operator alarm requests (shared or server attribute of a well, written from ThingsBoard): a JSON object or
#: a list of them, ``{"alarm_type": "<rule name>" | "*", "action": "shelve" | "unshelve" | "suppress" |
#: "unsuppress" | "out_of_service" | "return_to_service", "duration_min": <shelving time, 1 to 1440>,
#: "reason": "<text>"}``; applied to the well's ISA-18.2 alarm bank (``tb_bridge.handlers.alarm_steps``).
ALARM_REQUEST_KEY = "alarm_operator_request"

#: Anything we write starts with one of these; used for loop protection.
OWN_PREFIXES: tuple[str, ...] = ("opt_", "sim_original_", "sim_compare_", "sim_opt_", "sim_status", "sim_session_id",
                                 "sim_error", "sim_basis", "sim_active", "sim_last_run", *ALL_SIM_PROJECTION_KEYS)


class UnknownKeyError(KeyError):
    """A handler tried to write a key that is not in the table."""


def spec_for(key: str) -> KeySpec | None:
    """The spec of ``key`` (exact or by prefix family), or ``None``."""
    if key in KEYS:
        return KEYS[key]
    for prefix, spec in KEY_PREFIXES.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            return spec
    return None


def is_own_key(key: str) -> bool:
    """True for keys the service itself writes (events about them must not trigger work)."""
    return key.startswith(OWN_PREFIXES) and not key.startswith(INPUT_PREFIXES)


def _encode(key: str, spec: KeySpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.value_type == "number":
        if isinstance(value, bool):
            raise TypeError(f"{key}: expected a number, got a boolean")
        number = float(value)
        return number if math.isfinite(number) else None
    if spec.value_type == "boolean":
        return bool(value)
    if spec.value_type == "string":
        return str(value)
    # json: ThingsBoard stores JSON attributes as JSON values; keep plain structures.
    return json.loads(json.dumps(value, default=_json_default, allow_nan=False))


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def check_attributes(values: Mapping[str, Any], kind: Literal["attribute", "timeseries"] = "attribute") -> dict[str, Any]:
    """Validate keys against the table and encode values for ThingsBoard.

    Non-finite numbers become ``None`` and are dropped (ThingsBoard cannot store NaN). Raises
    :class:`UnknownKeyError` for a key not in the table or written as the wrong kind."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        spec = spec_for(key)
        if spec is None:
            raise UnknownKeyError(f"{key} is not in the writeback key table (tb_bridge/writeback/keys.py)")
        if spec.kind != "both" and spec.kind != kind:
            raise UnknownKeyError(f"{key} is a {spec.kind} key, not a {kind}")
        encoded = _encode(key, spec, value)
        if encoded is not None:
            out[key] = encoded
    return out


def units_of(values: Mapping[str, Any]) -> dict[str, str]:
    """Unit of each key in ``values`` that has one (for the history store)."""
    units = {}
    for key in values:
        spec = spec_for(key)
        if spec is not None and spec.unit:
            units[key] = spec.unit
    return units


def charted_values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``attributes`` whose key the table declares ``both``: besides the attribute, each is written
    as a time-series point at the run's time (``LiftHandler.run``), the history a dashboard chart draws."""
    return {key: value for key, value in attributes.items()
            if (spec := spec_for(key)) is not None and spec.kind == "both"}


def all_written_keys() -> Iterable[str]:
    """Every exact key name in the table (prefix families excluded)."""
    return KEYS.keys()


# --- engine results -> ThingsBoard keys ---
# The engines return plain results with quantity names; these functions are the one place that names
# the opt_* keys for them. Structured values are plain lists/dicts (check_attributes encodes them).

if TYPE_CHECKING:
    from engines.anomaly.diagnosis import DiagnosisResult
    from engines.nodal import NodalResult
    from engines.dca.analysis import DcaResult
    from tb_bridge.adapters.lift import LiftResult

#: Key of the recommended setpoint per lift type.
LIFT_SETPOINT_KEYS: dict[str, str] = {"esp": "opt_esp_freq_recommended_hz", "srp": "opt_srp_spm_recommended",
                                      "pcp": "opt_pcp_rpm_recommended", "gas_lift": "opt_gl_injection_recommended_mscfd"}


def dca_attributes(result: "DcaResult") -> dict[str, Any]:
    """The ``opt_dca_*`` attributes of a decline analysis (forecast as a JSON-ready dict)."""
    return {
        "opt_dca_model": result.model,
        "opt_dca_qi_bpd": result.qi_bpd,
        "opt_dca_di_pct_month": result.di_pct_month,
        "opt_dca_b_factor": result.b_factor,
        "opt_dca_eur_stb": result.eur_stb,
        "opt_dca_eur_p10": result.eur_p10_stb,
        "opt_dca_eur_p50": result.eur_p50_stb,
        "opt_dca_eur_p90": result.eur_p90_stb,
        "opt_dca_forecast": result.forecast,
        "opt_dca_no_decline": bool(result.no_decline),
        "opt_dca_no_decline_reason": result.no_decline_reason,
    }


def _health_or_none(score: Any) -> float | None:
    """A health score rounded to 0.1, or None when unknown (insufficient data)."""
    value = float(score)
    return round(value, 1) if math.isfinite(value) else None


def diagnosis_attributes(result: "DiagnosisResult", index: int) -> dict[str, Any]:
    """Anomaly, health and SPC attributes of well ``index`` of a diagnosis (evidence and components as
    plain lists/dicts; T^2 and SPE ``None`` when not computed)."""
    i = index
    t2, spe = float(result.spc_t2[i]), float(result.spc_spe[i])
    return {
        "opt_anomaly_detected": bool(result.anomaly_detected[i]),
        "opt_anomaly_score": round(float(result.anomaly_score[i]), 4),
        "opt_anomaly_type": result.anomaly_type[i],
        "opt_anomaly_severity": result.anomaly_severity[i],
        "opt_anomaly_evidence": [dict(item) for item in result.evidence[i]],
        "opt_well_health_score": _health_or_none(result.health_score[i]),
        "opt_health_status": result.health_status[i],
        "opt_health_components": {c: round(float(v[i]), 1) for c, v in result.health_components.items()},
        "opt_health_trend": round(float(result.health_change_7d[i]), 1),
        "opt_spc_t2": round(t2, 3) if math.isfinite(t2) else None,
        "opt_spc_spe": round(spe, 3) if math.isfinite(spe) else None,
        "opt_spc_ewma_alarm": bool(result.spc_ewma_alarm[i]),
    }


def lift_attributes(result: "LiftResult") -> dict[str, Any]:
    """The lift optimizer's attributes for one well: setpoint key of its lift type, expected rate, delta,
    efficiency, energy, binding constraint, curve, and the lift type's own keys (numbers rounded to 4
    decimals, non-finite ones ``None``)."""
    def num(x: Any) -> float | None:
        return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)

    attrs: dict[str, Any] = {
        LIFT_SETPOINT_KEYS[result.lift_type]: num(result.recommended_setpoint),
        "opt_lift_expected_q_bpd": num(result.expected_q_bpd),
        "opt_lift_delta_q_bpd": num(result.delta_q_bpd),
        "opt_lift_efficiency_pct": num(result.efficiency_pct),
        "opt_lift_kwh_per_bbl": num(result.kwh_per_bbl),
        "opt_lift_binding_constraint": result.binding_constraint,
        "opt_lift_curve": [[round(a, 3), round(b, 2)] for a, b in result.curve],
    }
    x = result.extras
    if result.lift_type == "esp":
        attrs["opt_esp_bep_distance_pct"] = num(x["esp_bep_distance_pct"])
    elif result.lift_type == "srp":
        attrs["opt_srp_fillage_pct"] = num(x["srp_fillage_pct"])
        attrs["opt_srp_card_class"] = x["srp_card_class"]
        attrs["opt_srp_downhole_card"] = {k: list(v) for k, v in x["srp_downhole_card"].items()}
    elif result.lift_type == "pcp":
        attrs["opt_pcp_elastomer_life_days"] = num(x["pcp_elastomer_life_days"])
    return attrs


def nodal_attributes(result: "NodalResult") -> dict[str, Any]:
    """Operating point, AOF, PI, drawdown and the two 100-point curves ([q_bpd, p_psi] pairs; points
    where a curve is undefined, e.g. the VLP above the rate the well can lift, become ``null``)."""
    def num(x: Any) -> float | None:
        value = float(x)
        return round(value, 4) if math.isfinite(value) else None

    def curve(points: Any) -> list[list[float | None]]:
        return [[num(q), num(p)] for q, p in points]

    return {
        "opt_nodal_q_bpd": num(result.q_bpd),
        "opt_nodal_pwf_psi": num(result.pwf_psi),
        "opt_nodal_aof_bpd": num(result.aof_bpd),
        "opt_nodal_pi_stb_d_psi": num(result.pi_bpd_psi),
        "opt_nodal_drawdown_psi": num(result.drawdown_psi),
        "opt_nodal_flowing": bool(result.flowing),
        "opt_nodal_ipr_curve": curve(result.ipr_curve),
        "opt_nodal_vlp_curve": curve(result.vlp_curve),
    }


def lifted_nodal_attributes(result: "NodalResult | None", natural: "NodalResult", basis: str) -> dict[str, Any]:
    """A lifted well's nodal attributes: ``result``, the operating point with its lift at the setpoint ``basis``
    names, under the ``opt_nodal_*`` keys of :func:`nodal_attributes` (left out when ``None``: it could not be
    solved), and the natural-flow operating point ``natural`` under ``opt_nodal_natural_*``."""
    attrs = nodal_attributes(result) if result is not None else {}
    nat = nodal_attributes(natural)
    attrs.update({"opt_nodal_basis": basis, "opt_nodal_natural_q_bpd": nat["opt_nodal_q_bpd"],
                  "opt_nodal_natural_pwf_psi": nat["opt_nodal_pwf_psi"], "opt_nodal_natural_flowing": nat["opt_nodal_flowing"]})
    return attrs


# --- field-development planner (issue 9 item 7): PlacementResult -> opt_placement_* ---
if TYPE_CHECKING:
    from engines.reservoir.planner import PlacementResult

_MS_PER_DAY = 86_400_000


def placement_attributes(result: "PlacementResult") -> dict[str, Any]:
    """The best plan of a placement run as ``opt_placement_*`` attributes (money in M$; the economics
    breakdown keeps the utility index, IRR per year and cumulative oil in STB under explicit names)."""
    e = result.economics
    musd = ("npv_usd", "capital_usd", "pvi_usd", "revenue_usd", "royalty_usd", "opex_usd", "tax_usd",
            "discounted_cash_flow_usd")
    economics: dict[str, Any] = {k[: -len("_usd")] + "_musd": float(e[k]) / 1e6 for k in musd if k in e}
    for k in ("utility_index", "irr_per_year", "cumulative_oil_stb"):
        if k in e:
            value = float(e[k])
            economics[k] = value if math.isfinite(value) else None
    return {
        "opt_placement_cells": [[int(r), int(c)] for r, c in result.well_cells],
        "opt_placement_npv_musd": float(result.npv_usd) / 1e6,
        "opt_placement_well_count": int(result.well_count),
        "opt_placement_economics": economics,
        "opt_placement_convergence": [float(v) / 1e6 for v in result.history_best_npv_usd],
        "opt_placement_profile": [[float(t), float(q)] for t, q in zip(result.time_days, result.oil_rate_stb_d)],
    }


def placement_map_attributes(reservoir: Any, layer: int = 0) -> dict[str, Any]:
    """The permeability map of a placement case: ``kx`` (md) of grid layer ``layer`` as a JSON 2D array
    ``[row][col]`` (row = j, col = i; cells are ordered ``i + nx * (j + ny * k)``, engines/reservoir/reservoir.py),
    and the grid dimensions, for the field-development dashboard's well map."""
    nx, ny, nz = int(reservoir.nx), int(reservoir.ny), int(reservoir.nz)
    if not 0 <= int(layer) < nz:
        raise ValueError(f"layer {layer} outside 0..{nz - 1}")
    kx = [[float(v) for v in row] for row in reservoir.kx_md.reshape(nz, ny, nx)[int(layer)]]
    return {"opt_placement_permeability_md": kx,
            "opt_placement_grid": {"nx": nx, "ny": ny, "nz": nz, "layer": int(layer),
                                   "dx_ft": float(reservoir.dx_ft), "dy_ft": float(reservoir.dy_ft)}}


def placement_profile_points(result: "PlacementResult", start_ms: int) -> list[tuple[int, dict[str, Any]]]:
    """Field oil rate of the best plan as time-series points: the rate of report step n (its implicit
    end-of-step rate) stamped at ``start_ms + time_days[n]`` days (monthly steps -> monthly points)."""
    return [(int(start_ms) + int(round(float(t) * _MS_PER_DAY)), {"opt_placement_oil_rate_bpd": float(q)})
            for t, q in zip(result.time_days, result.oil_rate_stb_d)]


# --- lift handler steps (gas-lift heading and valve stability, PCP elastomer history, field gas allocation) ---

def _num4(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)


def gas_lift_heading_attributes(detection: Any) -> dict[str, Any]:
    """``engines.lift.gas_lift.HeadingDetection`` -> heading flag, period (min) and casing amplitude (psi);
    period and amplitude are written only when heading is detected (``None`` otherwise)."""
    return {
        "opt_gl_heading_detected": bool(detection.heading),
        "opt_gl_heading_period_min": _num4(detection.period_min) if detection.heading else None,
        "opt_gl_heading_amplitude_psi": _num4(detection.casing_amplitude_psi) if detection.heading else None,
    }


def gas_lift_valve_attributes(stability: Any) -> dict[str, Any]:
    """``engines.lift.gas_lift.ValveStability`` -> stable flag and tubing/casing pressure ratio at the valve."""
    return {"opt_gl_valve_stable": bool(stability.stable), "opt_gl_valve_pressure_ratio": _num4(stability.pressure_ratio)}


def pcp_elastomer_attributes(damage_frac: float, remaining_days: float, history_days: float) -> dict[str, Any]:
    """Accumulated Arrhenius damage (fraction -> %), remaining life (days) and integrated history span (days)."""
    damage_pct = round(100.0 * float(damage_frac), 8)  # 1e-8 %: an hour at 60 degC is 1e-4 % of an NBR life
    return {"opt_pcp_elastomer_life_days": _num4(remaining_days), "opt_pcp_elastomer_damage_pct": damage_pct,
            "opt_pcp_elastomer_history_days": _num4(history_days)}


def gas_allocation_attributes(injection_mscfd: float, oil_bpd: float, marginal_bbl_per_mscf: float) -> dict[str, Any]:
    """One well's share of a field-wide equal-slope allocation (``engines.lift.gas_allocation.Allocation``)."""
    return {"opt_gl_allocated_mscfd": _num4(injection_mscfd), "opt_gl_allocated_oil_bpd": _num4(oil_bpd),
            "opt_gl_field_marginal_bbl_per_mscf": _num4(marginal_bbl_per_mscf)}


def pareto_attributes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``tb_bridge.handlers.pareto_steps.pareto_payload`` -> the four ``opt_pareto_*`` keys."""
    return {"opt_pareto_front": payload["front"], "opt_pareto_knee": payload["knee"], "opt_pareto_choice": payload["choice"],
            "opt_pareto_hypervolume": _num4(payload["hypervolume"])}


def srp_card_attributes(card_class: str, confidence: float | None, path: str) -> dict[str, Any]:
    """The measured card's class (learned model or geometric fallback) -> ``opt_srp_card_*``."""
    return {"opt_srp_card_class": card_class, "opt_srp_card_confidence": None if confidence is None else _num4(confidence),
            "opt_srp_card_classifier": path}


def lstm_ae_attributes(score: float, version: int) -> dict[str, Any]:
    """One well's LSTM-AE score (``engines.ml.lstm_ae.score_wells``) -> ``opt_lstm_ae_*`` (no score: no anomaly)."""
    finite = math.isfinite(score)
    return {"opt_lstm_ae_anomaly_score": round(score, 4) if finite else None,
            "opt_lstm_ae_anomaly": bool(finite and score >= 1.0), "opt_lstm_ae_model_version": int(version)}


# --- what-if simulation sessions (issue 19): SimulationRun -> sim_* ---
if TYPE_CHECKING:
    from tb_bridge.adapters.whatif import SimulationRun


def simulation_attributes(run: "SimulationRun", ts_ms: int) -> dict[str, Any]:
    """The ``sim_opt_*`` / ``sim_compare_*`` attributes and ``sim_last_run`` of one what-if run (rates bbl/d,
    efficiency %, energy kWh/bbl; numbers rounded to 4 decimals, non-finite ones ``None``)."""
    from tb_bridge.adapters.whatif import comparison_table

    m = run.modified
    return {
        "sim_last_run": int(ts_ms),
        "sim_opt_production_bpd": _num4(m.liquid_bpd),
        "sim_opt_efficiency_pct": _num4(m.efficiency_pct),
        "sim_opt_energy_kwh_bbl": _num4(m.kwh_per_bbl),
        "sim_opt_recommended_action": run.recommended_action(),
        "sim_opt_ipr_curve": m.ipr_curve,
        "sim_opt_vlp_curve": m.vlp_curve,
        "sim_compare_production_delta_bpd": _num4(run.delta_bpd),
        "sim_compare_production_delta_pct": _num4(run.delta_pct),
        "sim_compare_efficiency_delta_pct": _num4(run.efficiency_delta_pct),
        "sim_compare_warnings": list(run.warnings),
        "sim_compare_data": comparison_table(run),
    }


def simulation_projection_points(lift_type: str, values: Mapping[str, Sequence[Any]], first_ts_ms: int,
                                 interval_ms: int) -> list[tuple[int, dict[str, Any]]]:
    """The projection as time-series points on the lift type's three keys (:data:`SIM_PROJECTION_KEYS`):
    point k at ``first_ts_ms + k * interval_ms``; ``values`` from ``whatif.projection_values``."""
    setpoint_key, rate_key, third_key = SIM_PROJECTION_KEYS[lift_type]
    n = len(values["rate_bpd"])
    return [(int(first_ts_ms) + k * int(interval_ms),
             {setpoint_key: _num4(values["setpoint"][k]), rate_key: _num4(values["rate_bpd"][k]),
              third_key: _num4(values["third"][k])}) for k in range(n)]
