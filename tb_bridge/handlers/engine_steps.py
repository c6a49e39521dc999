"""The engine steps the lift-type handlers schedule: each turns a :class:`WellContext` into
``opt_*`` attributes (and projected time series) by calling one engine family.

Steps do no I/O of their own; anything they remember between runs (CUSUM/EWMA state, baselines,
configuration-only curves) lives in the per-well ``context.state`` the service keeps, or in the step
object (a process-wide cache of curves that depend only on a well's configuration).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from tb_bridge.handlers.base import InsufficientData, StepOutput, WellContext
from tb_bridge.handlers.model_fits import note_fit, note_update, well_fits
from tb_bridge.writeback import keys

DAY_MS = 86_400_000
log = logging.getLogger(__name__)


def nodal_step(context: WellContext) -> StepOutput:
    """Nodal analysis (IPR x VLP) with the installed lift at its current setpoint: operating point, AOF, PI,
    drawdown, 100-point curves.

    A lifted well's outflow has its pump or injected gas at the running setpoint
    (:func:`tb_bridge.adapters.lift.lifted_operating_point`, on the lift optimizer's own well hydraulics): ESP head
    at the running frequency (affinity laws), SRP and PCP displacement and pressure boost at the current SPM/RPM,
    gas lift with the injected gas above the operating valve. The setpoint is the well's latest telemetry value,
    else its nominal one (ESP base frequency) or the optimizer's recommendation
    (:func:`tb_bridge.adapters.lift.current_setpoint`), named in ``opt_nodal_basis``; zero (lift off) gives the
    natural-flow answer. The natural-flow operating point stays in ``opt_nodal_natural_*``; a well without lift
    gets the natural-flow attributes alone. The VLP correlation is the well's ``vlp_correlation`` attribute
    (``payne_correction`` for Beggs & Brill), traversed by the compiled kernel. The natural answer is recomputed
    only when the configuration changes, the lifted one when the configuration or the setpoint does."""
    from tb_bridge.adapters.lift import CURRENT_SETPOINT_TELEMETRY, current_setpoint, lifted_operating_point
    from tb_bridge.adapters.nodal import solve_well

    config = context.config
    cached = context.state.get("nodal")
    if cached is None or cached[0] != config:
        cached = (config, solve_well(config))
        context.state["nodal"] = cached
    natural = cached[1]
    if config.lift_type not in CURRENT_SETPOINT_TELEMETRY:  # no lift: natural flow is the operating point
        return StepOutput(attributes=keys.nodal_attributes(natural))
    telemetry: dict[str, Any] = dict(context.window.latest())
    telemetry.update(context.latest_text)
    basis = f"{config.lift_type}: no setpoint"
    try:
        setpoint = current_setpoint(config, telemetry, LIFT_OPTIMIZER.cache)
        basis = setpoint.basis
        lifted = context.state.get("nodal_lifted")
        if lifted is None or lifted[0] != config or lifted[1] != setpoint.value:
            result = natural if setpoint.lift_off else lifted_operating_point(config, setpoint.value, LIFT_OPTIMIZER.cache)
            lifted = (config, setpoint.value, result)
            context.state["nodal_lifted"] = lifted
    except Exception as exc:  # the natural-flow answer is still worth writing
        return StepOutput(attributes=keys.lifted_nodal_attributes(None, natural, f"{basis} (not solved: see opt_error)"),
                          errors=[f"nodal_step: lifted operating point: {type(exc).__name__}: {exc}"])
    return StepOutput(attributes=keys.lifted_nodal_attributes(lifted[2], natural, basis))


class LiftStep:
    """Lift optimizer of the well's lift type, with one cache of configuration-only curves per process."""

    __name__ = "lift_optimizer"

    def __init__(self, max_cached_wells: int = 20_000) -> None:
        from tb_bridge.adapters.lift import LiftCache

        self.cache = LiftCache(max_entries=max_cached_wells)

    def __call__(self, context: WellContext) -> StepOutput:
        from tb_bridge.adapters.lift import optimize_well

        telemetry: dict[str, Any] = dict(context.window.latest())
        telemetry.update(context.latest_text)
        result = optimize_well(context.config, telemetry, cache=self.cache)
        return StepOutput(attributes=keys.lift_attributes(result))


#: Fewest rate samples for a decline fit from ThingsBoard history (issue 6: 30 or more entries).
MIN_TB_HISTORY_POINTS = 30
DCA_HISTORY_DAYS = 180


def dca_step(context: WellContext) -> StepOutput:
    """Decline-curve analysis on ``flow_rate_bpd``: up to 180 days from ThingsBoard when it has at
    least 30 entries, else the buffer window; writes the model, EUR percentiles, the no-decline flag and
    reason, the forecast JSON and the projected calendar-month rates (deterministic, P90/P50/P10) as
    time series stamped at future month ends. Zero-rate days are shut-ins: a long one (45 days) starts
    a new decline segment and only the last is fitted (opt_dca_segment_start_ts); a day partly shut in
    (zero-rate samples in ThingsBoard's sub-daily history) counts by its rate while producing."""
    from engines.dca import DcaSettings, analyze_decline

    t_ms, rate, source, uptime = _decline_history(context)
    producing = np.isfinite(rate)
    if producing.sum() < 3:
        raise InsufficientData(f"{int(producing.sum())} rate samples from {source}")
    dates = np.asarray(t_ms[producing], dtype=np.int64).astype("datetime64[ms]")  # calendar-month forecast
    settings = DcaSettings(economic_limit_bpd=context.config.economic_limit_bpd, seed=_stable_seed(context.config.entity_id))
    # daily means from sub-daily telemetry: normalized by the day's producing fraction (partial days)
    result = analyze_decline(dates, rate[producing], kind="rate", settings=settings,
                             on_stream=None if uptime is None else uptime[producing], on_stream_unit="fraction")
    fitted = t_ms[producing] >= t_ms[producing][0] + round(result.segment_start_days * DAY_MS)  # the fitted segment
    note_fit(well_fits(context.state), "decline", t_ms[producing][fitted], context.now_ms, source,
             train={"flow_rate_bpd": rate[producing][fitted]})  # for the monthly model audit
    attributes = keys.dca_attributes(result)
    attributes["opt_dca_history_source"] = source
    start_ms = int(t_ms[producing][0])
    attributes["opt_dca_segment_start_ts"] = start_ms + int(round(result.segment_start_days * DAY_MS))
    points = []
    for month in result.forecast["months"]:
        ts = int(month["ts_ms"])
        if ts > context.now_ms:
            points.append((ts, {"opt_dca_forecast_bpd": month["rate_bpd"], "opt_dca_forecast_p10_bpd": month["rate_p10_bpd"],
                                "opt_dca_forecast_p50_bpd": month["rate_p50_bpd"],
                                "opt_dca_forecast_p90_bpd": month["rate_p90_bpd"]}))
    return StepOutput(attributes=attributes, timeseries=points)


def _decline_history(context: WellContext) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
    """(ts_ms, rate_bpd, source, on-stream fraction per sample or None): ThingsBoard history as daily means
    with each day's producing fraction (:func:`daily_uptime`), else the buffer's raw samples."""
    if context.history_source is not None:
        try:
            t_ms, values = context.history_source(context.config.entity_id, "flow_rate_bpd", DCA_HISTORY_DAYS)
        except Exception as exc:  # ThingsBoard unreachable: fall back, and say so
            return (context.window.ts_ms, context.series("flow_rate_bpd"),
                    f"buffer (ThingsBoard history failed: {type(exc).__name__})", None)
        if len(t_ms) >= MIN_TB_HISTORY_POINTS:
            ts, vals = np.asarray(t_ms, dtype=np.int64), np.asarray(values, dtype=float)
            day_ms, day_mean = daily_means(ts, vals)
            return day_ms, day_mean, "thingsboard", daily_uptime(ts, vals)
        return context.window.ts_ms, context.series("flow_rate_bpd"), f"buffer (ThingsBoard had {len(t_ms)} points)", None
    return context.window.ts_ms, context.series("flow_rate_bpd"), "buffer", None


def daily_uptime(ts_ms: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction [-] of each calendar day's (UTC) finite samples with a positive rate, on the days of
    :func:`daily_means`: a day on stream 6 of 24 hours (5-minute telemetry) has 0.25, and its mean rate
    divided by it is the rate while producing; daily samples give 1 (producing) or 0 (shut in)."""
    finite = np.isfinite(values)
    days = ts_ms[finite] // DAY_MS
    if days.size == 0:
        return np.zeros(0)
    _, inverse = np.unique(days, return_inverse=True)
    return np.bincount(inverse, weights=(values[finite] > 0.0).astype(float)) / np.bincount(inverse)


def daily_means(ts_ms: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar-day (UTC) averages of finite values, stamped at each day's start: history sampled
    daily and telemetry sampled every 5 minutes then weigh the same per day in the fit."""
    finite = np.isfinite(values)
    days = ts_ms[finite] // DAY_MS
    if days.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    unique, inverse = np.unique(days, return_inverse=True)
    sums = np.bincount(inverse, weights=values[finite])
    counts = np.bincount(inverse)
    return unique * DAY_MS, sums / counts


def _stable_seed(entity_id: str) -> int:
    """A deterministic per-well seed (Python's hash() is salted per process)."""
    import zlib

    return zlib.crc32(entity_id.encode("utf-8"))


@dataclass
class _DiagnosticsState:
    baseline: Any = None
    tier_state: Any = None
    last_ts_ms: int = 0
    last_refresh_ms: int = 0
    last_health: float | None = None
    anomaly_active: bool = False
    health_history: list[float] = field(default_factory=list)
    last_result: Any = None  #: the latest DiagnosisResult (read by the alarm step, tb_bridge.handlers.alarm_steps)
    #: [start_ms, end_ms] spans of telemetry diagnosed as anomalous (the whole diagnostic window of a run that
    #: detected an anomaly): kept out of the baseline refresh and the monthly refit
    anomaly_spans: list[list[int]] = field(default_factory=list)
    params: tuple[Any, dict] | None = None  #: (config, config.model_dump()) for the health score's nameplates
    #: whether health_history was restored from the history store (once per service process: after a restart)
    history_restored: bool = False
    #: the well's own-history PCA monitor (``engines.anomaly.diagnosis.fit_own_pca``, on the samples of its baseline
    #: window; refitted with the monthly baseline refit): its T^2 / SPE while the lift type has no field PCA monitor
    own_pca: Any = None


#: Samples (5-minute) the fast tier diagnoses and the fewest needed to fit a first baseline.
DIAGNOSTIC_WINDOW_SAMPLES = 72
MIN_BASELINE_SAMPLES = 288  # one day: engines.anomaly.baseline.RobustBaseline.ready
#: Days of history the monthly baseline refit reads (issue 8: 30-day adaptive baselines).
BASELINE_REFIT_DAYS = 30
#: Anomaly spans older than this are forgotten (the monthly refit reads 30 days).
ANOMALY_SPAN_KEEP_MS = (BASELINE_REFIT_DAYS + 1) * DAY_MS
#: Telemetry key prefixes never diagnosed nor learnt into a baseline: the service's own and simulated outputs.
_NOT_TELEMETRY = ("opt_", "sim_")
#: Field models (Isolation-Forest fallback for wells without a baseline, PCA monitor): the fewest wells of one lift
#: type with a clean buffered day to fit them, and the forest's seed. A new well is scored by the forest once it has
#: one diagnostic window of samples.
FOREST_MIN_WELLS = 8
FOREST_SEED = 0
#: Confidence of the PCA monitors' T^2 and SPE limits (a false-alarm rate of 1 % per well-window for the field
#: monitor, per sample for a well's own-history monitor).
PCA_CONFIDENCE = 0.99
#: Daily health scores kept per well (the trend reads the last 7), and the result key and tier under which the
#: daily baseline refresh logs each one in the history store (restored from there after a restart).
HEALTH_HISTORY_DAYS = 30
HEALTH_DAILY_KEY = "opt_health_daily_score"
HEALTH_DAILY_TIER = "daily"


@dataclass
class _DiagnosisJob:
    """One well's prepared inputs to ``diagnose_window`` (one row of a batch)."""

    context: WellContext
    state: _DiagnosticsState
    window: dict[str, np.ndarray]  # key -> (1, n_steps)
    new_steps: int
    history: np.ndarray | None  # (1, n_days) or None
    params: dict
    forest: Any = None  #: the field's Isolation Forest when the well has no baseline yet (else None)
    pca: Any = None  #: the lift type's PCA monitor (``engines.spc.pca.PcaModel``) for a well with a baseline
    own_pca: Any = None  #: the well's own-history PCA monitor when the lift type has no field monitor (else None)
    monitor: str = ""  #: which PCA monitor charts the well's T^2 / SPE, for opt_status_detail (empty: none)

    def group_key(self) -> tuple:
        """Wells whose inputs stack into one batch call (same lift type, window shape, new samples, health
        history length, telemetry keys, baseline keys or the same fallback forest)."""
        shape = next(iter(self.window.values())).shape
        base_keys = self.state.baseline.keys if self.state.baseline is not None else None
        return (self.context.config.lift_type, shape, self.new_steps, 0 if self.history is None else self.history.shape[1],
                tuple(sorted(self.window)), base_keys, id(self.forest), id(self.pca), self.own_pca is None)


def _telemetry_arrays(context: WellContext) -> dict[str, np.ndarray]:
    return {key: context.series(key)[None, :] for key in context.window.values if not key.startswith(_NOT_TELEMETRY)}


def _in_spans(ts_ms: np.ndarray, spans: list[list[int]]) -> np.ndarray:
    """Samples whose timestamp falls in one of the [start, end] spans."""
    mask = np.zeros(ts_ms.shape, bool)
    for start, end in spans:
        mask |= (ts_ms >= start) & (ts_ms <= end)
    return mask


class DiagnosticsStep:
    """Anomaly detection (CUSUM/EWMA + 24 lift rules), health score and SPC (EWMA) for the 5-minute tier.

    Per well (``step(context)``) or for many wells of one lift type in one vectorized
    ``engines.anomaly.diagnose_window`` call (``step.run_batch(contexts)``, the service's path): both give a
    well the same attributes and leave the same state, since the engine computes every well's row from that
    well's inputs only. Baseline: fitted on the well's first ``MIN_BASELINE_SAMPLES`` (24 h) of buffered data
    when none is stored yet (until then the step reports insufficient data), updated daily
    (:func:`baseline_refresh_step`) and refitted monthly over 30 days (:func:`baseline_refit_step`), both
    without the spans diagnosed as anomalous."""

    __name__ = "diagnostics_step"

    # -- per well ---------------------------------------------------------------------------------------
    def __call__(self, context: WellContext) -> StepOutput:
        restore_health_histories([context])
        job = self._prepare(context)
        return self._finish(job, self._diagnose([job]))

    # -- the field models (a daily field step) ------------------------------------------------------------
    def train_field_models(self, contexts: Sequence[WellContext], settings: Any = None) -> dict[str, StepOutput]:
        """Fit one lift type's field models on its wells' buffered day, each well with a full day contributing
        its four 6-hour windows (windows that overlap a span diagnosed as anomalous are left out):

        - the Isolation Forest, the fallback for wells that have no baseline yet (issue 8; Liu, Ting & Zhou
          2008), on the windows' cross-well features;
        - the PCA monitor (Hotelling T^2 / SPE at 99 %, ``engines.spc.pca``) on the wells with a baseline, one
          row per window: the window medians of the baseline-standardized monitored keys, i.e. exactly the
          vector ``diagnose_window`` charts every 5 minutes.

        Needs ``FOREST_MIN_WELLS`` wells; until then the previous models (or none) stay, and each well with a
        baseline charts T^2 / SPE from its own-history PCA monitor instead (``_DiagnosticsState.own_pca``)."""
        from engines.anomaly.diagnosis import MONITORED_KEYS
        from engines.anomaly.isolation import feature_keys, fit_field_forest
        from engines.spc.pca import fit_pca

        if not contexts:
            return {}
        lift_type = contexts[0].config.lift_type
        needed = feature_keys(lift_type)
        monitored = MONITORED_KEYS[lift_type]
        rows: list[dict[str, np.ndarray]] = []
        z_rows: list[np.ndarray] = []
        row_ts: list[np.ndarray] = []  # timestamps of the forest's and the PCA monitor's windows (model audit)
        z_ts: list[np.ndarray] = []
        wells = pca_wells = 0
        for context in contexts:
            ts = context.window.ts_ms
            if ts.size < MIN_BASELINE_SAMPLES or any(k not in context.window.values for k in needed):
                continue
            ts = ts[-MIN_BASELINE_SAMPLES:]
            state = self._state(context)
            spans = state.anomaly_spans
            base = state.baseline if state.baseline is not None and all(
                k in context.window.values for k in monitored) else None
            used = pca_used = False
            for start in range(0, MIN_BASELINE_SAMPLES - DIAGNOSTIC_WINDOW_SAMPLES + 1, DIAGNOSTIC_WINDOW_SAMPLES):
                part = slice(start, start + DIAGNOSTIC_WINDOW_SAMPLES)
                if _in_spans(ts[part], spans).any():
                    continue
                window = {k: context.series(k)[-MIN_BASELINE_SAMPLES:][part] for k in needed}
                if all(np.isfinite(v).all() for v in window.values()):
                    rows.append(window)
                    row_ts.append(ts[part])
                    used = True
                if base is not None:
                    cols = [base.column(k) for k in monitored]
                    x = np.stack([context.series(k)[-MIN_BASELINE_SAMPLES:][part] for k in monitored])  # (K, T)
                    z_rows.append(np.median((x - base.loc[0, cols][:, None]) / base.scale[0, cols][:, None], axis=1))
                    z_ts.append(ts[part])
                    pca_used = True
            wells += used
            pca_wells += pca_used
        if wells < FOREST_MIN_WELLS:
            raise InsufficientData(f"{wells} of {FOREST_MIN_WELLS} {lift_type} wells with a clean buffered day "
                                   f"to train the Isolation-Forest fallback and the PCA monitor")
        stacked = {k: np.stack([r[k] for r in rows]) for k in needed}
        models = {"forest": fit_field_forest(lift_type, [stacked], seed=FOREST_SEED)}
        now_ms = contexts[0].now_ms
        fits: dict[str, Any] = {}  # provenance for the monthly model audit; samples = 6-hour windows
        note_fit(fits, "isolation_forest", np.concatenate(row_ts), now_ms, "buffer", samples=len(rows), train=stacked)
        z = np.asarray(z_rows)
        if len(z_rows) > 2 * len(monitored) and np.isfinite(z).all():
            models["pca"] = fit_pca(z, monitored, confidence=PCA_CONFIDENCE)
            models["pca_wells"] = pca_wells
            note_fit(fits, "field_pca", np.concatenate(z_ts), now_ms, "buffer", samples=len(z_rows))
        for shared in {id(c.field_state): self.field_models(c) for c in contexts}.values():
            shared.update(models)
            shared.setdefault("fits", {}).update(fits)
        return {}

    # -- many wells ---------------------------------------------------------------------------------------
    def run_batch(self, contexts: Sequence[WellContext]) -> dict[str, StepOutput | Exception]:
        """Outcome per ``entity_id``: the attributes, or the exception the per-well call raises for that well.
        A group whose batch call fails (one well's inputs break the vectorized call) is rerun per well, so
        only the bad well gets the error."""
        outcomes: dict[str, StepOutput | Exception] = {}
        restore_health_histories(contexts)
        self._fit_first_baselines(contexts)
        groups: dict[tuple, list[_DiagnosisJob]] = {}
        for context in contexts:
            try:
                job = self._prepare(context)
            except Exception as exc:  # InsufficientData or a bad input: this well only
                outcomes[context.config.entity_id] = exc
                continue
            groups.setdefault(job.group_key(), []).append(job)
        for jobs in groups.values():
            try:
                result = self._diagnose(jobs)
                rows = [result.take(i) for i in range(len(jobs))]
            except Exception:
                rows = None
            for i, job in enumerate(jobs):
                entity_id = job.context.config.entity_id
                try:
                    outcomes[entity_id] = self._finish(job, rows[i] if rows is not None else self._diagnose([job]))
                except Exception as exc:
                    outcomes[entity_id] = exc
        return outcomes

    # -- the phases ----------------------------------------------------------------------------------------
    @staticmethod
    def _state(context: WellContext) -> _DiagnosticsState:
        return context.state.setdefault("diagnostics", _DiagnosticsState())

    @staticmethod
    def field_models(context: WellContext) -> dict[str, Any]:
        """The lift type's field models in ``context.field_state`` (shared by the wells of one lift type in one
        service, so the per-well and the batched path read the same ones): ``forest``, the Isolation Forest
        (``engines.anomaly.isolation.FieldForest``), and ``pca``, the PCA monitor (``engines.spc.pca.PcaModel``),
        each None until :meth:`train_field_models` has fitted it; ``pca_wells``, the wells the monitor was fitted on;
        ``fits``, their :class:`~tb_bridge.handlers.model_fits.ModelFit` by model name (for the monthly model audit)."""
        return context.field_state.setdefault("diagnostics", {"forest": None, "pca": None, "pca_wells": 0})

    def _fit_first_baselines(self, contexts: Sequence[WellContext]) -> None:
        """Fit the first baseline of every well that has none and enough samples, one vectorized
        ``fit_baseline`` per set of telemetry keys (a row's fit depends on that row only); a group that fails
        is left to the per-well fit in :meth:`_prepare`."""
        from engines.anomaly.baseline import fit_baseline
        from engines.anomaly.diagnosis import REQUIRED_KEYS

        groups: dict[tuple[str, ...], list[tuple[_DiagnosticsState, dict[str, np.ndarray], WellContext]]] = {}
        for context in contexts:
            state = self._state(context)
            if state.baseline is not None or context.window.ts_ms.size < MIN_BASELINE_SAMPLES:
                continue
            arrays = _telemetry_arrays(context)
            if any(key not in arrays for key in REQUIRED_KEYS.get(context.config.lift_type, ())):
                continue
            groups.setdefault(tuple(arrays), []).append((state, arrays, context))
        for keys_, members in groups.items():
            try:
                base = fit_baseline({k: np.concatenate([a[k][:, :MIN_BASELINE_SAMPLES] for _, a, _ in members])
                                     for k in keys_}, resolution=[_resolution(c) for _, _, c in members])
            except Exception:
                continue
            for i, (state, arrays, context) in enumerate(members):
                state.baseline = base.take(i)
                state.own_pca = _own_pca_or_none(context.config.lift_type,
                                                 {k: v[0, :MIN_BASELINE_SAMPLES] for k, v in arrays.items()})
                _note_first_fit(context, state)

    def _prepare(self, context: WellContext) -> _DiagnosisJob:
        from engines.anomaly.baseline import fit_baseline
        from engines.anomaly.diagnosis import REQUIRED_KEYS

        lift_type = context.config.lift_type
        state = self._state(context)
        ts = context.window.ts_ms
        arrays = _telemetry_arrays(context)
        missing = [key for key in REQUIRED_KEYS[lift_type] if key not in arrays]
        if missing:
            raise InsufficientData(f"no telemetry yet for {missing}")
        forest = None
        if state.baseline is None:
            if ts.size < MIN_BASELINE_SAMPLES:
                forest = self.field_models(context)["forest"]
                if forest is None or ts.size < DIAGNOSTIC_WINDOW_SAMPLES:
                    raise InsufficientData(f"{ts.size} of {MIN_BASELINE_SAMPLES} samples needed for a first baseline")
            else:
                state.baseline = fit_baseline({k: v[:, :MIN_BASELINE_SAMPLES] for k, v in arrays.items()},
                                              resolution=_resolution(context))
                state.own_pca = _own_pca_or_none(lift_type, {k: v[0, :MIN_BASELINE_SAMPLES] for k, v in arrays.items()})
                _note_first_fit(context, state)
        window = {k: v[:, -DIAGNOSTIC_WINDOW_SAMPLES:] for k, v in arrays.items()}
        new_steps = int(np.count_nonzero(ts[-DIAGNOSTIC_WINDOW_SAMPLES:] > state.last_ts_ms))
        if new_steps == 0:
            raise InsufficientData("no new samples since the last run")
        history = np.asarray(state.health_history[-7:], dtype=float)[None, :] if state.health_history else None
        if state.params is None or state.params[0] is not context.config:
            state.params = (context.config, context.config.model_dump())
        pca = own_pca = None
        monitor = ""
        if state.baseline is not None:
            models = self.field_models(context)
            if models["pca"] is not None:
                pca, monitor = models["pca"], f"field PCA ({models['pca_wells']} wells)"
            elif state.own_pca is not None:
                own_pca, monitor = state.own_pca, f"own-history PCA ({state.own_pca.n_train} samples)"
        return _DiagnosisJob(context, state, window, new_steps, history, state.params[1], forest, pca, own_pca, monitor)

    @staticmethod
    def _diagnose(jobs: Sequence[_DiagnosisJob]):
        """One ``diagnose_window`` call over the jobs' wells (all of one group)."""
        from engines.anomaly.baseline import RobustBaseline
        from engines.anomaly.diagnosis import CHARTED_KEYS, TierState, diagnose_window

        first = jobs[0]
        lift_type = first.context.config.lift_type
        if len(jobs) == 1:
            window, baseline, tier_state, history = first.window, first.state.baseline, first.state.tier_state, first.history
        else:
            n_keys = len(CHARTED_KEYS[lift_type])
            window = {k: np.concatenate([j.window[k] for j in jobs]) for k in first.window}
            baseline = None if first.state.baseline is None else RobustBaseline.stack([j.state.baseline for j in jobs])
            tier_state = TierState.stack([j.state.tier_state or TierState.zeros(1, n_keys) for j in jobs])
            history = None if first.history is None else np.concatenate([j.history for j in jobs])
        own_pca = None if first.own_pca is None else [j.own_pca for j in jobs]
        return diagnose_window(lift_type, [j.params for j in jobs], window, baseline, state=tier_state,
                               pca=first.pca, forest=first.forest, health_history=history, new_steps=first.new_steps,
                               own_pca=own_pca)

    @staticmethod
    def _finish(job: _DiagnosisJob, result) -> StepOutput:
        """Keep one well's result in its state and turn it into attributes."""
        state, ts = job.state, job.context.window.ts_ms
        state.tier_state = result.state
        state.last_ts_ms = int(ts[-1])
        insufficient = result.insufficient is not None and bool(result.insufficient[0])
        if not insufficient:  # an unknown health is not a day's score
            state.last_health = float(result.health_score[0])
        state.anomaly_active = bool(result.anomaly_detected[0])
        state.last_result = result
        if state.anomaly_active:  # the window whose statistics raised it stays out of the baseline
            start, end = int(ts[-DIAGNOSTIC_WINDOW_SAMPLES:][0]), int(ts[-1])
            if state.anomaly_spans and start <= state.anomaly_spans[-1][1]:
                state.anomaly_spans[-1][1] = end
            else:
                state.anomaly_spans.append([start, end])
        state.anomaly_spans = [s for s in state.anomaly_spans if s[1] >= int(ts[-1]) - ANOMALY_SPAN_KEEP_MS]
        output = StepOutput(attributes=keys.diagnosis_attributes(result, 0))
        if insufficient:
            output.waiting.append("diagnostics_step: insufficient_data: no monitored key has a usable baseline history "
                                  "(empty or shorter than one day)")
        skipped = result.skipped[0] if result.skipped else ()
        if skipped:
            output.notes.append("diagnostics_step: skipped " + "; ".join(skipped))
        if job.monitor:
            output.notes.append(f"diagnostics_step: T^2/SPE from the {job.monitor}")
        if job.forest is not None:  # no baseline yet: the field's Isolation Forest stands in for it
            output.waiting.append(f"diagnostics_step: {ts.size} of {MIN_BASELINE_SAMPLES} samples needed for a first "
                                  f"baseline; Isolation-Forest fallback trained on the field's {job.forest.lift_type} wells")
        return output


#: The diagnostics step every handler schedules in its fast tier (per well, or batched by the service).
diagnostics_step = DiagnosticsStep()


def _own_pca_or_none(lift_type: str, samples: dict[str, np.ndarray]) -> Any:
    """The well's own-history PCA monitor on ``samples`` (its baseline window), or None when they cannot make one
    (a monitored key absent, too few complete samples)."""
    from engines.anomaly.diagnosis import fit_own_pca

    try:
        return fit_own_pca(lift_type, samples, confidence=PCA_CONFIDENCE)
    except ValueError as exc:
        log.info("no own-history PCA monitor: %s", exc)
        return None


def _resolution(context: WellContext) -> dict[str, float] | None:
    """The well's sensor-resolution overrides (``sensor_resolution`` attribute) for the baseline's spread floor."""
    return getattr(context.config, "sensor_resolution", None)


def _note_first_fit(context: WellContext, state: _DiagnosticsState) -> None:
    """Record the first baseline (and own-history PCA monitor) of a well: fitted now on the first
    ``MIN_BASELINE_SAMPLES`` buffered samples (for the monthly model audit)."""
    ts = context.window.ts_ms[:MIN_BASELINE_SAMPLES]
    fits = well_fits(context.state)
    note_fit(fits, "baseline", ts, context.now_ms, "buffer", samples=int(state.baseline.n_samples[0]))
    if state.own_pca is not None:
        note_fit(fits, "own_pca", ts, context.now_ms, "buffer", samples=int(state.own_pca.n_train))


def restore_health_histories(contexts: Sequence[WellContext]) -> None:
    """At a well's first use in this process (after a restart), load its daily health scores (the 7-day trend's
    input) from the history store: the last ``HEALTH_HISTORY_DAYS`` values the daily baseline refresh logged
    (``HEALTH_DAILY_KEY`` of its ``daily`` runs), one ``context.run_history`` call for all the wells given. A
    well with none stored starts an empty history; a failed read is retried at the next use."""
    pending = []
    for context in contexts:
        state = DiagnosticsStep._state(context)
        if not state.history_restored:
            pending.append((context, state))
    if not pending:
        return
    reader = next((c.run_history for c, _ in pending if c.run_history is not None), None)
    stored: dict[str, list[Any]] = {}
    if reader is not None:
        try:
            stored = reader([c.config.entity_id for c, _ in pending], HEALTH_DAILY_TIER, HEALTH_DAILY_KEY,
                            HEALTH_HISTORY_DAYS)
        except Exception:  # the history store is unreachable: the trend waits; try again next time
            log.warning("health history not restored for %d wells (history store failed)", len(pending), exc_info=True)
            return
    for context, state in pending:
        values = [float(v) for v in stored.get(context.config.entity_id, ()) if v is not None]
        state.health_history = (values + state.health_history)[-HEALTH_HISTORY_DAYS:]
        state.history_restored = True


def baseline_refresh_step(context: WellContext) -> StepOutput:
    """Daily: fold the samples since the last refresh into the well's baseline (incremental robust update,
    ``engines.anomaly.baseline.update_baseline``), leaving out the spans diagnosed as anomalous (alarm
    periods), and log the day's health score for the 7-day trend: in the well's state and, as
    ``opt_health_daily_score``, in this run's record in the history store (restored from there after a restart,
    :func:`restore_health_histories`)."""
    from engines.anomaly.baseline import update_baseline

    state: _DiagnosticsState | None = context.state.get("diagnostics")
    if state is None or state.baseline is None:
        raise InsufficientData("no baseline yet")
    output = StepOutput()
    if state.last_health is not None:
        restore_health_histories([context])
        state.health_history = (state.health_history + [state.last_health])[-HEALTH_HISTORY_DAYS:]
        output.attributes[HEALTH_DAILY_KEY] = state.last_health
    ts = context.window.ts_ms
    since = ts > state.last_refresh_ms
    if since.any() and all(k in context.window.values for k in state.baseline.keys):
        window = {k: context.series(k)[since][None, :] for k in state.baseline.keys}
        excluded = _in_spans(ts[since], state.anomaly_spans)
        state.baseline = update_baseline(state.baseline, window, eta=0.01, exclude=excluded[None, :])
        state.last_refresh_ms = int(ts[-1])
        note_update(well_fits(context.state), "baseline", context.now_ms, int(ts[-1]),
                    added=int(np.count_nonzero(~excluded & np.all([np.isfinite(v[0]) for v in window.values()], axis=0))))
    return output


def baseline_refit_step(context: WellContext) -> StepOutput:
    """Monthly: refit the well's robust baseline (median / MAD, trimmed mean / sd) on the last 30 days of its
    telemetry from ThingsBoard (``context.history_source``; the buffered day when ThingsBoard is not
    configured or has fewer samples), leaving out the spans diagnosed as anomalous. Only real telemetry
    keys are read, so simulated (``sim_*``) values never enter it. Keeps the previous baseline when fewer
    than ``MIN_BASELINE_SAMPLES`` samples remain. The well's own-history PCA monitor is refitted on the same
    samples."""
    from engines.anomaly.baseline import fit_baseline

    state: _DiagnosticsState | None = context.state.get("diagnostics")
    if state is None or state.baseline is None:
        raise InsufficientData("no baseline yet")
    keys_ = state.baseline.keys
    ts, arrays, source = _refit_history(context, keys_)
    exclude = _in_spans(ts, state.anomaly_spans)
    live = [k for k in keys_ if np.isfinite(arrays[k]).any()] or list(keys_)  # a key never measured counts no sample out
    usable = int(np.count_nonzero(~exclude & np.all([np.isfinite(arrays[k]) for k in live], axis=0)))
    if usable < MIN_BASELINE_SAMPLES:
        raise InsufficientData(f"{usable} of {MIN_BASELINE_SAMPLES} samples outside anomalies in the {source} "
                               f"for the monthly baseline refit")
    state.baseline = fit_baseline({k: arrays[k][None, :] for k in keys_}, exclude=exclude[None, :],
                                  resolution=_resolution(context))
    state.last_refresh_ms = int(ts[-1])
    used = ts[~exclude & np.all([np.isfinite(arrays[k]) for k in live], axis=0)]
    fits = well_fits(context.state)
    note_fit(fits, "baseline", used, context.now_ms, source, samples=int(state.baseline.n_samples[0]))
    own_pca = _own_pca_or_none(context.config.lift_type, {k: v[~exclude] for k, v in arrays.items()})
    if own_pca is not None:
        state.own_pca = own_pca
        note_fit(fits, "own_pca", ts[~exclude], context.now_ms, source, samples=int(own_pca.n_train))
    return StepOutput()


def _refit_history(context: WellContext, keys_: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """(ts_ms, {key: values on ts_ms, NaN where absent}, source) for the monthly refit."""
    if context.history_source is not None:
        try:
            series = context.history_source(context.config.entity_id, list(keys_), BASELINE_REFIT_DAYS)
        except Exception:  # ThingsBoard unreachable: the buffered day
            series = None
        if series is not None:
            ts = np.unique(np.concatenate([np.asarray(t, dtype=np.int64) for t, _ in series.values()]))
            if ts.size >= MIN_BASELINE_SAMPLES:
                arrays = {}
                for k, (t, v) in series.items():
                    col = np.full(ts.shape, np.nan)
                    col[np.searchsorted(ts, np.asarray(t, dtype=np.int64))] = np.asarray(v, dtype=float)
                    arrays[k] = col
                return ts, arrays, "ThingsBoard history"
    return context.window.ts_ms, {k: context.series(k) for k in keys_}, "buffer"


#: One lift-optimizer step (and curve cache) shared by every handler in the process.
LIFT_OPTIMIZER = LiftStep()
