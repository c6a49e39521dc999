"""SRP: sucker-rod (beam) pump handler: which engine steps run at which tier for `srp` wells."""
from __future__ import annotations

from tb_bridge.handlers.alarm_steps import alarm_step
from tb_bridge.handlers.base import LiftHandler
from tb_bridge.handlers.card_steps import srp_card_step
from tb_bridge.handlers.engine_steps import (LIFT_OPTIMIZER, baseline_refit_step, baseline_refresh_step, dca_step,
                                            diagnostics_step, nodal_step)
from tb_bridge.handlers.ml_steps import lstm_ae_audit_step, lstm_ae_score_step
from tb_bridge.handlers.ml_forecast_steps import ml_forecast_field_step
from tb_bridge.handlers.monitoring import monitoring_step_for
from tb_bridge.handlers.pareto_steps import pareto_field_choice_step, pareto_step
from tb_bridge.handlers.review_steps import daily_production_step, model_audit_step, weekly_review_step

MAIN_KEYS: tuple[str, ...] = ("flow_rate_bpd", "spm", "pump_fillage_pct", "polished_rod_load_max_lbf", "polished_rod_load_min_lbf", "motor_power_kw", "tubing_pressure_psi")

HANDLER = LiftHandler(
    lift_type="srp",
    main_keys=MAIN_KEYS,
    steps_by_tier={
        "fast": (monitoring_step_for(MAIN_KEYS), diagnostics_step, lstm_ae_score_step, alarm_step),
        "hourly": (nodal_step, LIFT_OPTIMIZER, srp_card_step, pareto_step),  # the measured card's class replaces the optimizer's
        "daily": (dca_step, baseline_refresh_step, daily_production_step),
        "weekly": (weekly_review_step,),
        "monthly": (lstm_ae_audit_step, model_audit_step, baseline_refit_step),  # audit: the models that served
    },
    field_steps_by_tier={"hourly": (pareto_field_choice_step,), "daily": (diagnostics_step.train_field_models, ml_forecast_field_step)},  # Isolation-Forest fallback, PCA monitor
)
