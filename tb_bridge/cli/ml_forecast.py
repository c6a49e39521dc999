"""``atilax ml`` commands of the learned production forecast and the ESP failure probability (issue 22: 2, 3).

``atilax ml forecast WELLS.json [--model FILE] [--out FILE] [--trees 300] [--json]``
    WELLS.json: ``{"wells": [{"name", "rate_bpd": [...], "pressure_psi": [...], "setpoint": [...],
    "anomaly_score": [...]}]}`` (daily values, oldest first, equal lengths; pressure, setpoint and anomaly score
    optional, null for a missing day; at most 20,000 days and 5,000 wells). Without ``--model`` it fits one model on
    the wells (needs about 150 days) and, with ``--out``, writes it; then prints each well's 30-day forecast
    (median, P10 high, P90 low, bbl/d) from its last day.
``atilax ml evaluate-forecast [--wells 20] [--days 1095] [--folds 3] [--trees 300] [--seed 0] [--json]``
    Time-series cross-validation on the synthetic run-to-failure field: MAE and MAPE of the model, the decline
    forecast and persistence, and the band's coverage.
``atilax ml train-esp-failure [--wells 30] [--days 1095] [--trees 150] [--seed 0] [--out FILE] [--register] [--json]``
    Fit and evaluate the failure classifier on the synthetic run-to-failure field (time-based split): ROC-AUC,
    PR-AUC, Brier score (calibrated, uncalibrated), recall at 1 false alarm per well-year. ``--out`` writes the model
    file; ``--register`` adds it to the configured model directory and registry, where the service's daily tier
    takes it (kind ``esp_failure``, well ``field:esp``).
``atilax ml esp-failure WELL.json --model FILE [--json]``
    WELL.json: ``{"motor_current_a": [...], "motor_temperature_f": [...], "vibration_g": [...],
    "intake_pressure_psi": [...], "running": [...]}`` daily means, oldest first -> the 30-day failure probability
    on the last day.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tb_bridge.cli.io import CliInputError, format_table, print_json, read_model

MAX_DAYS, MAX_WELLS = 20_000, 5_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DailyWell(_Strict):
    name: str = "well"
    rate_bpd: list[float | None] = Field(min_length=31, max_length=MAX_DAYS)
    pressure_psi: list[float | None] | None = None
    setpoint: list[float | None] | None = None
    anomaly_score: list[float | None] | None = None

    @model_validator(mode="after")
    def _lengths(self):
        n = len(self.rate_bpd)
        for k in ("pressure_psi", "setpoint", "anomaly_score"):
            v = getattr(self, k)
            if v is not None and len(v) != n:
                raise ValueError(f"{k} has {len(v)} days, rate_bpd {n}")
        if any(q is not None and q < 0 for q in self.rate_bpd):
            raise ValueError("rate_bpd has a negative rate")
        return self

    def series(self):
        from engines.ml.forecasting import WellSeries

        arr = lambda v: np.array([np.nan if x is None else x for x in v], float)  # noqa: E731
        nan = np.full(len(self.rate_bpd), np.nan)
        return WellSeries(arr(self.rate_bpd), arr(self.pressure_psi) if self.pressure_psi else nan,
                          arr(self.setpoint) if self.setpoint else nan,
                          arr(self.anomaly_score) if self.anomaly_score else nan)


class ForecastInput(_Strict):
    wells: list[DailyWell] = Field(min_length=1, max_length=MAX_WELLS)


class EspFailureInput(_Strict):
    motor_current_a: list[float | None] = Field(min_length=1, max_length=MAX_DAYS)
    motor_temperature_f: list[float | None]
    vibration_g: list[float | None]
    intake_pressure_psi: list[float | None]
    running: list[bool] | None = None

    @model_validator(mode="after")
    def _lengths(self):
        n = len(self.motor_current_a)
        for k in ("motor_temperature_f", "vibration_g", "intake_pressure_psi", "running"):
            v = getattr(self, k)
            if v is not None and len(v) != n:
                raise ValueError(f"{k} has {len(v)} days, motor_current_a {n}")
        return self


def _xgboost() -> None:
    try:
        import xgboost  # noqa: F401
    except ImportError:
        raise CliInputError("needs XGBoost: pip install 'atilax[ml]'") from None


def _forecast(args) -> int:
    from engines.ml.forecasting import MAX_TREES, ForecastModel, fit_forecast, forecast_well

    _xgboost()
    data = read_model(args.input, ForecastInput)
    series = [w.series() for w in data.wells]
    if args.model:
        model = ForecastModel.from_bytes(Path(args.model).read_bytes())
    else:
        if not 1 <= args.trees <= MAX_TREES:
            raise CliInputError(f"--trees must be in [1, {MAX_TREES}]")
        try:
            model = fit_forecast(series, trees=args.trees, seed=args.seed)
        except ValueError as exc:
            raise CliInputError(str(exc)) from None
        if args.out:
            Path(args.out).write_bytes(model.to_bytes())
    result = {"model": args.model or args.out or "(fitted, not written)", "wells": []}
    for w, s in zip(data.wells, series):
        try:
            fc = forecast_well(model, s)
        except ValueError as exc:
            result["wells"].append({"name": w.name, "error": str(exc)})
            continue
        result["wells"].append({"name": w.name, "day": list(range(1, fc.rate_bpd.size + 1)),
                                "rate_bpd": np.round(fc.rate_bpd, 2).tolist(), "p10_bpd": np.round(fc.p10_bpd, 2).tolist(),
                                "p90_bpd": np.round(fc.p90_bpd, 2).tolist()})
    if args.json:
        print_json(result)
        return 0
    for w in result["wells"]:
        if "error" in w:
            print(f"{w['name']}: {w['error']}")
            continue
        rows = [[d, q, hi, lo] for d, q, hi, lo in zip(w["day"], w["rate_bpd"], w["p10_bpd"], w["p90_bpd"])
                if d in (1, 7, 14, 30)]
        print(f"{w['name']}:")
        print(format_table(["day", "forecast bbl/d", "P10 bbl/d", "P90 bbl/d"], rows, "{:.1f}"))
    return 0


def _evaluate_forecast(args) -> int:
    from engines.fielddata.degradation import run_to_failure
    from engines.ml.forecasting import WellSeries, evaluate_forecast

    _xgboost()
    if not (1 <= args.wells <= 500 and 200 <= args.days <= 7_300 and 1 <= args.folds <= 10 and 1 <= args.trees <= 2_000):
        raise CliInputError("need 1 <= --wells <= 500, 200 <= --days <= 7300, 1 <= --folds <= 10, 1 <= --trees <= 2000")
    h = run_to_failure(args.wells, args.days, seed=args.seed)
    v = h.values
    series = [WellSeries(v["flow_rate_bpd"][w], v["intake_pressure_psi"][w], v["frequency_hz"][w], v["anomaly_score"][w])
              for w in range(args.wells)]
    progress = (lambda k, n: sys.stderr.write(f"\rfold {k}/{n}" + ("\n" if k == n else ""))) if sys.stderr.isatty() else None
    try:
        r = evaluate_forecast(series, folds=args.folds, trees=args.trees, seed=args.seed, progress=progress)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    if args.json:
        print_json(r)
        return 0
    print(format_table(["forecast", "MAE bbl/d", "MAPE %", "pairs"],
                       [[k, r[k]["mae_bpd"], r[k]["mape_pct"], r[k]["n"]] for k in ("ml", "decline", "persistence")],
                       "{:.2f}"))
    print(f"P10/P90 band coverage {100 * r['band']['coverage']:.1f} % (nominal 80 %)")
    return 0


def _train_esp_failure(args) -> int:
    from tb_bridge.handlers.ml_forecast_steps import register_esp_failure_model, train_esp_failure_model

    _xgboost()
    if not (5 <= args.wells <= 2_000 and 365 <= args.days <= 20_000 and 1 <= args.trees <= 2_000):
        raise CliInputError("need 5 <= --wells <= 2000, 365 <= --days <= 20000, 1 <= --trees <= 2000")
    try:
        model, report = train_esp_failure_model(wells=args.wells, days=args.days, trees=args.trees, seed=args.seed)
    except (ValueError, KeyboardInterrupt) as exc:
        raise CliInputError(f"not trained: {exc or 'stopped'}") from None
    out = {"figures": report, "meta": model.meta}
    if args.out:
        Path(args.out).write_bytes(model.to_bytes())
        out["model"] = args.out
    if args.register:
        import time

        from tb_bridge.cli.ml_lstm_ae import _store
        from tb_bridge.config import load_settings

        record = register_esp_failure_model(_store(load_settings()), model, int(time.time() * 1000))
        out["registered"] = {"version": record.version, "path": record.path, "sha256": record.file_hash}
    if args.json:
        print_json(out)
        return 0
    print(format_table(["ROC-AUC", "PR-AUC", "Brier", "Brier uncalibrated", "recall @ 1 FA/well-year", "prevalence"],
                       [[report["roc_auc"], report["pr_auc"], report["brier"], report["brier_uncalibrated"],
                         report["recall_at_1_false_alarm_per_well_year"], report["prevalence"]]], "{:.4f}"))
    if "registered" in out:
        print(f"registered esp_failure v{out['registered']['version']} at {out['registered']['path']}")
    return 0


def _esp_failure(args) -> int:
    from engines.ml.esp_failure import SIGNALS, EspDailySeries, FailureModel, failure_features

    _xgboost()
    data = read_model(args.input, EspFailureInput)
    model = FailureModel.from_bytes(Path(args.model).read_bytes())
    arr = lambda v: np.array([np.nan if x is None else x for x in v], float)  # noqa: E731
    signals = {k: arr(getattr(data, k)) for k in SIGNALS}
    running = np.array(data.running if data.running is not None else [True] * len(data.motor_current_a), bool)
    X = failure_features(EspDailySeries(signals, running))
    p = float(model.probability(X[-1:])[0]) if running[-1] else None
    result = {"esp_failure_prob_30d": p, "days": int(running.size)}
    if args.json:
        print_json(result)
    else:
        print("pump off on the last day: no probability" if p is None else f"failure within 30 days: {100 * p:.1f} %")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("forecast", help="30-day learned production forecast with its P10/P90 band")
    p.add_argument("input", help="WELLS.json or - for stdin")
    p.add_argument("--model", help="a model file (default: fit one on the wells)")
    p.add_argument("--out", help="write the fitted model here")
    p.add_argument("--trees", type=int, default=300, help="boosting rounds (default 300, at most 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_forecast)
    p = sub.add_parser("evaluate-forecast", help="time-series CV of the forecast against decline and persistence")
    p.add_argument("--wells", type=int, default=20, help="synthetic wells (default 20, at most 500)")
    p.add_argument("--days", type=int, default=1095, help="days per well (default 1095, 200 to 7300)")
    p.add_argument("--folds", type=int, default=3, help="CV folds (default 3, at most 10)")
    p.add_argument("--trees", type=int, default=300, help="boosting rounds (default 300, at most 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_evaluate_forecast)
    p = sub.add_parser("train-esp-failure", help="train and evaluate the ESP 30-day failure classifier")
    p.add_argument("--wells", type=int, default=30, help="synthetic wells (default 30, 5 to 2000)")
    p.add_argument("--days", type=int, default=1095, help="days per well (default 1095, 365 to 20000)")
    p.add_argument("--trees", type=int, default=150, help="boosting rounds (default 150, at most 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the model file here")
    p.add_argument("--register", action="store_true", help="add it to the configured model directory and registry")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_train_esp_failure)
    p = sub.add_parser("esp-failure", help="30-day failure probability of one ESP well's daily history")
    p.add_argument("input", help="WELL.json or - for stdin")
    p.add_argument("--model", required=True, help="model file from train-esp-failure --out")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_esp_failure)
