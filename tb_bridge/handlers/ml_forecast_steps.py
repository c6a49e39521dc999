"""The learned production forecast and the ESP failure probability in the daily tier (issue 22: 2, 3).

- :func:`ml_forecast_field_step` (daily, every lift type, over the lift type's wells together): each well's
  daily history (``settings.dca_history_days``, default 180 days, read from ThingsBoard through
  ``context.history_source`` as the decline step reads it) of the liquid rate, the lift type's pressure
  (:data:`PRESSURE_KEY`), setpoint (:data:`SETPOINT_KEY`) and ``opt_anomaly_score``; one model per lift type
  (``engines.ml.forecasting``), trained on those wells when the registry holds none younger than
  ``ml.forecast_retrain_days`` and the history is long enough (about 150 days), kept in the model registry
  (kind ``ml_forecast``, well ``field:<lift type>``, file ``<ml.model_dir>/ml_forecast/field_<lift>/v<N>.json``
  with its SHA-256). Each well gets ``opt_ml_forecast`` and its P10 / P90 band as 30 daily points stamped at the
  coming UTC days, and ``opt_ml_forecast_model`` (version, hash, training window, calibration coverage).
- :func:`esp_failure_step` (daily, ESP): the 30-day failure probability ``opt_esp_failure_prob_30d`` from the
  180-day daily means of current, motor temperature, vibration and intake pressure (``engines.ml.esp_failure``).
  ThingsBoard holds no failure labels, so the model is trained on the synthetic field's run-to-failure histories
  (``engines.fielddata.degradation``; 30 wells x 1095 days, seed 0; once per process) the first time one is
  needed, or by ``atilax ml train-esp-failure``, and kept in the registry (kind
  ``esp_failure``, well ``field:esp``).
Without a model store (no history database) the models live in the lift type's ``field_state`` only.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
ML_FORECAST, ESP_FAILURE = "ml_forecast", "esp_failure"
PRESSURE_KEY = {"esp": "intake_pressure_psi", "pcp": "intake_pressure_psi", "srp": "pump_intake_pressure_psi",
                "gas_lift": "injection_pressure_psi", "natural_flow": "tubing_pressure_psi"}
SETPOINT_KEY = {"esp": "frequency_hz", "srp": "spm", "pcp": "rpm", "gas_lift": "injection_rate_mscfd"}
RATE_KEY, ANOMALY_KEY = "flow_rate_bpd", "opt_anomaly_score"
_lock = threading.RLock()


def _setting(settings: Any, name: str, default: Any) -> Any:
    ml = getattr(settings, "ml", None)
    return getattr(ml, name, default) if ml is not None else default


def daily_grid(context: WellContext, keys: Sequence[str], days: float) -> dict[str, np.ndarray]:
    """``{key: (n_days,)}`` UTC-day means over the last ``days`` days up to today (NaN where a day has none), from
    ThingsBoard (one read for all keys) and the buffer (the newest day)."""
    from tb_bridge.handlers.engine_steps import daily_means

    n = int(days) + 1
    today = context.now_ms // DAY_MS
    first = today - n + 1
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if context.history_source is not None:
        try:
            series = context.history_source(context.config.entity_id, list(keys), int(days)) or {}
        except Exception as exc:  # ThingsBoard unreachable: the buffer alone
            log.warning("history read failed for %s: %s", context.config.entity_id, exc)
            series = {}
    out = {}
    for k in keys:
        t, v = series.get(k, ((), ()))
        t = np.concatenate([np.asarray(t, dtype=np.int64), np.asarray(context.window.ts_ms, dtype=np.int64)])
        v = np.concatenate([np.asarray(v, dtype=float), np.asarray(context.series(k), dtype=float)])
        day_ms, mean = daily_means(t, v)
        col = np.full(n, np.nan)
        idx = day_ms // DAY_MS - first
        ok = (idx >= 0) & (idx < n)
        col[idx[ok]] = mean[ok]
        out[k] = col
    return out


# -- model files in the registry ---------------------------------------------------------------------------
def _load_registered(store: Any, kind: str, scope: str, loader) -> tuple[Any, Any] | None:
    """(model, record) of the newest registered version, hash-checked; None when none (or unreadable)."""
    if store is None:
        return None
    from tb_bridge.history import model_registry

    record = model_registry.latest_model(store.history, kind, scope)
    if record is None:
        return None
    try:
        data = Path(record.path).read_bytes()
    except OSError as exc:
        log.warning("model file %s unreadable: %s", record.path, exc)
        return None
    if hashlib.sha256(data).hexdigest() != record.file_hash:
        log.warning("model file %s does not match its registry hash: ignored", record.path)
        return None
    return loader(data), record


def _register(store: Any, kind: str, scope: str, data: bytes, *, now_ms: int, window_start_ms: int,
              metrics: dict) -> Any:
    """Write ``data`` as the next version under the model directory and register it (with its SHA-256)."""
    if store is None:
        return None
    from tb_bridge.history import model_registry

    version = model_registry.next_version(store.history, kind, scope)
    path = Path(store.directory) / kind / scope.replace(":", "_") / f"v{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return model_registry.register_model(store.history, kind, scope, trained_at_ms=now_ms,
                                         window_start_ms=window_start_ms, window_end_ms=now_ms, metrics=metrics,
                                         path=str(path), file_hash=hashlib.sha256(data).hexdigest(), version=version)


def _model_info(record: Any, data: bytes | None, meta: dict) -> dict:
    if record is not None:
        return {"version": record.version, "sha256": record.file_hash, "trained_at": record.trained_at.isoformat(),
                "path": record.path, **{k: v for k, v in record.metrics.items()}}
    return {"version": None, "sha256": hashlib.sha256(data).hexdigest() if data else None, "in_memory": True, **meta}


# -- production forecast -----------------------------------------------------------------------------------
def _well_series(context: WellContext, days: float):
    from engines.ml.forecasting import WellSeries

    lift = context.config.lift_type
    keys = [RATE_KEY, PRESSURE_KEY.get(lift, "tubing_pressure_psi"), ANOMALY_KEY]
    sp = SETPOINT_KEY.get(lift)
    if sp:
        keys.append(sp)
    g = daily_grid(context, keys, days)
    nan = np.full(g[RATE_KEY].shape, np.nan)
    return WellSeries(g[RATE_KEY], g[keys[1]], g[sp] if sp else nan, g[ANOMALY_KEY])


def _forecast_model(contexts: Sequence[WellContext], series: list, settings: Any, now_ms: int):
    from engines.ml.forecasting import ForecastModel, fit_forecast

    lift = contexts[0].config.lift_type
    scope = f"field:{lift}"
    store = getattr(contexts[0], "model_store", None)
    field_state = contexts[0].field_state
    retrain_ms = _setting(settings, "forecast_retrain_days", 7.0) * DAY_MS
    cached = field_state.get(ML_FORECAST)
    if cached is not None and now_ms - cached[2] < retrain_ms:
        return cached[0], cached[1]
    loaded = _load_registered(store, ML_FORECAST, scope, ForecastModel.from_bytes)
    if loaded is not None and now_ms - loaded[1].trained_at.timestamp() * 1000 < retrain_ms:
        field_state[ML_FORECAST] = (*loaded, int(loaded[1].trained_at.timestamp() * 1000))
        return loaded
    try:
        model = fit_forecast(series, trees=_setting(settings, "forecast_trees", 300), seed=0)
    except ValueError as exc:
        if loaded is not None:  # too little new history: keep serving the older model
            return loaded
        raise InsufficientData(f"ml forecast: {exc}") from None
    data = model.to_bytes()
    days = len(series[0].rate_bpd)
    metrics = {"calibration_rows": model.meta["calibration_rows"], "train_rows": model.meta["train_rows"],
               "wells": model.meta["wells"], "trees": model.meta["trees"]}
    record = _register(store, ML_FORECAST, scope, data, now_ms=now_ms, window_start_ms=now_ms - days * DAY_MS,
                       metrics=metrics)
    field_state[ML_FORECAST] = (model, record, now_ms)
    return model, record


def _xgboost_missing(step: str) -> bool:
    """True (and one log line per process) when XGBoost, of the ``ml`` extra, is not installed: the learned
    models are then off and every other step runs as usual."""
    if importlib.util.find_spec("xgboost") is not None:
        return False
    if step not in _WARNED_MISSING:
        _WARNED_MISSING.add(step)
        log.warning("%s is off: XGBoost is not installed (pip install 'atilax[ml]')", step)
    return True


_WARNED_MISSING: set[str] = set()


def ml_forecast_field_step(contexts: Sequence[WellContext], settings: Any) -> dict[str, StepOutput]:
    """See the module docstring."""
    if _xgboost_missing("the learned production forecast"):
        return {}
    from engines.ml.forecasting import forecast_well

    days = float(getattr(settings, "dca_history_days", 180.0))
    now_ms = contexts[0].now_ms
    series = [_well_series(c, days) for c in contexts]
    with _lock:
        model, record = _forecast_model(contexts, series, settings, now_ms)
    info = _model_info(record, None if record else model.to_bytes(), {"wells": model.meta.get("wells")})
    today = now_ms // DAY_MS
    outputs: dict[str, StepOutput] = {}
    for c, s in zip(contexts, series):
        out = StepOutput(attributes={"opt_ml_forecast_model": info})
        try:
            fc = forecast_well(model, s)
        except ValueError as exc:
            out.waiting.append(f"ml_forecast: {exc}")
        else:
            for h in range(fc.rate_bpd.size):
                ts = int((today + 1 + h) * DAY_MS)
                out.timeseries.append((ts, {"opt_ml_forecast": round(float(fc.rate_bpd[h]), 2),
                                            "opt_ml_forecast_p10": round(float(fc.p10_bpd[h]), 2),
                                            "opt_ml_forecast_p90": round(float(fc.p90_bpd[h]), 2)}))
        outputs[c.config.entity_id] = out
    return outputs


ml_forecast_field_step.__name__ = "ml_forecast"


# -- ESP failure probability -------------------------------------------------------------------------------
_DEFAULT_FAILURE_MODELS: dict[tuple[int, int], Any] = {}


def train_esp_failure_model(*, wells: int = 30, days: int = 1095, trees: int = 150, seed: int = 0) -> tuple[Any, dict]:
    """Fit and evaluate on the synthetic run-to-failure field: ``(FailureModel, evaluation figures)``."""
    from engines.fielddata.degradation import run_to_failure
    from engines.ml.esp_failure import evaluate_failure_model, labelled_days

    report = evaluate_failure_model(labelled_days(run_to_failure(wells, days, seed=seed)), trees=trees, seed=seed)
    model = report.pop("model")
    model.meta.update({"source": f"synthetic run-to-failure field ({wells} wells x {days} days, seed {seed})",
                       **{k: report[k] for k in ("roc_auc", "pr_auc", "brier", "recall_at_1_false_alarm_per_well_year")}})
    return model, report


def register_esp_failure_model(store: Any, model: Any, now_ms: int) -> Any:
    metrics = {k: model.meta[k] for k in ("roc_auc", "pr_auc", "brier", "recall_at_1_false_alarm_per_well_year", "source")
               if k in model.meta}
    return _register(store, ESP_FAILURE, "field:esp", model.to_bytes(), now_ms=now_ms, window_start_ms=now_ms,
                     metrics=metrics)


def _failure_model(context: WellContext, settings: Any):
    from engines.ml.esp_failure import FailureModel

    cached = context.field_state.get(ESP_FAILURE)
    store = getattr(context, "model_store", None)
    if store is None and cached is not None:
        return cached
    if store is not None:  # the newest registered version (one registered by the CLI since is taken up)
        from tb_bridge.history import model_registry

        record = model_registry.latest_model(store.history, ESP_FAILURE, "field:esp")
        if cached is not None and record is not None and cached[1] is not None and cached[1].file_hash == record.file_hash:
            return cached
    loaded = _load_registered(store, ESP_FAILURE, "field:esp", FailureModel.from_bytes)
    if loaded is None:
        size = (_setting(settings, "esp_failure_train_wells", 30), _setting(settings, "esp_failure_train_days", 1095))
        with _lock:
            model = _DEFAULT_FAILURE_MODELS.get(size)
            if model is None:  # once per process: every service (and test) of it shares the seeded default
                model = _DEFAULT_FAILURE_MODELS[size] = train_esp_failure_model(wells=size[0], days=size[1])[0]
        loaded = (model, register_esp_failure_model(store, model, context.now_ms))
    context.field_state[ESP_FAILURE] = loaded
    return loaded


def esp_failure_field_step(contexts: Sequence[WellContext], settings: Any) -> dict[str, StepOutput]:
    """See the module docstring."""
    if _xgboost_missing("the ESP failure prediction"):
        return {}
    from engines.ml.esp_failure import SIGNALS, EspDailySeries, failure_features

    model, record = _failure_model(contexts[0], settings)
    info = _model_info(record, None, {k: model.meta.get(k) for k in ("roc_auc", "pr_auc", "brier", "source")})
    days = float(getattr(settings, "dca_history_days", 180.0))
    outputs: dict[str, StepOutput] = {}
    for c in contexts:
        g = daily_grid(c, (RATE_KEY,) + SIGNALS, days)
        running = ~(g[RATE_KEY] <= 0)  # a day without a rate is not a shut-in
        X = failure_features(EspDailySeries({k: g[k] for k in SIGNALS}, running))
        out = StepOutput(attributes={"opt_esp_failure_model": info})
        signal_days = int(np.isfinite(np.column_stack([g[k] for k in SIGNALS])).all(axis=1).sum())
        if not running[-1] or signal_days == 0:
            out.waiting.append("esp_failure: the pump is off or no current/temperature/vibration/intake data")
        else:
            p = float(model.probability(X[-1:])[0])
            out.attributes.update({"opt_esp_failure_prob_30d": round(p, 4), "opt_esp_failure_signal_days": signal_days})
        outputs[c.config.entity_id] = out
    return outputs


esp_failure_field_step.__name__ = "esp_failure"
