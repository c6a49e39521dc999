"""Two-layer anomaly detection: robust baselines + CUSUM / Isolation Forest, then 24 lift-specific rules."""
from engines.anomaly.baseline import RobustBaseline, fit_baseline, update_baseline
from engines.anomaly.cusum import CusumState, cusum_arl, cusum_update, h_for_arl0
from engines.anomaly.diagnosis import (MONITORED_KEYS, DiagnosisConfig, DiagnosisResult, TierState, diagnose_window,
                                       fit_own_pca)
from engines.anomaly.isolation import FieldForest, fit_field_forest
from engines.anomaly.rules import RULES, RULES_BY_LIFT_TYPE, Rule, evaluate_rules

__all__ = ["RobustBaseline", "fit_baseline", "update_baseline", "CusumState", "cusum_arl", "cusum_update", "h_for_arl0",
           "MONITORED_KEYS", "DiagnosisConfig", "DiagnosisResult", "TierState", "diagnose_window", "fit_own_pca", "FieldForest",
           "fit_field_forest", "RULES", "RULES_BY_LIFT_TYPE", "Rule", "evaluate_rules"]
