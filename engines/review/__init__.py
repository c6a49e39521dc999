"""Periodic reviews of operation: production volumes, uptime and specific energy over a period, linear trends,
anomaly and alarm summaries of a period, and the drift of a model's inputs since its training window."""
from engines.review.anomalies import AlarmLogSummary, DiagnosisSummary, summarize_alarm_log, summarize_diagnoses
from engines.review.drift import standardized_mean_shift
from engines.review.moments import Moments
from engines.review.production import PRODUCING_MIN_BPD, ProductionTotals, combine_totals, production_totals
from engines.review.trend import Trend, linear_trend

__all__ = ["AlarmLogSummary", "DiagnosisSummary", "summarize_alarm_log", "summarize_diagnoses",
           "standardized_mean_shift", "Moments", "PRODUCING_MIN_BPD", "ProductionTotals", "combine_totals",
           "production_totals", "Trend", "linear_trend"]
