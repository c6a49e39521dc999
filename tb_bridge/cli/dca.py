"""``atilax dca``: decline-curve analysis of a production history (CSV or JSON).

``atilax dca fit HISTORY`` fits exponential, harmonic, hyperbolic and modified-hyperbolic curves,
ranks them by AICc (or AIC/BIC), and prints the chosen model, its parameters, every candidate's
scores, the EUR P10/P50/P90 and the 60-month forecast (``--json`` for the full result).

HISTORY formats
  CSV with a header: a time column (``date``/``timestamp``: ISO dates; or ``t_days``/``days``/``time``:
  numbers of days) and a value column (``rate_bpd``/``flow_rate_bpd``/``oil_rate_bpd``/``rate``: bbl/d;
  or ``volume_bbl``/``volume``: bbl per period starting at that time).
  JSON: ``{"dates": [...] | "t_days": [...], "rate_bpd": [...] | "volume_bbl": [...], "settings": {...}}``
  or a list of records with the same column names as the CSV.
  On-stream time (optional): a column ``on_stream_hours``/``hours_on``/``uptime_hours`` (hours per
  sample period) or ``on_stream_days``/``days_on`` (days per period), or the column named by
  ``--uptime-column`` (unit ``--uptime-unit``, default: hours when the name says so, else days); rates
  are normalized by it (for daily rates the period is a day). JSON: ``"on_stream_hours": [...]`` or
  ``"on_stream_days": [...]``.

A shut-in of 45 days or more starts a new decline segment and only the last one is fitted
(``--fit-all-segments`` fits the whole history). A flat or rising history gives "no decline
identified" (reason printed) with a forecast bounded by the economic limit and a maximum life.
Forecast months are calendar months when the history has dates.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tb_bridge.cli.io import (CliInputError, format_table, format_validation_error, print_json, print_key_values,
                              read_text, to_jsonable)

_TIME_DATE = ("date", "dates", "timestamp", "ts", "datetime")
_TIME_DAYS = ("t_days", "time_days", "days", "day", "time", "t")
_RATE = ("rate_bpd", "flow_rate_bpd", "oil_rate_bpd", "q_bpd", "rate")
_VOLUME = ("volume_bbl", "volume", "monthly_volume_bbl")
_ON_HOURS = ("on_stream_hours", "hours_on", "uptime_hours", "hours_on_stream")
_ON_DAYS = ("on_stream_days", "days_on", "uptime_days", "days_on_stream")


class DcaSettingsInput(BaseModel):
    """Analysis settings (all optional; defaults as in engines.dca.DcaSettings)."""

    model_config = ConfigDict(extra="forbid")
    economic_limit_bpd: float = Field(5.0, ge=0, description="abandonment rate, bbl/d (0 = none)")
    horizon_years: float = Field(30.0, gt=0, description="maximum forecast life after the last sample, years")
    terminal_decline_pct_year: float = Field(8.0, gt=0, lt=100,
                                             description="modified-hyperbolic terminal decline, tangent effective %/year")
    b_max: float = Field(2.0, gt=0, le=5, description="upper bound of the Arps exponent b (dimensionless)")
    criterion: str = Field("aicc", pattern="^(aicc|aic|bic)$", description="model-selection criterion")
    n_trials: int = Field(1000, ge=1, le=1_000_000, description="Monte Carlo trials")
    seed: int = Field(0, ge=0, description="Monte Carlo seed")
    restart_skip_days: float = Field(1.0, ge=0, description="producing days dropped after a shut-in, days")
    uncertainty: str = Field("model_average", pattern="^(model_average|chosen)$",
                             description="Monte Carlo over all candidates (Akaike weights) or the chosen one")
    fit_all_segments: bool = Field(False, description="fit the whole history, not only the decline after the last "
                                                      "long shut-in")
    segment_shut_in_days: float = Field(45.0, gt=0, le=3650, description="shut-in that starts a new decline segment, days")
    max_life_no_decline_years: float = Field(10.0, gt=0, le=100,
                                             description="forecast life when no decline is identified, years")


class DcaHistoryInput(BaseModel):
    """A production history: one time series and one value series of equal length."""

    model_config = ConfigDict(extra="forbid")
    dates: list[str] | None = Field(None, description="ISO dates/timestamps of the samples")
    t_days: list[float] | None = Field(None, description="sample times, days (any origin)")
    rate_bpd: list[float] | None = Field(None, description="liquid rate per sample, bbl/d (0 = shut-in)")
    volume_bbl: list[float] | None = Field(None, description="volume per period starting at each time, bbl")
    on_stream_hours: list[float] | None = Field(None, description="hours on stream per sample period, h (optional)")
    on_stream_days: list[float] | None = Field(None, description="days on stream per sample period, d (optional)")
    settings: DcaSettingsInput = Field(default_factory=DcaSettingsInput, description="analysis settings")

    @model_validator(mode="after")
    def _one_of_each(self) -> "DcaHistoryInput":
        if (self.dates is None) == (self.t_days is None):
            raise ValueError("give exactly one of 'dates' or 't_days'")
        if (self.rate_bpd is None) == (self.volume_bbl is None):
            raise ValueError("give exactly one of 'rate_bpd' or 'volume_bbl'")
        n_t = len(self.dates if self.dates is not None else self.t_days or [])
        n_v = len(self.rate_bpd if self.rate_bpd is not None else self.volume_bbl or [])
        if n_t != n_v:
            raise ValueError(f"time and value series lengths differ ({n_t} vs {n_v})")
        if self.on_stream_hours is not None and self.on_stream_days is not None:
            raise ValueError("give at most one of 'on_stream_hours' or 'on_stream_days'")
        on = self.on_stream_hours if self.on_stream_hours is not None else self.on_stream_days
        if on is not None and len(on) != n_t:
            raise ValueError(f"on-stream series length differs from the time series ({len(on)} vs {n_t})")
        if n_t < 3:
            raise ValueError("need at least 3 samples")
        return self


def _columns_to_input(columns: dict[str, list[Any]], source: str, uptime_column: str | None = None,
                      uptime_unit: str | None = None) -> dict[str, Any]:
    lower = {k.strip().lower(): v for k, v in columns.items()}
    out: dict[str, Any] = {}
    if uptime_column is not None:
        name = uptime_column.strip().lower()
        if name not in lower:
            raise CliInputError(f"{source}: no on-stream column {uptime_column!r}; found {sorted(columns)}")
        unit = uptime_unit or ("hours" if "hour" in name else "days")
        on_key = "on_stream_hours" if unit == "hours" else "on_stream_days"
        on_values = lower.pop(name)
    else:
        on_key = next((("on_stream_hours", n) for n in _ON_HOURS if n in lower), None) or \
            next((("on_stream_days", n) for n in _ON_DAYS if n in lower), None)  # type: ignore[assignment]
        if on_key is not None:
            on_key, found = on_key  # type: ignore[misc]
            on_values = lower.pop(found)
    for name in _TIME_DATE:
        if name in lower:
            out["dates"] = [str(v) for v in lower[name]]
            break
    else:
        for name in _TIME_DAYS:
            if name in lower:
                out["t_days"] = lower[name]
                break
    for name in _RATE:
        if name in lower:
            out["rate_bpd"] = lower[name]
            break
    else:
        for name in _VOLUME:
            if name in lower:
                out["volume_bbl"] = lower[name]
                break
    if len(out) != 2:
        raise CliInputError(f"{source}: need a time column ({', '.join(_TIME_DATE + _TIME_DAYS)}) and a value "
                            f"column ({', '.join(_RATE + _VOLUME)}); found {sorted(columns)}")
    if on_key is not None:
        out[on_key] = on_values
    return out


def _parse_csv(text: str, source: str, uptime_column: str | None = None, uptime_unit: str | None = None) -> dict[str, Any]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise CliInputError(f"{source}: empty CSV")
    columns: dict[str, list[Any]] = {name: [] for name in reader.fieldnames}
    for row in reader:
        for name in reader.fieldnames:
            columns[name].append((row.get(name) or "").strip())
    data = _columns_to_input(columns, source, uptime_column, uptime_unit)
    for key in ("t_days", "rate_bpd", "volume_bbl", "on_stream_hours", "on_stream_days"):
        if key in data:
            try:
                data[key] = [float(v) if v != "" else float("nan") for v in data[key]]
            except ValueError as exc:
                raise CliInputError(f"{source}: column for {key} is not numeric: {exc}") from exc
    return data


def read_history(source: str, uptime_column: str | None = None, uptime_unit: str | None = None) -> DcaHistoryInput:
    """Read a CSV or JSON history (file path or ``-``) and validate it; ``uptime_column`` names the
    on-stream time column (``uptime_unit`` hours or days)."""
    text = read_text(source)
    stripped = text.lstrip()
    if source.lower().endswith(".json") or stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CliInputError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
        if isinstance(data, list):
            if not data or not all(isinstance(r, dict) for r in data):
                raise CliInputError(f"{source}: a JSON list must hold records (objects)")
            data = _columns_to_input({k: [r.get(k) for r in data] for k in data[0]}, source, uptime_column,
                                     uptime_unit)
        elif uptime_column is not None and isinstance(data, dict):
            name = uptime_column
            if name not in data:
                raise CliInputError(f"{source}: no on-stream field {uptime_column!r}")
            unit = uptime_unit or ("hours" if "hour" in name.lower() else "days")
            data = {**{k: v for k, v in data.items() if k != name},
                    ("on_stream_hours" if unit == "hours" else "on_stream_days"): data[name]}
    else:
        data = _parse_csv(text, source, uptime_column, uptime_unit)
    try:
        return DcaHistoryInput.model_validate(data)
    except ValidationError as exc:
        raise CliInputError(f"{source}: invalid DcaHistoryInput:\n{format_validation_error(exc)}") from exc


def _fit(args: Any) -> int:
    from engines.dca import DcaSettings, analyze_decline
    from tb_bridge.writeback.keys import dca_attributes

    hist = read_history(args.input, getattr(args, "uptime_column", None), getattr(args, "uptime_unit", None))
    s = hist.settings
    overrides = {k: getattr(args, k) for k in ("economic_limit_bpd", "horizon_years", "criterion", "n_trials", "seed")
                 if getattr(args, k, None) is not None}
    if getattr(args, "fit_all_segments", False):
        overrides["fit_all_segments"] = True
    s = s.model_copy(update=overrides)
    try:
        settings = DcaSettings(economic_limit_bpd=s.economic_limit_bpd, horizon_years=s.horizon_years,
                               terminal_decline_eff_per_year=s.terminal_decline_pct_year / 100.0, b_max=s.b_max,
                               criterion=s.criterion, n_trials=s.n_trials, seed=s.seed,
                               restart_skip_days=s.restart_skip_days, uncertainty=s.uncertainty,
                               fit_all_segments=s.fit_all_segments, segment_shut_in_days=s.segment_shut_in_days,
                               max_life_no_decline_years=s.max_life_no_decline_years)
        time = hist.dates if hist.dates is not None else hist.t_days
        kind = "rate" if hist.rate_bpd is not None else "volume"
        values = hist.rate_bpd if hist.rate_bpd is not None else hist.volume_bbl
        on_stream, unit = ((hist.on_stream_hours, "hours") if hist.on_stream_hours is not None
                           else (hist.on_stream_days, "days"))
        result = analyze_decline(time, values, kind=kind, settings=settings, on_stream=on_stream, on_stream_unit=unit)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    if args.json:
        print_json({**dca_attributes(result), "di_secant_eff_pct_year": result.di_secant_eff_pct_year,
                    "b_above_one": result.b_above_one, "criterion": result.criterion,
                    "history_cum_bbl": result.history_cum_bbl, "abandonment_t_days": result.abandonment_days,
                    "segment_start_t_days": result.segment_start_days, "n_segments": result.n_segments,
                    "trend_pct_year": result.trend_pct_year if result.trend_pct_year == result.trend_pct_year else None,
                    "quality": to_jsonable(result.quality), "candidates": result.candidate_scores()})
        return 0
    q = result.quality
    print_key_values([
        ("model", result.model + (" (b > 1: transient/unconventional)" if result.b_above_one else "")),
        ("no decline identified", f"yes: {result.no_decline_reason}" if result.no_decline else "no"),
        ("fitted segment", f"{result.n_segments} found; fitted from day {result.segment_start_days:g}"),
        ("qi_bpd", result.qi_bpd),
        ("di_pct_month (nominal)", result.di_pct_month),
        ("di_pct_year (secant effective)", result.di_secant_eff_pct_year),
        ("b_factor", result.b_factor),
        ("history_cum_bbl", result.history_cum_bbl),
        ("eur_stb", result.eur_stb),
        ("eur_p90_stb (low)", result.eur_p90_stb),
        ("eur_p50_stb", result.eur_p50_stb),
        ("eur_p10_stb (high)", result.eur_p10_stb),
        ("samples used / total", f"{q.n_used} / {q.n_samples}"),
        ("shut-in / restart / outliers / missing", f"{q.n_shut_in} / {q.n_restart} / {q.n_outliers} / {q.n_missing}"),
        ("rmse ln q", q.rmse_log),
        ("mape_pct", q.mape_pct),
    ], title="Decline-curve analysis")
    print()
    print(f"Candidates (chosen by {result.criterion.upper()})")
    print(format_table(["model", "qi_bpd", "di_pct_month", "b", "rmse_ln_q", "AIC", "AICc", "BIC", "chosen"],
                       [[c["model"], c["qi_bpd"], c["di_pct_month"], c["b_factor"], c["rmse_log"], c["aic"], c["aicc"],
                         c["bic"], "*" if c["chosen"] else ""] for c in result.candidate_scores()]))
    print()
    print("Forecast, 12-month summaries")
    print(format_table(["year", "volume_bbl", "avg_rate_bpd", "end_rate_bpd", "cum_forecast_bbl"],
                       [[y["year"], y["volume_bbl"], y["avg_rate_bpd"], y["end_rate_bpd"], y["cum_forecast_bbl"]]
                        for y in result.forecast["years"]]))
    print()
    print("Forecast, monthly")
    months = result.forecast["months"]
    print(format_table(["month", "date" if "date" in months[0] else "t_days", "rate_bpd", "p90_bpd", "p50_bpd",
                        "p10_bpd", "volume_bbl"],
                       [[m["month"], m.get("date", m["t_days"]), m["rate_bpd"], m.get("rate_p90_bpd"),
                         m.get("rate_p50_bpd"), m.get("rate_p10_bpd"), m["volume_bbl"]] for m in months]))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dca", help="decline-curve analysis (Arps fits, AICc selection, EUR, forecast)")
    sub = parser.add_subparsers(dest="dca_command", required=True)
    p = sub.add_parser("fit", help="fit a production history (CSV or JSON of dates/days and rates or volumes)")
    p.add_argument("input", metavar="HISTORY", help="CSV or JSON file, or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--economic-limit-bpd", dest="economic_limit_bpd", type=float, help="abandonment rate, bbl/d")
    p.add_argument("--horizon-years", dest="horizon_years", type=float, help="maximum forecast life, years")
    p.add_argument("--criterion", choices=("aicc", "aic", "bic"), help="model-selection criterion")
    p.add_argument("--trials", dest="n_trials", type=int, help="Monte Carlo trials")
    p.add_argument("--seed", type=int, help="Monte Carlo seed")
    p.add_argument("--uptime-column", dest="uptime_column",
                   help="column (CSV, JSON records) or field (JSON object) with the on-stream time per sample period")
    p.add_argument("--uptime-unit", dest="uptime_unit", choices=("hours", "days"),
                   help="unit of --uptime-column (default: hours when its name contains 'hour', else days)")
    p.add_argument("--fit-all-segments", dest="fit_all_segments", action="store_true",
                   help="fit the whole history instead of the decline after the last long shut-in")
    p.set_defaults(func=_fit)
