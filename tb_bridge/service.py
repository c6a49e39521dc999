"""The service: wires transport -> router -> buffer/registry/sessions, tiers -> handlers -> writeback.

Everything with I/O is injected (writeback, buffer, history store), so the same object runs in
production (Redis, PostgreSQL, ThingsBoard over gRPC or MQTT), in the demo (in-process buffer, SQLite,
the stand-in) and in tests (any mix, simulated clock).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from tb_bridge.buffer import make_buffer
from tb_bridge.buffer.base import BufferUnavailableError, TelemetryBuffer
from tb_bridge.config import Settings
from tb_bridge.dask_executor import DaskTierExecutor
from tb_bridge.events import WellEvent
from tb_bridge.handlers.base import Tier, WellContext
from tb_bridge.handlers.registry import HANDLERS, handler_for
from tb_bridge.field_review import FieldReview
from tb_bridge.history.period_log import StorePeriodLog
from tb_bridge.history.store import HistoryStore
from tb_bridge.model_store import ModelStore
from tb_bridge.router import Router, TimestampWindow
from tb_bridge.scheduler import TierScheduler
from tb_bridge.sessions import SimulationSessionManager, rate_history_source, session_state_for
from tb_bridge.setpoint_control import SetpointControl
from tb_bridge.tb_history import ThingsBoardHistory
from tb_bridge.transport.base import Transport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.wells.model import WellConfig, normalize_lift_type
from tb_bridge.wells.registry import WellRegistry
from tb_bridge.writeback.base import Writeback
from tb_bridge.writeback.keys import OWN_PREFIXES, check_attributes, units_of

log = logging.getLogger(__name__)


@dataclass
class TierReport:
    """What one tier run did."""

    tier: Tier
    now_ms: int
    wells_run: int = 0
    wells_failed: int = 0
    skipped_overlap: bool = False
    duration_s: float = 0.0
    errors: dict[str, list[str]] = field(default_factory=dict)


class Service:
    """One Atilax service instance.

    ``batch_steps`` (default on): a tier's :class:`~tb_bridge.handlers.base.BatchStep` steps (the 5-minute
    diagnostics) run once over each chunk of up to ``BATCH_CHUNK_WELLS`` wells of one lift type (vectorized
    engines) instead of once per well; off, every step runs per well (same results, the reference path)."""

    #: Wells of one lift type per batched step call (bounds the telemetry windows held in memory at once).
    BATCH_CHUNK_WELLS = 1024

    def __init__(
        self,
        settings: Settings,
        writeback: Writeback,
        buffer: TelemetryBuffer | None = None,
        history: HistoryStore | None = None,
        own_user_id: str | None = None,
        history_reader: ThingsBoardHistory | None = None,
        batch_steps: bool = True,
        asset_writeback: Writeback | None = None,
    ) -> None:
        self.settings = settings
        self.batch_steps = batch_steps
        self.writeback = writeback
        self.buffer = buffer or make_buffer(
            settings.redis_url, max_points=settings.limits.buffer_points, window_s=settings.limits.buffer_window_s
        )
        self.history = history or HistoryStore(settings.database_url)
        self.history.migrate()
        self._period_log = StorePeriodLog(self.history, settings.scheduler.fast_interval_s)  # WellContext.history_log
        #: the weekly field summary and the monthly model audit, to the field asset (settings.field_asset_id) through
        #: ``asset_writeback`` (a writeback addressing ASSET entities) and to the history store
        self.asset_writeback = asset_writeback
        self.field_review = FieldReview(self.history, field_asset_id=settings.field_asset_id,
                                        asset_writeback=asset_writeback, alarm_operators=settings.alarm_operators)
        self.registry = WellRegistry()
        #: what-if simulation sessions (tb_bridge.sessions; the HTTP API drives them too); state in Redis when the
        #: buffer is Redis, so a restart keeps open sessions
        self.sessions = SimulationSessionManager(
            self.registry, self.history, self.write_attributes, write_timeseries=self.write_timeseries,
            delete_attributes=getattr(writeback, "delete_attributes", None),
            delete_timeseries=getattr(writeback, "delete_timeseries", None),
            latest_telemetry=lambda well_id: self.buffer.window(well_id).latest(),
            rate_history=lambda well_id, now_ms: rate_history_source(
                self.buffer, self.history_reader, settings.dca_history_days, settings.dca_tb_limit)(well_id, now_ms),
            state=session_state_for(self.buffer), max_sessions=settings.sim_max_sessions,
            ttl_s=settings.sim_session_ttl_s, projection_points=settings.sim_projection_points,
            projection_interval_ms=settings.sim_projection_interval_ms)
        self.router = Router(
            registry=self.registry,
            buffer=self.buffer,
            sessions=self.sessions,
            dead_letters=self.history,
            report_error=self.report_error,
            loop_guard=LoopGuard(own_user_ids={u for u in (own_user_id, settings.service_user_id) if u},
                                 own_key_prefixes=OWN_PREFIXES),
            alarm_hook=self._on_operator_alarm_event,
            timestamp_window=TimestampWindow(settings.limits.event_max_age_s, settings.limits.event_max_future_s),
        )
        self.scheduler = TierScheduler(settings.scheduler, self.run_tier)
        self._tier_locks = {tier: threading.Lock() for tier in ("fast", "hourly", "daily", "weekly", "monthly")}
        self.history_reader = history_reader
        #: the learned models (settings.ml.model_dir + the history store's model_registry): WellContext.model_store
        self.model_store = ModelStore(settings.ml.model_dir, self.history, settings.ml)
        self._well_state: dict[str, dict[str, Any]] = {}
        #: batch tiers on a Dask cluster when dask.scheduler_address is set (tb_bridge/dask_executor.py); None: here
        self.dask = DaskTierExecutor(settings.dask) if settings.dask.scheduler_address else None
        #: replicas sharing a field (:mod:`tb_bridge.ownership`): the wells this replica runs; None = all of them
        self.ownership: Any = None
        #: where a well's state goes when another replica takes the well over (:mod:`tb_bridge.well_state_store`)
        self.state_store: Any = None
        self._field_state: dict[str, dict[str, Any]] = {}  # per lift type (WellContext.field_state)
        self._transports: list[Transport] = []
        self.reports: list[TierReport] = []
        #: every setpoint recommendation through the safety layer, operator approval, target_* to the device
        self.setpoints = SetpointControl(
            registry=self.registry, history=self.history, writeback=writeback, write_attributes=self.write_attributes,
            well_state=lambda well_id: self._state_of(well_id),
            latest_telemetry=lambda well_id: self.buffer.window(well_id).latest(), policy_dir=settings.rl_policy_dir)
        self.router.approval_hook = self.setpoints.on_approval

    # -- inbound --------------------------------------------------------------------------------
    def handle(self, event: WellEvent) -> None:
        """Entry point for transports (also usable directly)."""
        self.router.handle(event)

    def attach(self, transport: Transport) -> None:
        """Start a transport delivering into the router. A transport whose partition assignment is the ownership
        of wells (Kafka) gets the router's batch entry and its backpressure signal, and this service then runs
        only the wells it owns."""
        bind = getattr(transport, "bind_router", None)
        if bind is not None:
            bind(batch_sink=self.router.handle_batch, backlog=lambda: self.router.pending["samples"],
                 retry=self.router.retry_pending)
        ownership = getattr(transport, "ownership", None)
        if ownership is not None:
            self.use_ownership(ownership)
        transport.start(self.handle, self.router.handle_raw_dead_letter)
        self._transports.append(transport)

    # -- ownership (replicas sharing a field) ------------------------------------------------------
    def use_ownership(self, ownership: Any, state_store: Any = None) -> None:
        """Run only the wells ``ownership.owns(well_id, lift_type)`` says are ours; hand a well's state over
        through ``state_store`` (or the one already set) when its partition moves to another replica."""
        self.ownership = ownership
        if state_store is not None:
            self.state_store = state_store
        ownership.on_revoked.append(self._on_partitions_revoked)
        self.router.owns = lambda event: self.owns(event.well_id, event.device_type)

    def owns(self, well_id: str, device_type: str | None = None) -> bool:
        """True when this replica runs ``well_id`` (always, without replicas). The lift type comes from the
        well's configuration, else from the event's device profile."""
        if self.ownership is None:
            return True
        config = self.registry.config(well_id)
        lift_type = config.lift_type if config is not None else normalize_lift_type(device_type or "")
        return self.ownership.owns(well_id, lift_type)

    def _is_field_leader(self) -> bool:
        return self.ownership is None or self.ownership.is_leader()

    def _state_of(self, well_id: str) -> dict[str, Any]:
        """A well's in-memory state; a well new to this replica first takes what its last owner left in the
        state store."""
        state = self._well_state.get(well_id)
        if state is None:
            state = self._well_state.setdefault(well_id, self._stored_state(well_id))
        return state

    def checkpoint_states(self, well_ids: Sequence[str] | None = None) -> int:
        """Save the states of ``well_ids`` (default: every well held here) to the state store; returns how many."""
        if self.state_store is None:
            return 0
        ids = list(self._well_state) if well_ids is None else [w for w in well_ids if w in self._well_state]
        try:
            return self.state_store.save({w: self._well_state[w] for w in ids if w in self._well_state})
        except Exception:
            log.exception("well states could not be saved to the state store")
            return 0

    def _on_partitions_revoked(self, pairs: set[tuple[str, int]]) -> None:
        """Partitions moved away: their wells' states go to the state store and leave this replica."""
        gone = []
        for well_id in list(self._well_state):
            config = self.registry.config(well_id)
            where = self.ownership.partition_of(well_id, config.lift_type) if config is not None else None
            if where in pairs:
                gone.append(well_id)
        if gone:
            self.checkpoint_states(gone)
            for well_id in gone:
                self._well_state.pop(well_id, None)
            log.info("handed over %d wells (%d partitions revoked)", len(gone), len(pairs))

    # -- outbound -------------------------------------------------------------------------------
    def write_attributes(self, well_id: str, attributes: Mapping[str, Any]) -> None:
        """Validate against the key table, then write server attributes."""
        encoded = check_attributes(attributes, "attribute")
        if encoded:
            self.writeback.write_attributes(well_id, encoded, scope="SERVER_SCOPE")

    def write_timeseries(self, well_id: str, points: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        encoded = [(ts, check_attributes(values, "timeseries")) for ts, values in points]
        encoded = [(ts, values) for ts, values in encoded if values]
        if encoded:
            self.writeback.write_timeseries(well_id, encoded)

    def report_error(self, well_id: str, message: str) -> None:
        """Set ``opt_error`` (and ``opt_status=error``) on one well."""
        now = int(time.time() * 1000)
        self.write_attributes(well_id, {"opt_error": message[:1000], "opt_error_ts": now, "opt_status": "error"})

    # -- tiers ----------------------------------------------------------------------------------
    def run_tier(self, tier: Tier, now_ms: int | None = None) -> TierReport:
        """Run ``tier``'s handler steps for every valid well; a tier never overlaps itself."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        report = TierReport(tier=tier, now_ms=now_ms)
        lock = self._tier_locks[tier]
        if not lock.acquire(blocking=False):
            report.skipped_overlap = True
            log.warning("%s tier still running; this run is skipped", tier)
            self.reports.append(report)
            return report
        started = time.perf_counter()
        try:
            if tier == "fast":  # simulation sessions past their time to live close (sim_* deleted)
                try:
                    self.sessions.expire(now_ms)
                except Exception:
                    log.exception("simulation session expiry failed")
            wells = [w for w in self.registry.valid_wells()
                     if handler_for(w.lift_type).steps(tier) and self.owns(w.entity_id)]
            self.router.retry_pending()  # telemetry held while the buffer was unreachable goes in first
            unreachable = self._buffer_unreachable() if wells else None
            if unreachable is not None:
                self._report_tier_failure(tier, wells, now_ms, unreachable, report)
                return report
            workers = self.settings.limits.tier_workers
            outcomes: list[tuple[list[str], dict[str, Any]]] = []
            ran: list[WellConfig] = []
            pool = None
            if workers > 1 and len(wells) > 1:
                pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"tier-{tier}")
            try:
                # Dask hook: the chunks of a Dask tier go to the cluster (tb_bridge/dask_executor.py); else _run_chunk
                run_chunk = self._run_chunk if self.dask is None else self.dask.chunk_runner(self, tier, wells, now_ms)
                for chunk in self._tier_chunks(wells):
                    outcomes.extend(run_chunk(tier, chunk, now_ms, pool))
                    ran.extend(chunk)
            finally:
                if pool is not None:
                    pool.shutdown()
            for well, (errors, _) in zip(ran, outcomes):
                report.wells_run += 1
                if errors:
                    report.wells_failed += 1
                    report.errors[well.entity_id] = errors
            self._run_field_steps(tier, now_ms, report)
            if tier in ("weekly", "monthly") and self._is_field_leader():
                self._review_field(tier, now_ms, ran, report)
            if self.state_store is not None:  # the next owner of a well starts from here (at most one tier old)
                self.checkpoint_states([w.entity_id for w in ran])
            try:
                self.history.record_runs(record for _, record in outcomes)  # one transaction per tier run
            except Exception:
                log.exception("history store failed for the %s tier at %s", tier, now_ms)
            self.writeback.flush()
        finally:
            lock.release()
            report.duration_s = time.perf_counter() - started
            self.reports.append(report)
        return report

    def run_well(self, tier: Tier, well_id: str, now_ms: int | None = None) -> dict[str, Any] | None:
        """Run ``tier``'s per-well steps for one valid well now (the HTTP API's run request): results written
        back and recorded like a tier run's; returns the run record, None when the well has no valid
        configuration. Raises ``RuntimeError`` while that tier is running (a well's state is not shared)."""
        config = self.registry.config(well_id)
        if config is None:
            return None
        if not self.owns(well_id):
            raise RuntimeError(f"well {well_id} is run by another replica (its Kafka partition is not assigned here)")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        lock = self._tier_locks[tier]
        if not lock.acquire(blocking=False):
            raise RuntimeError(f"the {tier} tier is running; try again when it ends")
        try:
            _, record = self._run_well_isolated(tier, config, now_ms)
            record["id"] = self.history.record_runs([record])[0]
            self.writeback.flush()
        finally:
            lock.release()
        return record

    #: Waits between the attempts to reach the buffer when a tier fires [s] (then the tier reports per well).
    BUFFER_RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0)

    def _buffer_unreachable(self) -> str | None:
        """None when the buffer answers (retrying with backoff), else the reason it does not."""
        delays = (*self.BUFFER_RETRY_DELAYS_S, None)
        for delay in delays:
            try:
                self.buffer.wells()
                return None
            except Exception as exc:  # BufferUnavailableError, or whatever a broken backend raises
                reason = f"telemetry buffer unreachable: {exc}"
                if delay is None:
                    return reason
                log.warning("%s; retrying in %.1f s", reason, delay)
                time.sleep(delay)
        return None  # pragma: no cover - the loop always returns

    def _report_tier_failure(self, tier: Tier, wells: Sequence[WellConfig], now_ms: int, reason: str,
                             report: TierReport) -> None:
        """The tier could not run at all: every well it would have run gets ``opt_status = error`` with the reason
        (the next tick tries again)."""
        log.error("%s tier at %s skipped for %d wells: %s", tier, now_ms, len(wells), reason)
        attributes = {"opt_status": "error", "opt_error": reason[:1000], "opt_error_ts": now_ms,
                      "opt_last_tier": tier}
        for well in wells:
            report.wells_run += 1
            report.wells_failed += 1
            report.errors[well.entity_id] = [reason]
            try:
                self.write_attributes(well.entity_id, attributes)
            except Exception:
                log.exception("could not write opt_error for %s", well.entity_id)
        try:
            self.writeback.flush()
        except Exception:
            log.exception("writeback flush failed after the %s tier", tier)

    def _tier_chunks(self, wells: Sequence[WellConfig]) -> list[list[WellConfig]]:
        """The tier's wells by lift type (registry order within one), in chunks of at most
        ``BATCH_CHUNK_WELLS``: the unit of a batched step call, bounding the windows held at once."""
        by_type: dict[str, list[WellConfig]] = {}
        for well in wells:
            by_type.setdefault(well.lift_type, []).append(well)
        size = self.BATCH_CHUNK_WELLS
        return [group[i:i + size] for group in by_type.values() for i in range(0, len(group), size)]

    def _run_chunk(self, tier: Tier, chunk: Sequence[WellConfig], now_ms: int,
                   pool: ThreadPoolExecutor | None) -> list[tuple[list[str], dict[str, Any]]]:
        """Run one chunk (wells of one lift type): the handler's batch steps once over all of its wells
        (when ``batch_steps``), then every well's per-well steps with those outcomes (``LiftHandler.run``)."""
        mapper = pool.map if pool is not None else map
        handler = handler_for(chunk[0].lift_type)
        if not (self.batch_steps and handler.batch_steps(tier)):
            return list(mapper(lambda w: self._run_well_isolated(tier, w, now_ms), chunk))

        def context_of(well: WellConfig) -> WellContext | None:
            try:
                return self._well_context(tier, well, now_ms)
            except Exception:  # e.g. the buffer is unreachable: the per-well path reports it for this well
                return None

        contexts = list(mapper(context_of, chunk))
        try:
            batched = handler.run_batch([c for c in contexts if c is not None])
        except Exception:  # a batch step that fails as a whole: every well runs its steps alone (same results)
            log.exception("%s batch steps of the %s tier failed; running the wells one by one", handler.lift_type, tier)
            batched = {}
            contexts = [None] * len(chunk)
        prepared = [None if c is None else (c, batched.get(c.config.entity_id)) for c in contexts]
        return list(mapper(lambda i: self._run_well_isolated(tier, chunk[i], now_ms, prepared[i]), range(len(chunk))))

    def _run_well_isolated(self, tier: Tier, config: WellConfig, now_ms: int,
                           prepared: tuple[WellContext, Mapping[str, Any] | None] | None = None
                           ) -> tuple[list[str], dict[str, Any]]:
        """:meth:`_run_well`, with whatever one well raises (its buffer window unreadable, a step's bug) turned
        into that well's ``opt_status = error``: no well's failure stops the tier for the others."""
        try:
            return self._run_well(tier, config, now_ms, prepared)
        except Exception as exc:
            reason = (str(exc) if isinstance(exc, BufferUnavailableError)
                      else f"{tier} tier failed: {type(exc).__name__}: {exc}")
            log.exception("%s tier failed for %s", tier, config.entity_id)
            now = datetime.now(timezone.utc)
            attributes = {"opt_status": "error", "opt_error": reason[:1000], "opt_error_ts": now_ms,
                          "opt_last_run_ts": now_ms, "opt_last_tier": tier}
            try:
                self.write_attributes(config.entity_id, attributes)
            except Exception:
                log.exception("could not write opt_error for %s", config.entity_id)
            return [reason], {"well_id": config.entity_id, "lift_type": config.lift_type, "tier": tier,
                              "engine": "", "started_at": now, "finished_at": now, "status": "error", "error": reason,
                              "results": attributes, "units": units_of(attributes)}

    def _run_well(self, tier: Tier, config: WellConfig, now_ms: int,
                  prepared: tuple[WellContext, Mapping[str, Any] | None] | None = None) -> tuple[list[str], dict[str, Any]]:
        """Run one well's steps and write its results; ``prepared`` is its context and batch-step outcomes
        when the chunk's batch steps already ran (:meth:`_run_chunk`)."""
        started_at = datetime.now(timezone.utc)
        handler = handler_for(config.lift_type)
        context, precomputed = prepared if prepared is not None else (self._well_context(tier, config, now_ms), None)
        output = handler.run(context, precomputed)
        attributes = dict(output.attributes)
        attributes["opt_last_run_ts"] = now_ms
        attributes["opt_last_tier"] = tier
        attributes["opt_status_detail"] = "; ".join([*output.waiting, *output.notes])[:1000]
        if output.errors:
            attributes.update(opt_status="error", opt_error="; ".join(output.errors)[:1000], opt_error_ts=now_ms)
        else:
            attributes["opt_status"] = "insufficient_data" if output.waiting else "ok"
            attributes["opt_error"] = ""
        try:
            self.write_attributes(config.entity_id, attributes)
            self.write_timeseries(config.entity_id, output.timeseries)
        except Exception as exc:  # a bad value from one engine must not stop the tier
            log.exception("writeback failed for %s", config.entity_id)
            output.errors.append(f"writeback: {type(exc).__name__}: {exc}")
        self._handle_alarms(config.entity_id, output.alarms)
        if tier == "hourly":  # the hour's recommendations through the safety layer, then approval or autonomous
            try:
                attributes.update(self.setpoints.after_hourly(config, attributes, now_ms))
            except Exception as exc:
                log.exception("setpoint decision failed for %s", config.entity_id)
                output.errors.append(f"setpoint_control: {type(exc).__name__}: {exc}")
        record = {
            "well_id": config.entity_id, "lift_type": config.lift_type, "tier": tier,
            "engine": ",".join(getattr(step, "__name__", "step") for step in handler.steps(tier)),
            "started_at": started_at, "finished_at": datetime.now(timezone.utc),
            "status": "error" if output.errors else "ok", "error": "; ".join(output.errors) or None,
            "results": attributes, "units": units_of(attributes),
        }
        return output.errors, record

    def _well_context(self, tier: Tier, config: WellConfig, now_ms: int) -> WellContext:
        return WellContext(
            config=config,
            window=self.buffer.window(config.entity_id),
            now_ms=now_ms,
            tier=tier,
            interval_s=self.settings.scheduler.fast_interval_s,
            window_s=self.settings.limits.buffer_window_s,
            latest_text=self.router.latest_text(config.entity_id),
            state=self._state_of(config.entity_id),
            history_source=self._history_source(now_ms),
            field_state=self._field_state.setdefault(config.lift_type, {}),
            run_history=self._run_history,
            history_log=self._period_log,
            model_store=self.model_store,
        )

    def _run_history(self, entity_ids: Sequence[str], tier: str, key: str, limit: int) -> dict[str, list[Any]]:
        """``WellContext.run_history``: the last ``limit`` values of result ``key`` of the wells' ``tier`` runs."""
        return self.history.latest_results(entity_ids, key, tier=tier, limit=limit)

    def _run_field_steps(self, tier: Tier, now_ms: int, report: TierReport) -> None:
        """Field-level steps (all valid wells of one lift type together, e.g. gas allocation), after the
        per-well steps: their attributes are written per well; an error sets that well's ``opt_error``."""
        for lift_type, handler in HANDLERS.items():
            if not handler.field_steps(tier):
                continue
            try:
                contexts = [self._well_context(tier, w, now_ms) for w in self.registry.valid_wells(lift_type)
                            if self.owns(w.entity_id)]
                if not contexts:
                    continue
                outputs = handler.run_field(contexts, self.settings)
            except Exception:  # e.g. the buffer is unreachable: the per-well steps already reported it
                log.exception("%s field steps of the %s tier failed", lift_type, tier)
                continue
            for entity_id, output in outputs.items():
                attributes = dict(output.attributes)
                if output.errors:
                    attributes.update(opt_status="error", opt_error="; ".join(output.errors)[:1000], opt_error_ts=now_ms)
                    report.errors.setdefault(entity_id, []).extend(output.errors)
                try:
                    self.write_attributes(entity_id, attributes)
                    self.write_timeseries(entity_id, output.timeseries)
                except Exception as exc:
                    log.exception("field-step writeback failed for %s", entity_id)
                    report.errors.setdefault(entity_id, []).append(f"writeback: {type(exc).__name__}: {exc}")

    def _review_field(self, tier: Tier, now_ms: int, wells: Sequence[WellConfig], report: TierReport) -> None:
        """The weekly field summary / monthly model audit over the wells this tier run reviewed
        (:class:`tb_bridge.field_review.FieldReview`); a failure is logged and reported, the tier goes on."""
        try:
            if self.ownership is not None:  # the leader reviews the whole field: the others' wells from the state store
                wells = self.registry.valid_wells()
            states = [self._well_state.get(w.entity_id) or self._stored_state(w.entity_id) for w in wells]
            self.field_review.run(tier, now_ms, states, self._field_state)
        except Exception as exc:
            log.exception("the %s field review failed", tier)
            report.errors.setdefault("field", []).append(f"field review: {type(exc).__name__}: {exc}")

    def _stored_state(self, well_id: str) -> dict[str, Any]:
        """A well's state as its owner last saved it (empty without a state store, or when it cannot be read)."""
        if self.state_store is None:
            return {}
        try:
            return self.state_store.load(well_id) or {}
        except Exception:
            log.exception("state of %s could not be read from the state store; it starts afresh", well_id)
            return {}

    def _handle_alarms(self, well_id: str, changes: Sequence[Any]) -> None:
        """ISA-18.2 state changes of a well's alarms (``tb_bridge.handlers.alarm_steps.AlarmChange``): raise or
        clear the ThingsBoard alarm through the writeback, and keep every change in the history store."""
        for change in changes:
            try:
                if change.action == "create" and hasattr(self.writeback, "create_alarm"):
                    self.writeback.create_alarm(well_id, change.tb_type, change.severity, change.details, change.ts_ms)
                elif change.action == "clear" and hasattr(self.writeback, "clear_alarm"):
                    self.writeback.clear_alarm(well_id, change.tb_type)
            except Exception:
                log.exception("alarm writeback failed for %s (%s %s)", well_id, change.kind, change.alarm_type)
            try:
                self.history.record_alarm_event(
                    well_id, change.alarm_type, change.severity, change.state,
                    ts=datetime.fromtimestamp(change.ts_ms / 1000.0, timezone.utc),
                    details={"kind": change.kind, **change.details})
            except Exception:
                log.exception("history store failed for the alarm event of %s", well_id)

    def _on_operator_alarm_event(self, event: WellEvent) -> None:
        """Router hook: an operator's ack / clear / shelve / suppress / out-of-service from ThingsBoard goes to
        the well's AlarmBank (``alarm_steps.apply_operator_event``); its changes go the way of the tier's."""
        from tb_bridge.handlers.alarm_steps import apply_operator_event

        config = self.registry.config(event.well_id)
        if config is None:
            log.warning("alarm action for %s ignored: no valid configuration", event.well_id)
            return
        changes, attributes = apply_operator_event(self._state_of(event.well_id),
                                                   config.lift_type, event)
        if changes:
            self._handle_alarms(event.well_id, changes)
            self.write_attributes(event.well_id, attributes)

    def _history_source(self, now_ms: int):
        reader = self.history_reader
        if reader is None:
            return None

        def source(entity_id, key, days):  # one key -> (ts, values); several keys -> {key: (ts, values)}, one read
            if isinstance(key, str):
                return reader.series(entity_id, key, days, end_ms=now_ms)
            return reader.series_many(entity_id, key, days, end_ms=now_ms)

        return source

    # -- lifecycle ------------------------------------------------------------------------------
    def start_scheduler(self) -> None:
        self.scheduler.start()

    def close(self) -> None:
        for transport in self._transports:
            transport.stop()
        self._transports.clear()
        self.scheduler.stop()
        self.sessions.stop()
        self.writeback.close()
        if self.asset_writeback is not None:
            self.asset_writeback.close()
        if self.dask is not None:
            self.dask.close()
        self.buffer.close()
        self.history.close()
