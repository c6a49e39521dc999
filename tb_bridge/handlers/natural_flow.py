"""Natural flow: wells with a permanent downhole gauge and no flow meter (no lift, no setpoint).

The 3W instrumentation (Vargas et al. 2019, J. Pet. Sci. Eng. 181:106223): downhole gauge pressure and
temperature, the tree's pressure and temperature, the pressures up- and downstream of the production choke.
The fast tier monitors and diagnoses them (the seven downhole-gauge event rules of ``engines.anomaly.rules``:
DHSV closure, severe slugging, flow instability, productivity loss, choke restriction, hydrate, water
increase) and raises the alarms; a well with a trained LSTM autoencoder is scored on its main keys as every lift
type's (``tb_bridge.handlers.ml_steps``). The baseline is refreshed daily and refitted monthly, after the monthly audit
of the well's models (LSTM-AE retraining when due). No nodal, lift or decline step runs: there is no rate to fit and no
setpoint to move.
"""
from __future__ import annotations

from tb_bridge.handlers.alarm_steps import alarm_step
from tb_bridge.handlers.base import LiftHandler
from tb_bridge.handlers.engine_steps import baseline_refit_step, baseline_refresh_step, diagnostics_step
from tb_bridge.handlers.ml_steps import lstm_ae_audit_step, lstm_ae_score_step
from tb_bridge.handlers.monitoring import monitoring_step_for
from tb_bridge.handlers.review_steps import model_audit_step

MAIN_KEYS: tuple[str, ...] = ("downhole_pressure_psi", "downhole_temperature_f", "tubing_pressure_psi",
                              "wellhead_temperature_f", "choke_upstream_pressure_psi", "choke_downstream_pressure_psi")

HANDLER = LiftHandler(
    lift_type="natural_flow",
    main_keys=MAIN_KEYS,
    steps_by_tier={
        "fast": (monitoring_step_for(MAIN_KEYS), diagnostics_step, lstm_ae_score_step, alarm_step),
        "daily": (baseline_refresh_step,),
        "monthly": (lstm_ae_audit_step, model_audit_step, baseline_refit_step),  # audit: the models that served
    },
    field_steps_by_tier={"daily": (diagnostics_step.train_field_models,)},  # Isolation-Forest fallback, PCA monitor
)
