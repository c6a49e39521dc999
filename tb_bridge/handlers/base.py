"""What a lift-type handler is: which engine steps run at which tier, for one lift type."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from tb_bridge.buffer.base import BufferWindow
from tb_bridge.wells.model import WellConfig
from tb_bridge.writeback.keys import charted_values

log = logging.getLogger(__name__)

Tier = Literal["fast", "hourly", "daily", "weekly", "monthly"]
TIERS: tuple[Tier, ...] = ("fast", "hourly", "daily", "weekly", "monthly")


class HistoryLog(Protocol):
    """What the weekly and monthly review steps read from the service's history store over a period (epoch ms;
    ``tb_bridge.history.period_log.StorePeriodLog``)."""

    def results(self, entity_ids: Sequence[str], tier: str, keys: Sequence[str], start_ms: int,
                end_ms: int) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        """``{entity_id: [(run time ms, {key: value}), ...]}``: results ``keys`` of the wells' ``tier`` runs of the tier
        times ``start_ms < t <= end_ms`` (a run at the reader's own time has run before it), oldest first."""

    def alarm_log(self, entity_ids: Sequence[str], start_ms: int,
                  end_ms: int) -> tuple[list[tuple[str, float, str, str, str, str]], dict[tuple[str, str], str]]:
        """The wells' alarm state changes with ``start_ms <= ts < end_ms``, oldest first, as ``(entity_id, ts_s, alarm_type, severity,
        kind, state)``, and ``{(entity_id, alarm_type): state}`` after each alarm point's last change before it."""


@dataclass(frozen=True)
class WellContext:
    """Everything a step may use for one well at one tier run. Steps do no I/O of their own:
    ``history_source(entity_id, key, days)`` (when given) is the shell's accessor for longer history
    (e.g. 180 days of rates from ThingsBoard for DCA), returning ``(ts_ms, values)``, or for a list of keys
    ``{key: (ts_ms, values)}`` read together (one ThingsBoard request per page for all of them); ``state`` is this
    well's memory between runs (kept by the service, per well); ``field_state`` that of its lift type's wells."""

    config: WellConfig
    window: BufferWindow
    now_ms: int
    tier: Tier
    interval_s: int = 300
    window_s: int = 86_400
    latest_text: Mapping[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    history_source: Callable[[str, str, int], tuple[np.ndarray, np.ndarray]] | None = None
    #: memory shared by the wells of this lift type within one service (e.g. models fitted on the field's wells
    #: by a field step and used by a per-well step); the same dict object in every context of that lift type
    field_state: dict[str, Any] = field(default_factory=dict)
    #: the shell's accessor for values the service recorded in its history store:
    #: ``run_history(entity_ids, tier, key, limit) -> {entity_id: [value, ...]}``, the last ``limit`` values of result
    #: ``key`` of each well's runs of ``tier``, oldest first (``HistoryStore.latest_results``)
    run_history: Callable[[Sequence[str], str, str, int], dict[str, list[Any]]] | None = None
    #: the shell's reader of the history store over a period (the weekly review and the monthly model audit):
    #: results of past runs and the ISA-18.2 alarm log (:class:`HistoryLog`); None without a history store
    history_log: "HistoryLog | None" = None
    #: the learned models' files and registry (``tb_bridge.model_store.ModelStore``; the LSTM autoencoder's steps,
    #: ``tb_bridge.handlers.ml_steps``); None: no learned models
    model_store: Any = None

    def series(self, key: str) -> np.ndarray:
        """Buffered values of telemetry ``key`` aligned with ``window.ts_ms`` (all NaN when absent)."""
        array = self.window.values.get(key)
        return array if array is not None else np.full(self.window.ts_ms.shape, np.nan)


@dataclass
class StepOutput:
    """Attributes (server scope) and time-series points produced by one or more steps."""

    attributes: dict[str, Any] = field(default_factory=dict)
    timeseries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  #: steps that lacked data (not errors)
    #: ISA-18.2 alarm state changes (``tb_bridge.handlers.alarm_steps.AlarmChange``): the service raises or
    #: clears the ThingsBoard alarm and records each one in the history store
    alarms: list[Any] = field(default_factory=list)
    #: how steps ran, for ``opt_status_detail`` beside ``waiting`` but not a status (e.g. which PCA monitor is in use)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: "StepOutput") -> None:
        self.attributes.update(other.attributes)
        self.timeseries.extend(other.timeseries)
        self.errors.extend(other.errors)
        self.waiting.extend(other.waiting)
        self.notes.extend(other.notes)
        self.alarms.extend(other.alarms)

    def add_charted_point(self, now_ms: int) -> None:
        """Add the time-series point at ``now_ms`` of the attributes the key table declares ``both``
        (:func:`tb_bridge.writeback.keys.charted_values`): every charted key gets its history."""
        point = charted_values(self.attributes)
        if point:
            self.timeseries.append((int(now_ms), point))


Step = Callable[[WellContext], StepOutput]


@runtime_checkable
class BatchStep(Protocol):
    """A per-well step that can also run over many wells of one lift type in one call (vectorized engines).

    ``step(context)`` is the per-well path; ``step.run_batch(contexts)`` must return, for every context's
    ``entity_id``, exactly what the per-well call would have returned or raised for it (as a value: a
    ``StepOutput`` or the exception), and leave each well's ``context.state`` as the per-well call would.
    One well's bad input gives that well its exception; the other wells still get their results. The
    service runs a tier's batch steps for all wells before the per-well steps, so a batch step may read
    only a well's window, configuration and state from earlier runs, never the output of another step of
    the same tier run (the per-well steps placed after it may read what it left in ``context.state``)."""

    __name__: str

    def __call__(self, context: WellContext) -> StepOutput: ...

    def run_batch(self, contexts: Sequence[WellContext]) -> dict[str, StepOutput | Exception]: ...


#: A field-level step: all valid wells of one lift type at one tier run (their contexts, in registry order) and the
#: service settings (field limits such as the available lift gas) -> {entity_id: StepOutput}.
FieldStep = Callable[[Sequence[WellContext], Any], dict[str, StepOutput]]


class InsufficientData(Exception):
    """A step cannot run yet (too few points); not an error of the well."""


@dataclass(frozen=True)
class LiftHandler:
    """One lift type's handler: its main telemetry keys and the steps each tier runs.

    ``run`` executes the tier's steps in order; a step that raises is reported in
    ``StepOutput.errors`` (becoming ``opt_error``), one that lacks data in ``StepOutput.waiting``
    (``opt_status`` insufficient_data), and the remaining steps still run. ``run`` and ``run_field`` add, beside
    the attributes, a time-series point at the tier's ``now_ms`` of every key the key table declares ``both``."""

    lift_type: str
    main_keys: tuple[str, ...]
    steps_by_tier: Mapping[Tier, Sequence[Step]]
    #: steps over all wells of this lift type (e.g. field-wide gas allocation), run after the per-well steps
    field_steps_by_tier: Mapping[Tier, Sequence[FieldStep]] = field(default_factory=dict)

    def steps(self, tier: Tier) -> Sequence[Step]:
        return self.steps_by_tier.get(tier, ())

    def field_steps(self, tier: Tier) -> Sequence[FieldStep]:
        return self.field_steps_by_tier.get(tier, ())

    def batch_steps(self, tier: Tier) -> Sequence[BatchStep]:
        """The tier's steps that can run over many wells at once (:class:`BatchStep`)."""
        return tuple(step for step in self.steps(tier) if callable(getattr(step, "run_batch", None)))

    def run_batch(self, contexts: Sequence[WellContext]) -> dict[str, dict[str, StepOutput | Exception]]:
        """Run the tier's batch steps over ``contexts`` (one tier, this lift type): ``{entity_id: {step name:
        outcome}}`` for :meth:`run`. A batch call that raises as a whole leaves its step out, so that
        :meth:`run` calls the per-well step for each well instead (same results, one well at a time)."""
        outcomes: dict[str, dict[str, StepOutput | Exception]] = {c.config.entity_id: {} for c in contexts}
        if not contexts:
            return outcomes
        for step in self.batch_steps(contexts[0].tier):
            name = getattr(step, "__name__", str(step))
            try:
                results = step.run_batch(contexts)
            except Exception:  # a bug in the batch path: the per-well path still gives every well its answer
                log.exception("batch step %s failed for %d %s wells; running it per well", name, len(contexts),
                              self.lift_type)
                continue
            for entity_id, outcome in results.items():
                outcomes[entity_id][name] = outcome
        return outcomes

    def run_field(self, contexts: Sequence[WellContext], settings: Any) -> dict[str, StepOutput]:
        """Run the tier's field steps over ``contexts`` (one tier for all); a step that raises reports its
        error on every well it was given, one that lacks data reports ``waiting`` on every well."""
        outputs: dict[str, StepOutput] = {c.config.entity_id: StepOutput() for c in contexts}
        if not contexts:
            return outputs
        for step in self.field_steps(contexts[0].tier):
            name = getattr(step, "__name__", str(step))
            try:
                for entity_id, out in step(contexts, settings).items():
                    outputs[entity_id].merge(out)
            except InsufficientData as exc:
                for out in outputs.values():
                    out.waiting.append(f"{name}: {exc}")
            except Exception as exc:  # a failing field step must not stop the tier
                for out in outputs.values():
                    out.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        for out in outputs.values():
            out.add_charted_point(contexts[0].now_ms)
        return outputs

    def run(self, context: WellContext, precomputed: Mapping[str, StepOutput | Exception] | None = None) -> StepOutput:
        """Run the tier's steps for one well in order; ``precomputed`` holds this well's outcomes of batch
        steps already run by :meth:`run_batch` (by step name), used in place of calling those steps."""
        output = StepOutput()
        precomputed = precomputed or {}
        for step in self.steps(context.tier):
            name = getattr(step, "__name__", str(step))
            try:
                if name in precomputed:
                    outcome = precomputed[name]
                    if isinstance(outcome, Exception):
                        raise outcome
                    output.merge(outcome)
                else:
                    output.merge(step(context))
            except InsufficientData as exc:
                output.waiting.append(f"{name}: {exc}")
            except Exception as exc:  # one failing engine must not stop the others
                output.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        output.add_charted_point(context.now_ms)
        return output
