"""The LSTM autoencoder in the tiers (issue 22: 1, 6): scoring every 5 minutes, the monthly audit and retraining.

- :data:`lstm_ae_score_step` (5-minute tier, a :class:`~tb_bridge.handlers.base.BatchStep`): each well with a
  registered model gets, every ``ml.lstm_ae_score_every_ticks`` ticks (default 12: hourly, staggered over the wells,
  so a tick scores 1/12 of them and the score's newest hour covers every sample once), ``opt_lstm_ae_anomaly_score`` (reconstruction error of its newest 24 h of the lift type's
  main keys over the model's threshold; 1 or more is an anomaly), ``opt_lstm_ae_anomaly`` and
  ``opt_lstm_ae_model_version``. The wells of one chunk are scored in one batched pass (one weight set per well),
  on PyTorch when installed, else on NumPy with the same weights. A well without a model gets nothing (the
  statistical layer alone watches it).
- :func:`lstm_ae_audit_step` (monthly, before the model audit): the model's age and the input drift of the last 7
  days (population stability index of each input against its training deciles, ``engines.ml.drift``) become the
  ``lstm_ae`` row of ``opt_model_audit``; a model ``ml.lstm_ae_retrain_days`` old or with an input PSI at
  ``ml.lstm_ae_psi_retrain`` is retrained (a new registry version) -- and, with ``ml.lstm_ae_auto_train``, a well
  without one gets its first.
- :func:`train_well` (also `atilax ml train-lstm-ae` and ``POST /train-lstm-ae``): 30 days of the well's telemetry
  from ThingsBoard (``context.history_source``; the buffered day without it) on the 5-minute grid, its dense part
  only (the 24-hour windows with data in ``MIN_KEY_COVERAGE`` of their slots: older sparse points such as a daily
  production backfill are left out), the spans the detector flagged left out, one model trained and registered.

The steps read the model store from ``context.model_store`` (:class:`tb_bridge.model_store.ModelStore`); without one
they do nothing.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Sequence

import numpy as np

from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext
from tb_bridge.handlers.model_fits import ModelFit

log = logging.getLogger(__name__)
LSTM_AE = "lstm_ae"
DAY_MS = 86_400_000
#: Days of recent telemetry the drift audit compares with the training deciles.
DRIFT_DAYS = 7
#: A main key with fewer finite samples than this share of the training grid is left out of the model.
MIN_KEY_COVERAGE = 0.5


def main_keys(lift_type: str) -> tuple[str, ...]:
    from tb_bridge.handlers.registry import handler_for

    return handler_for(lift_type).main_keys


def _read(context: WellContext, keys: Sequence[str], days: int) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """(ts_ms, {key: values aligned}, source): ThingsBoard history of the last ``days`` when it has at least a day of
    samples, else the buffer."""
    if context.history_source is not None:
        try:
            series = context.history_source(context.config.entity_id, list(keys), days)
        except Exception:  # ThingsBoard unreachable: the buffer
            series = None
        if series:
            ts = np.unique(np.concatenate([np.asarray(t, dtype=np.int64) for t, _ in series.values()]))
            if ts.size >= 288:
                arrays = {}
                for k in keys:
                    t, v = series.get(k, ((), ()))
                    col = np.full(ts.shape, np.nan)
                    col[np.searchsorted(ts, np.asarray(t, dtype=np.int64))] = np.asarray(v, dtype=float)
                    arrays[k] = col
                return ts, arrays, "ThingsBoard history"
    return context.window.ts_ms, {k: context.series(k) for k in keys}, "buffer"


def on_grid(ts_ms: np.ndarray, arrays: dict[str, np.ndarray], keys: Sequence[str], interval_s: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Samples on the regular ``interval_s`` grid from the first to the last timestamp: ``(grid_ms, (T, K))``, the
    newest sample of each slot, NaN where a slot has none."""
    step = int(interval_s) * 1000
    ts = np.asarray(ts_ms, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(keys)))
    slot = (ts - ts[-1]) // step  # the newest sample's slot is 0
    slot = np.where((ts - ts[-1]) % step == 0, slot, slot + 1)  # ceil: slots end at the newest sample's phase
    first = int(slot.min())
    n = -first + 1
    out = np.full((n, len(keys)), np.nan)
    for j, k in enumerate(keys):
        v = np.asarray(arrays[k], dtype=float)
        ok = np.isfinite(v)
        out[slot[ok] - first, j] = v[ok]  # later samples overwrite earlier ones of the same slot
    grid = ts[-1] + (np.arange(n) + first) * step
    return grid, out


def _in_spans(ts_ms: np.ndarray, spans: Sequence[Sequence[int]]) -> np.ndarray:
    mask = np.zeros(ts_ms.shape, bool)
    for start, end in spans:
        mask |= (ts_ms >= start) & (ts_ms <= end)
    return mask


def _window_steps(interval_s: int) -> int:
    from engines.ml.lstm_ae import MAX_WINDOW_STEPS

    return int(min(MAX_WINDOW_STEPS, max(2, round(86_400 / interval_s))))


def dense_slots(series: np.ndarray, window_steps: int, stride_steps: int) -> np.ndarray:
    """(T,) bool: the slots of ``series`` (T, K) inside a ``window_steps`` window with data (a finite value of any
    key) in ``MIN_KEY_COVERAGE`` of its slots. The windows are the training windows (every ``stride_steps`` ending at
    the newest slot, ``engines.ml.lstm_ae.training_windows``); the slots older than the oldest window (fewer than a
    stride) count with it; a series shorter than a window is one window of its own length."""
    T = series.shape[0]
    has = np.isfinite(series).any(axis=1)
    ends = np.arange(T, min(window_steps, T) - 1, -stride_steps)[::-1]
    starts = np.maximum(ends - window_steps, 0)
    if ends.size:
        starts[0] = 0
    cum = np.concatenate([[0], np.cumsum(has)])
    ok = cum[ends] - cum[starts] >= MIN_KEY_COVERAGE * (ends - np.maximum(ends - window_steps, 0))
    edges = np.zeros(T + 1, np.int64)
    np.add.at(edges, starts[ok], 1)
    np.add.at(edges, ends[ok], -1)
    return np.cumsum(edges[:-1]) > 0


def training_data(context: WellContext, days: int, settings: Any = None
                  ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, str, str]:
    """``(keys, grid_ms, series (T, K), exclude (T,), source, detail)`` for one well's training: its lift type's main
    keys that have data in ``MIN_KEY_COVERAGE`` of the dense slots, on the 5-minute grid from the oldest sample in a
    dense slot (:func:`dense_slots` with the windows of ``settings``, an ``engines.ml.lstm_ae.LstmAeSettings``;
    default: 24-hour windows every 2 h); ``exclude`` the spans the detector flagged (the diagnostics state) and the
    slots outside the dense windows; ``detail`` says how much dense telemetry there is and how much training needs.
    Raises :class:`InsufficientData` when no window is dense."""
    from engines.ml.lstm_ae import LstmAeSettings

    settings = settings or LstmAeSettings(window_steps=_window_steps(context.interval_s))
    keys = main_keys(context.config.lift_type)
    ts, arrays, source = _read(context, keys, days)
    grid, series = on_grid(ts, arrays, keys, context.interval_s)
    if grid.size == 0:
        raise InsufficientData("no telemetry to train on")
    diagnostics = context.state.get("diagnostics")
    spans = getattr(diagnostics, "anomaly_spans", None) or []
    dense = dense_slots(series, settings.window_steps, settings.stride_steps)
    has = np.isfinite(series).any(axis=1)
    n_dense = int(np.count_nonzero(has & dense & ~_in_spans(grid, spans)))
    window_h = settings.window_steps * context.interval_s / 3600
    read_days = (int(grid[-1]) - int(grid[0])) / DAY_MS
    detail = (f"the {source} holds {n_dense * context.interval_s / 3600:.1f} h of dense "
              f"{context.interval_s / 60:g}-minute telemetry ({n_dense} samples in {window_h:g}-h windows with data in "
              f"at least {MIN_KEY_COVERAGE:.0%} of their slots, outside flagged spans; "
              f"{int(np.count_nonzero(has))} samples read over {read_days:.1f} days); training needs {window_h:g} h: "
              f"one {settings.window_steps}-sample window with at most {settings.max_missing_frac:.0%} missing")
    if not dense.any():
        raise InsufficientData(f"too little dense telemetry: {detail}")
    first = int(np.argmax(dense & has))  # from the oldest sample in a dense window: the sparse history before it
    grid, series, dense = grid[first:], series[first:], dense[first:]
    coverage = np.isfinite(series[dense]).mean(axis=0)
    used = [j for j in range(len(keys)) if coverage[j] >= MIN_KEY_COVERAGE]
    if not used:
        raise InsufficientData(f"none of {list(keys)} has data in {MIN_KEY_COVERAGE:.0%} of the {source}'s dense "
                               f"slots")
    exclude = _in_spans(grid, spans) | ~dense
    return tuple(keys[j] for j in used), grid, series[:, used], exclude, source, detail


def train_well(context: WellContext, store: Any, *, epochs: int | None = None,
               progress: Callable[[int, int, float], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> tuple[Any, Any]:
    """Train and register one well's LSTM autoencoder (see the module docstring): ``(ModelRecord, TrainReport)``.
    Raises ``engines.ml.lstm_ae.TorchUnavailableError`` without PyTorch, :class:`InsufficientData` when less than one
    clean 24-hour window is available (the message says how much dense telemetry there is)."""
    from engines.ml.lstm_ae import LstmAeSettings, train_lstm_ae, training_windows

    ml = store.settings
    settings = LstmAeSettings(window_steps=_window_steps(context.interval_s), epochs=epochs or ml.lstm_ae_epochs,
                              seed=_seed(context.config.entity_id))
    keys, grid, series, exclude, source, detail = training_data(context, ml.lstm_ae_history_days, settings)
    if series.shape[0] < settings.window_steps or training_windows(series, exclude, settings)[0].shape[0] == 0:
        raise InsufficientData(f"no clean {settings.window_steps}-sample window in {series.shape[0]} samples of the "
                               f"{source} (flagged spans left out): {detail}")
    model, report = train_lstm_ae(series, keys, settings, exclude=exclude, progress=progress, should_stop=should_stop,
                                  threads=ml.torch_threads)
    metrics = dict(model.metrics, source=source, keys=list(keys), device=report.device)
    from dataclasses import replace

    model = replace(model, metrics=metrics)
    record = store.save_lstm_ae(context.config.entity_id, model, trained_at_ms=int(context.now_ms),
                                window_start_ms=int(grid[0]), window_end_ms=int(grid[-1]))
    return record, report


def _seed(entity_id: str) -> int:
    import zlib

    return zlib.crc32(entity_id.encode("utf-8"))


class LstmAeScoreStep:
    """The 5-minute scoring of the wells that have a registered LSTM autoencoder (module docstring)."""

    __name__ = "lstm_ae_score_step"

    def __call__(self, context: WellContext) -> StepOutput:
        outcome = self.run_batch([context])[context.config.entity_id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def run_batch(self, contexts: Sequence[WellContext]) -> dict[str, StepOutput | Exception]:
        from engines.ml.lstm_ae import score_wells

        out: dict[str, StepOutput | Exception] = {c.config.entity_id: StepOutput() for c in contexts}
        stores = [c for c in contexts if getattr(c, "model_store", None) is not None]
        if not stores:
            return out
        store = stores[0].model_store
        try:
            records = store.latest_many(LSTM_AE, [c.config.entity_id for c in stores])
        except Exception as exc:  # the registry is unreachable: every well says so
            return {c.config.entity_id: RuntimeError(f"model registry: {type(exc).__name__}: {exc}") for c in contexts}
        groups: dict[tuple[int, int], list[tuple[WellContext, Any, Any, np.ndarray]]] = {}
        every = int(getattr(store.settings, "lstm_ae_score_every_ticks", 1))
        for context in stores:
            if every > 1 and not _due(context, every):
                continue
            record = records.get(context.config.entity_id)
            if record is None:
                continue
            try:
                model = store.load(record)
                window = self._window(context, model)
            except InsufficientData as exc:
                out[context.config.entity_id] = exc
                continue
            except Exception as exc:
                out[context.config.entity_id] = RuntimeError(f"LSTM-AE model v{record.version}: {exc}")
                continue
            groups.setdefault(window.shape, []).append((context, record, model, window))
        backend = store.settings.lstm_ae_backend
        for members in groups.values():
            scores = score_wells([m for _, _, m, _ in members], np.stack([w for *_, w in members]), backend=backend)
            for (context, record, _, _), score in zip(members, scores):
                from tb_bridge.writeback import keys

                out[context.config.entity_id] = StepOutput(attributes=keys.lstm_ae_attributes(float(score),
                                                                                               record.version))
        return out

    @staticmethod
    def _window(context: WellContext, model: Any) -> np.ndarray:
        """The newest ``window_steps`` samples of the model's keys on the 5-minute grid, (window_steps, K)."""
        ts = context.window.ts_ms
        grid, series = on_grid(ts, {k: context.series(k) for k in model.keys}, model.keys, context.interval_s)
        steps = model.window_steps
        if series.shape[0] < steps:
            raise InsufficientData(f"{series.shape[0]} of the {steps} buffered samples the LSTM-AE window needs")
        window = series[-steps:]
        if not np.isfinite(window[-model.settings.score_steps:]).any():
            raise InsufficientData("no recent sample of the LSTM-AE's keys")
        return window


lstm_ae_score_step = LstmAeScoreStep()


def _due(context: WellContext, every: int) -> bool:
    """Whether this tick scores the well: every ``every`` ticks, at a per-well phase (the wells spread over the
    ticks evenly, so each tick scores about 1/every of them)."""
    tick = int(context.now_ms) // (int(context.interval_s) * 1000)
    return (tick + _seed(context.config.entity_id)) % every == 0


def lstm_ae_audit_step(context: WellContext) -> StepOutput:
    """Monthly: the LSTM-AE row of the model audit (age, training window, drift: standardized mean shift and PSI per
    input over the last 7 days) and the retraining when due (module docstring). The row is left in
    ``context.state["lstm_ae_audit"]`` for :func:`tb_bridge.handlers.review_steps.model_audit_step`, run next."""
    from engines.ml.drift import population_stability_index
    from engines.ml.lstm_ae import torch_available
    from engines.review import Moments
    from tb_bridge.handlers.review_steps import audit_row

    store = getattr(context, "model_store", None)
    if store is None:
        return StepOutput()
    ml = store.settings
    now = int(context.now_ms)
    record = store.latest(LSTM_AE, context.config.entity_id)
    row = None
    reasons: list[str] = []
    if record is None:
        if not ml.lstm_ae_auto_train:
            return StepOutput()
        reasons.append("no model yet")
    else:
        model = store.load(record)
        ts, arrays, source = _read(context, model.keys, DRIFT_DAYS)
        recent = ts >= (ts[-1] if ts.size else now) - DRIFT_DAYS * DAY_MS  # the newest 7 days read
        moments = {k: Moments.of(np.asarray(arrays[k], dtype=float)[recent]) for k in model.keys}
        fitted_ms = int(record.trained_at.timestamp() * 1000)
        fit = ModelFit(LSTM_AE, fitted_ms, int(record.window_start.timestamp() * 1000),
                       int(record.window_end.timestamp() * 1000), int(record.metrics.get("train_samples", 0) or 0),
                       str(record.metrics.get("source", "")))
        row = audit_row(LSTM_AE, fit, now, model.keys, model.mean, model.scale, moments, source, scope="well",
                        entity=context.config.name, lift_type=context.config.lift_type)
        psi = {}
        for k in model.keys:
            ref = model.psi.get(k)
            if ref is not None:
                value = population_stability_index(ref, np.asarray(arrays[k], dtype=float)[recent])
                if math.isfinite(value):
                    psi[k] = round(value, 4)
        top = max(psi, key=psi.get) if psi else None
        row.update(version=record.version, file_hash=record.file_hash, psi=psi, max_psi=psi[top] if top else None,
                   max_psi_input=top, threshold=model.threshold)
        if row["age_days"] is not None and row["age_days"] >= ml.lstm_ae_retrain_days:
            reasons.append(f"{row['age_days']:.1f} days old")
        if top is not None and psi[top] >= ml.lstm_ae_psi_retrain:
            reasons.append(f"PSI {psi[top]:.2f} on {top}")
    output = StepOutput()
    if reasons:
        budget = context.field_state.setdefault("lstm_ae_trainings", {})
        used = budget.get(now, 0)
        if not torch_available():
            output.notes.append(f"lstm_ae: retraining due ({'; '.join(reasons)}) but PyTorch is not installed")
        elif used >= ml.lstm_ae_max_trainings_per_run:
            output.notes.append(f"lstm_ae: retraining due ({'; '.join(reasons)}); waits for the next run "
                                f"(ml.lstm_ae_max_trainings_per_run = {ml.lstm_ae_max_trainings_per_run})")
        else:
            context.field_state["lstm_ae_trainings"] = {now: used + 1}
            try:
                new, report = train_well(context, store)
                output.notes.append(f"lstm_ae: retrained ({'; '.join(reasons)}): v{new.version}, "
                                    f"{report.windows} windows, {report.epochs_run} epochs")
                if row is not None:
                    row["retrained_version"] = new.version
            except InsufficientData as exc:
                output.notes.append(f"lstm_ae: retraining due ({'; '.join(reasons)}) but {exc}")
        if row is not None:
            row["retrain_reason"] = "; ".join(reasons)
    if row is not None:
        context.state["lstm_ae_audit"] = row
    return output
