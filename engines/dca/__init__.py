"""Decline-curve analysis: Arps family, fitting, AIC/AICc/BIC selection, Monte Carlo EUR, forecast.

Entry point::

    from engines.dca import analyze_decline, DcaSettings
    result = analyze_decline(dates_or_days, rate_bpd, settings=DcaSettings(economic_limit_bpd=5.0))
    result.model, result.qi_bpd, result.eur_p50_stb, result.forecast   # chosen model, EUR, forecast
    result.no_decline, result.no_decline_reason                        # flat/rising history: bounded forecast

On-stream time (``on_stream=`` hours or days per sample) normalizes rates; a shut-in of 45 days or more
starts a new decline segment and the last is fitted (``DcaSettings(fit_all_segments=True)`` fits all);
the forecast is in calendar months for dated histories, with the P90/P50/P10 of each month's average
on-stream rate (parameter + process uncertainty, backtested in :mod:`engines.dca.backtest`).

Closed-form curves (vectorized): :func:`rate_bpd`, :func:`cumulative_bbl`, :func:`time_to_rate_days`,
:func:`eur_bbl`, :class:`DeclineParams`. Decline conventions: :mod:`engines.dca.conventions`.
"""
from engines.dca.analysis import DcaResult, DcaSettings, FitQuality, analyze_decline, analyze_history, log_rate_trend
from engines.dca.arps import (DeclineParams, cumulative_bbl, decline_per_day, eur_bbl, rate_bpd, switch_time_days,
                              time_to_rate_days)
from engines.dca.conventions import (DAYS_PER_MONTH, DAYS_PER_YEAR, nominal_from_secant_effective,
                                     nominal_from_tangent_effective, rescale_nominal, secant_effective_from_nominal,
                                     tangent_effective_from_nominal)
from engines.dca.fitting import (MODEL_NAMES, CandidateFit, fit_candidate, fit_exponential, fit_harmonic,
                                 fit_hyperbolic, fit_modified_hyperbolic, levenberg_marquardt, robust_inliers)
from engines.dca.forecast import build_forecast, month_edges_days
from engines.dca.history import (DeclineHistory, Screening, history_from_rates, history_from_volumes,
                                 screen_history, segment_history, segment_starts, to_days)
from engines.dca.montecarlo import EurDistribution, probabilistic_eur
from engines.dca.selection import information_criteria

__all__ = [
    "analyze_decline", "analyze_history", "DcaSettings", "DcaResult", "FitQuality", "log_rate_trend",
    "DeclineParams", "rate_bpd", "cumulative_bbl", "decline_per_day", "time_to_rate_days", "eur_bbl",
    "switch_time_days",
    "DAYS_PER_MONTH", "DAYS_PER_YEAR", "rescale_nominal", "tangent_effective_from_nominal",
    "nominal_from_tangent_effective", "secant_effective_from_nominal", "nominal_from_secant_effective",
    "MODEL_NAMES", "CandidateFit", "fit_candidate", "fit_exponential", "fit_harmonic", "fit_hyperbolic",
    "fit_modified_hyperbolic", "levenberg_marquardt", "robust_inliers",
    "build_forecast", "month_edges_days",
    "DeclineHistory", "Screening", "history_from_rates", "history_from_volumes", "screen_history", "segment_history",
    "segment_starts", "to_days",
    "EurDistribution", "probabilistic_eur",
    "information_criteria",
]
