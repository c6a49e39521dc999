"""Field-development planner runs for ThingsBoard assets (issue 9, item 7).

A field is a ThingsBoard asset carrying its reservoir description as attributes:

- ``placement_case``: the name of a shipped case (``thesis_5x5``, ``channel_20x20``) or a case
  document (a JSON object, or JSON text), schema in ``engines/reservoir/cases/README.md``;
- ``placement_seed`` (optional, default 0): the optimizer's random seed;
- ``placement_run_requested`` (true): starts a run (rule chain or dashboard button);
- ``placement_stop_requested`` (true): stops the running one at its next generation.

A run goes to a background thread. ``opt_placement_status`` is ``running`` while it works (the best NPV
per generation so far is written to ``opt_placement_convergence`` at most every
``progress_interval_s``), then ``done``, ``stopped`` (the best plan so far is written) or ``error`` (with
``opt_error``). The best plan lands as ``opt_placement_cells``, ``_npv_musd``, ``_well_count``,
``_economics``, ``_convergence`` and its production profile as the time series
``opt_placement_oil_rate_bpd`` stamped from the run's start. As soon as the case is read, the
permeability map the dashboard draws the wells over is written: ``opt_placement_permeability_md``
(``[row][col]`` kx of the first completed layer, layer 0 when all are completed) and ``opt_placement_grid``. Every key goes through
:func:`~tb_bridge.writeback.keys.check_attributes`; the writeback must address assets
(``RestWriteback(..., entity_type="ASSET")``).

Only shipped case names or inline documents are accepted: an attribute never names a file on the
service's machine. Every size in a case is bounded (``engines.reservoir.case.CASE_LIMITS``): a case beyond
a limit ends at once with ``error`` and an ``opt_error`` naming the field, its value and the limit.

Runs are rationed per field: one at a time; ``cooldown_s`` (seconds) between the end of a run and the
start of the next one of the same field (a request refused for bad input does not count); at most
``max_parallel_runs`` runs over all fields. A refused request starts nothing: it writes
``opt_placement_refused`` (why, and when to retry) and leaves the current status alone. A run that has
taken ``max_run_s`` (wall-clock seconds, reading the asset included) stops at its next generation (or
local-search iteration) and writes its best plan so far with status ``stopped``;
``opt_placement_stop_reason`` says why a run stopped early.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Protocol

from tb_bridge.events import EventKind, WellEvent
from tb_bridge.writeback.base import Writeback
from tb_bridge.writeback.keys import (
    check_attributes,
    placement_attributes,
    placement_map_attributes,
    placement_profile_points,
)

log = logging.getLogger(__name__)

CASE_KEY = "placement_case"
SEED_KEY = "placement_seed"
RUN_KEY = "placement_run_requested"
STOP_KEY = "placement_stop_requested"
INPUT_KEYS = (CASE_KEY, SEED_KEY, RUN_KEY, STOP_KEY)


class PlacementInputError(ValueError):
    """The asset's placement attributes cannot be turned into a case (missing, malformed, invalid)."""


class PlacementRefused(RuntimeError):
    """A run request refused by the per-field rationing; nothing was started.

    ``retry_after_s``: seconds until a request can be accepted (None: once the running run ends)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AttributeReader(Protocol):
    def asset_attributes(self, asset_id: str) -> dict[str, Any]:
        """``{key: value}`` of the asset's server and shared attributes."""


class RestAttributeReader:
    """Reads an asset's attributes over ThingsBoard's REST API
    (``GET /api/plugins/telemetry/ASSET/{id}/values/attributes``; shared scope wins over server scope)."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout_s: float = 30.0) -> None:
        self._args = (base_url, username, password)
        self._timeout_s = timeout_s

    def asset_attributes(self, asset_id: str) -> dict[str, Any]:
        from tb_bridge.tbsetup.client import TbClient

        out: dict[str, Any] = {}
        with TbClient(*self._args, timeout_s=self._timeout_s) as client:
            for scope in ("SERVER_SCOPE", "SHARED_SCOPE"):
                for row in client.get(f"/api/plugins/telemetry/ASSET/{asset_id}/values/attributes/{scope}") or []:
                    out[row["key"]] = row["value"]
        return out


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def case_from_attributes(attributes: Mapping[str, Any]):
    """``(PlacementCase, seed)`` from an asset's attributes; raises :class:`PlacementInputError`."""
    from engines.reservoir.case import case_from_dict, load_case, shipped_cases

    raw = attributes.get(CASE_KEY)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise PlacementInputError(f"{CASE_KEY} is missing: give a shipped case name "
                                  f"({', '.join(shipped_cases())}) or a case JSON document")
    doc: Any = raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PlacementInputError(f"{CASE_KEY}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
        elif text in shipped_cases():
            try:
                case = load_case(text)
            except ValueError as exc:
                raise PlacementInputError(f"{CASE_KEY}: {exc}") from None
            return case, _seed(attributes)
        else:
            raise PlacementInputError(f"{CASE_KEY}: unknown case {text!r} (shipped: {', '.join(shipped_cases())}; "
                                      f"or give a case JSON document)")
    if not isinstance(doc, dict):
        raise PlacementInputError(f"{CASE_KEY}: expected a case name or a JSON object, got {type(doc).__name__}")
    try:
        case = case_from_dict(doc)
    except (ValueError, TypeError, KeyError) as exc:
        raise PlacementInputError(f"{CASE_KEY}: invalid case: {exc}") from None
    return case, _seed(attributes)


def _seed(attributes: Mapping[str, Any]) -> int:
    raw = attributes.get(SEED_KEY, 0)
    try:
        if isinstance(raw, bool) or float(raw) != int(float(raw)) or int(float(raw)) < 0:
            raise ValueError
        return int(float(raw))
    except (TypeError, ValueError):
        raise PlacementInputError(f"{SEED_KEY} must be a non-negative integer, got {raw!r}") from None


@dataclass
class PlacementJob:
    """One run for one asset. ``status``: running | done | stopped | error; ``stop_reason``: why it
    stopped early (None when it did not); ``ended_s``: when it ended (the jobs' monotonic clock, s);
    ``case_accepted``: its case passed validation (only such runs start the field's cooldown);
    ``generations_done``: GA generations completed so far."""

    asset_id: str
    started_ms: int
    stop_event: threading.Event = field(default_factory=threading.Event)
    status: str = "running"
    error: str | None = None
    result: Any = None
    seed: int | None = None
    thread: threading.Thread | None = None
    stop_reason: str | None = None
    ended_s: float | None = None
    case_accepted: bool = False
    generations_done: int = 0

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the run ended; True when it did."""
        if self.thread is None:
            return True
        self.thread.join(timeout_s)
        return not self.thread.is_alive()


class _RunStop:
    """The stop signal a run polls between generations: set by a stop request or the service stopping
    (``job.stop_event``), or once ``deadline_s`` (monotonic, s) has passed: the run budget."""

    def __init__(self, job: PlacementJob, deadline_s: float, budget_s: float, monotonic: Callable[[], float],
                 n_generations: int) -> None:
        self.job = job
        self.deadline_s = deadline_s
        self.budget_s = budget_s
        self.monotonic = monotonic
        self.n_generations = n_generations
        self.fired = False

    def is_set(self) -> bool:
        job = self.job
        if job.stop_event.is_set():
            if job.stop_reason is None:
                job.stop_reason = "stop requested"
            self.fired = True
            return True
        if self.monotonic() >= self.deadline_s:
            where = (f"after {job.generations_done} of {self.n_generations} generations"
                     if job.generations_done < self.n_generations
                     else f"in the local search after all {self.n_generations} generations")
            job.stop_reason = f"run budget of {self.budget_s:g} s (placement.max_run_s) spent {where}"
            job.stop_event.set()
            self.fired = True
            return True
        return False


def _utc_iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlacementJobs:
    """Starts, tracks and stops placement runs, one at a time per asset.

    ``reader`` reads the asset's attributes (REST); ``writeback`` writes the results (it must address
    ASSET entities). ``clock_ms`` stamps the profile and the retry times of refusals. Rationing (see the
    module docstring): ``cooldown_s`` between runs of one field, ``max_run_s`` wall-clock seconds per
    run, ``max_parallel_runs`` over all fields; ``monotonic`` (s) is their clock. Use
    :meth:`on_asset_event` as the router's asset hook: an attribute update with
    ``placement_run_requested`` true starts a run, one with ``placement_stop_requested`` true stops it.
    ``problem_factory(case)``: the placement problem of a run (default: the built-in simulator in this process;
    :class:`tb_bridge.dask_executor.DaskPlacementProblems`: each generation's plans simulated on a Dask cluster)."""

    def __init__(self, reader: AttributeReader, writeback: Writeback, *,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 progress_interval_s: float = 1.0, flush_timeout_s: float = 30.0,
                 cooldown_s: float = 60.0, max_run_s: float = 1800.0, max_parallel_runs: int = 2,
                 monotonic: Callable[[], float] = time.monotonic,
                 problem_factory: Callable[[Any], Any] | None = None) -> None:
        if not (math.isfinite(cooldown_s) and cooldown_s >= 0):
            raise ValueError(f"cooldown_s must be >= 0 s, got {cooldown_s!r}")
        if not (math.isfinite(max_run_s) and max_run_s > 0):
            raise ValueError(f"max_run_s must be > 0 s, got {max_run_s!r}")
        if int(max_parallel_runs) != max_parallel_runs or max_parallel_runs < 1:
            raise ValueError(f"max_parallel_runs must be an integer >= 1, got {max_parallel_runs!r}")
        self.reader = reader
        self.writeback = writeback
        self.clock_ms = clock_ms
        self.progress_interval_s = float(progress_interval_s)
        self.flush_timeout_s = float(flush_timeout_s)
        self.cooldown_s = float(cooldown_s)
        self.max_run_s = float(max_run_s)
        self.max_parallel_runs = int(max_parallel_runs)
        self.monotonic = monotonic
        self.problem_factory = problem_factory
        self._jobs: dict[str, PlacementJob] = {}
        self._lock = threading.Lock()

    # --- public --------------------------------------------------------------------------------------
    def start(self, asset_id: str, attributes: Mapping[str, Any] | None = None) -> PlacementJob:
        """Start a run for ``asset_id`` (its attributes are read over REST unless given). Bad input ends
        the job at once with status ``error``. Raises :class:`PlacementRefused` (nothing started) while a
        run of this field is under way, within ``cooldown_s`` of the end of its last run, or while
        ``max_parallel_runs`` runs are under way."""
        with self._lock:
            self._check_admission(asset_id)
            job = PlacementJob(asset_id, int(self.clock_ms()))
            job.thread = threading.Thread(target=self._run, args=(job, attributes),
                                          name=f"placement-{asset_id[:8]}", daemon=True)
            job.thread.start()
            self._jobs[asset_id] = job
        return job

    def stop(self, asset_id: str, reason: str = "stop requested (placement_stop_requested)") -> bool:
        """Ask the running job of ``asset_id`` to stop at its next generation; False when none runs."""
        with self._lock:
            job = self._jobs.get(asset_id)
        if job is None or job.status != "running":
            return False
        if job.stop_reason is None:
            job.stop_reason = reason
        job.stop_event.set()
        return True

    def job(self, asset_id: str) -> PlacementJob | None:
        with self._lock:
            return self._jobs.get(asset_id)

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """Stop every running job and wait for them (service shutdown)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.status == "running" and job.stop_reason is None:
                job.stop_reason = "the service is stopping"
            job.stop_event.set()
        for job in jobs:
            job.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the running jobs (their best plans so far are written), then close the writeback."""
        self.stop_all(timeout_s)
        self.writeback.close()
        close = getattr(self.problem_factory, "close", None)
        if close is not None:
            close()

    def on_asset_event(self, event: WellEvent) -> None:
        """Router hook for attribute updates of assets (see :func:`tb_bridge.router.is_asset_event`)."""
        if event.kind is EventKind.TELEMETRY:
            return
        values = event.values
        if _truthy(values.get(STOP_KEY)):
            self.stop(event.well_id)
        if _truthy(values.get(RUN_KEY)):
            try:
                self.start(event.well_id)
            except PlacementRefused as exc:
                log.warning("placement run request for asset %s refused: %s", event.well_id, exc)
                try:
                    self._write(event.well_id, {"opt_placement_refused": str(exc)})
                except Exception:
                    log.exception("could not report the refused placement request of asset %s", event.well_id)

    # --- rationing -----------------------------------------------------------------------------------
    def _check_admission(self, asset_id: str) -> None:
        """Raise :class:`PlacementRefused` unless a run of ``asset_id`` may start now (lock held)."""
        last = self._jobs.get(asset_id)
        if last is not None and last.status == "running":
            raise PlacementRefused(
                f"a placement run of this field is already running (started {_utc_iso(last.started_ms)}); "
                f"request again after it ends and the {self.cooldown_s:g} s cooldown (placement.cooldown_s) "
                f"has passed, or set placement_stop_requested to stop it")
        if last is not None and last.case_accepted and last.ended_s is not None:
            wait_s = last.ended_s + self.cooldown_s - self.monotonic()
            if wait_s > 0:
                retry_ms = self.clock_ms() + wait_s * 1000.0
                raise PlacementRefused(
                    f"runs of one field are at least {self.cooldown_s:g} s apart (placement.cooldown_s): retry in "
                    f"{math.ceil(wait_s)} s, at {_utc_iso(math.ceil(retry_ms / 1000.0) * 1000.0)} or later", wait_s)
        running = sum(1 for j in self._jobs.values() if j.status == "running")
        if running >= self.max_parallel_runs:
            raise PlacementRefused(
                f"{running} placement runs of other fields are under way, the most at a time "
                f"(placement.max_parallel_runs = {self.max_parallel_runs}); retry when one of them ends")

    # --- the run -------------------------------------------------------------------------------------
    def _write(self, asset_id: str, attributes: Mapping[str, Any]) -> None:
        self.writeback.write_attributes(asset_id, check_attributes(attributes), scope="SERVER_SCOPE")

    def _end(self, job: PlacementJob, status: str) -> None:
        """Mark ``job`` ended (its end time first, so the cooldown holds from the moment it stops running)."""
        now_s = self.monotonic()
        with self._lock:
            job.ended_s = now_s
            job.status = status

    def _run(self, job: PlacementJob, attributes: Mapping[str, Any] | None) -> None:
        from engines.reservoir.planner import run_placement

        asset_id = job.asset_id
        deadline_s = self.monotonic() + self.max_run_s
        try:
            attrs = dict(attributes) if attributes is not None else self.reader.asset_attributes(asset_id)
            case, seed = case_from_attributes(attrs)
            job.seed = seed
            job.case_accepted = True
            self._write(asset_id, {"opt_placement_status": "running", "opt_error": "", "opt_placement_refused": "",
                                   "opt_placement_stop_reason": ""})
            layers = case.wells.completed_layers
            self._write(asset_id, placement_map_attributes(case.reservoir, layers[0] if layers else 0))
            history: list[float] = []
            last = [time.monotonic()]

            def progress(generation: int, best_npv_usd: float, mean_npv_usd: float) -> None:
                job.generations_done = generation
                history.append(best_npv_usd / 1e6)
                now = time.monotonic()
                if now - last[0] >= self.progress_interval_s:
                    last[0] = now
                    self._write(asset_id, {"opt_placement_status": "running",
                                           "opt_placement_convergence": list(history)})

            stop = _RunStop(job, deadline_s, self.max_run_s, self.monotonic, case.optimizer.n_generations)
            problem = self.problem_factory(case) if self.problem_factory is not None else None
            result = run_placement(case, seed, progress_callback=progress, stop_event=stop, problem=problem)
            job.result = result
            status = "stopped" if result.stopped or stop.fired else "done"
            self.writeback.write_timeseries(
                asset_id, [(ts, check_attributes(v, "timeseries")) for ts, v in placement_profile_points(result, job.started_ms)])
            self._write(asset_id, {**placement_attributes(result), "opt_placement_status": status,
                                   "opt_placement_stop_reason": (job.stop_reason or "") if status == "stopped" else ""})
            self._end(job, status)
            log.info("placement run for asset %s %s%s: %d wells, NPV %.3f M$", asset_id, status,
                     f" ({job.stop_reason})" if status == "stopped" else "", result.well_count, result.npv_usd / 1e6)
        except Exception as exc:  # bad input or a bug: the asset says so, the service keeps running
            job.error = str(exc) if isinstance(exc, PlacementInputError) else f"{type(exc).__name__}: {exc}"
            self._end(job, "error")
            if not isinstance(exc, PlacementInputError):
                log.exception("placement run for asset %s failed", asset_id)
            else:
                log.warning("placement run for asset %s refused: %s", asset_id, job.error)
            try:
                self._write(asset_id, {"opt_placement_status": "error", "opt_error": job.error[:1000],
                                       "opt_placement_refused": ""})
            except Exception:
                log.exception("could not report the placement error of asset %s", asset_id)
        finally:
            try:
                self.writeback.flush(timeout_s=self.flush_timeout_s)
            except TypeError:  # a writeback whose flush takes no timeout
                self.writeback.flush()
            except Exception:
                log.exception("flushing the placement results of asset %s failed", asset_id)


def build_placement_jobs(settings: Any) -> PlacementJobs:
    """Placement jobs for the configured ThingsBoard (REST reader, REST writeback addressing assets)."""
    from tb_bridge.writeback.rest import RestWriteback

    tb = settings.tb
    password = tb.password.get_secret_value()
    writeback = RestWriteback(tb.url, tb.username, password, entity_type="ASSET", timeout_s=tb.request_timeout_s)
    limits = settings.placement
    problems = None
    if settings.dask.scheduler_address:  # each generation's plans on the Dask cluster
        from tb_bridge.dask_executor import DaskPlacementProblems, DaskTierExecutor

        problems = DaskPlacementProblems(DaskTierExecutor(settings.dask))
    return PlacementJobs(RestAttributeReader(tb.url, tb.username, password, timeout_s=tb.request_timeout_s), writeback,
                         cooldown_s=limits.cooldown_s, max_run_s=limits.max_run_s,
                         max_parallel_runs=limits.max_parallel_runs, problem_factory=problems)
