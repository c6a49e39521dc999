"""Batch tiers on a Dask cluster (settings ``dask.*``; issue 23, item 3).

With ``dask.scheduler_address`` set, two kinds of batch work leave the service process:

- **The hourly tier** (nodal analysis, lift optimizer, gas-lift valve, rod-pump card, PCP elastomer life, Pareto
  front: every per-well step of every lift type). The service reads each well's buffer window (Redis or the
  in-process buffer) and sends, in tasks of ``dask.chunk_wells`` wells, only picklable inputs: the well's
  configuration, its window, its latest text telemetry and the part of its per-well ``state`` the hourly steps read
  (:data:`STATE_READ`). A worker (:func:`run_well_steps`) runs the handler's steps and returns each step's outcome (a
  ``StepOutput`` or the exception it raised) and the well's state after the steps. The service merges that state
  back into ``Service._well_state`` and finishes each well exactly as the in-process path does
  (``Service._run_well_isolated`` with the outcomes as precomputed steps: attributes, status, writeback, alarms,
  the setpoint safety layer and approval, the run record). Workers need no Redis, PostgreSQL or ThingsBoard.
  Field steps (gas allocation, the field's Pareto weights) run afterwards in the service, as before.
- **Placement plan evaluations** (:class:`DaskPlanSimulator`): each generation's plans that the genetic algorithm
  asks the simulator for (``PlacementProblem.simulate_npv`` -> ``simulator.run(masks)``) go to the cluster in chunks
  of plans, one OPM Flow process per plan (or one built-in batched simulation per chunk) on the workers; the
  economics, the cache and the GA stay in the service. Built-in batches too small to pay for the round trip
  (:data:`BUILTIN_MIN_REMOTE_CELL_STEPS`) stay here.

Nothing is lost when the cluster is not there: an unreachable scheduler, a task that fails, or results later than
``dask.timeout_s`` after the tier started (seconds) make those wells (or plans) run in this process, with one log
line. Without ``scheduler_address`` none of this is used (the in-process executor).
"""
from __future__ import annotations

import asyncio
import logging
import math
import pickle
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from tb_bridge.buffer.base import BufferWindow
from tb_bridge.handlers.base import StepOutput, Tier, WellContext
from tb_bridge.handlers.registry import handler_for
from tb_bridge.wells.model import WellConfig

if TYPE_CHECKING:  # pragma: no cover
    from tb_bridge.config import DaskSettings
    from tb_bridge.service import Service

log = logging.getLogger(__name__)

#: Tiers whose per-well steps go to the cluster (the others read ThingsBoard history, the history store or the
#: model store, which workers do not have).
DASK_TIERS: tuple[Tier, ...] = ("hourly",)
#: The per-well state keys the hourly steps read (``tb_bridge.handlers``: nodal_step's cached natural and lifted
#: answers, pcp_elastomer_history_step's damage, pareto_step's last setpoint change); only these are sent.
STATE_READ: tuple[str, ...] = ("nodal", "nodal_lifted", "pcp_elastomer", "setpoint_control")
#: Keys the service owns while a tier runs elsewhere (setpoint approvals arrive meanwhile): read by the steps,
#: never merged back from a worker.
STATE_SERVICE_OWNED: tuple[str, ...] = ("setpoint_control",)


@dataclass(frozen=True)
class WellTask:
    """One well's picklable input for :func:`run_well_steps`."""

    config: WellConfig
    window: BufferWindow
    latest_text: dict[str, Any]
    state: dict[str, Any]


@dataclass(frozen=True)
class WellResult:
    """One well's answer from a worker: ``outcomes`` by step name (``StepOutput`` or the exception the step
    raised), ``state`` the keys to set in the well's state, ``removed`` the keys the steps deleted."""

    entity_id: str
    outcomes: dict[str, StepOutput | Exception]
    state: dict[str, Any]
    removed: tuple[str, ...] = ()


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (a log line per fallback)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _round_trips(exc: Exception) -> bool:
    """The exception survives pickling as the same type and message (what ``LiftHandler.run`` reports)."""
    try:
        back = pickle.loads(pickle.dumps(exc))
    except Exception:
        return False
    return type(back) is type(exc) and str(back) == str(exc)


def run_well_steps(tier: Tier, now_ms: int, interval_s: int, window_s: int,
                   tasks: Sequence[WellTask]) -> list[WellResult | None]:
    """Worker side: the tier's steps for each well of ``tasks`` (batch steps first over each lift type's wells, as
    ``Service._run_chunk`` does). ``None`` for a well whose outcome would not survive the trip back (an exception
    that does not pickle): the service runs that well itself."""
    contexts = [WellContext(config=t.config, window=t.window, now_ms=now_ms, tier=tier, interval_s=interval_s,
                            window_s=window_s, latest_text=dict(t.latest_text), state=dict(t.state)) for t in tasks]
    batched: dict[str, dict[str, StepOutput | Exception]] = {}
    by_type: dict[str, list[WellContext]] = {}
    for context in contexts:
        by_type.setdefault(context.config.lift_type, []).append(context)
    for lift_type, group in by_type.items():
        if handler_for(lift_type).batch_steps(tier):
            batched.update(handler_for(lift_type).run_batch(group))
    results: list[WellResult | None] = []
    for task, context in zip(tasks, contexts):
        entity_id = context.config.entity_id
        outcomes: dict[str, StepOutput | Exception] = dict(batched.get(entity_id, {}))
        for step in handler_for(context.config.lift_type).steps(tier):
            name = getattr(step, "__name__", str(step))
            if name not in outcomes:
                try:
                    outcomes[name] = step(context)
                except Exception as exc:  # reported by LiftHandler.run in the service, as in-process
                    outcomes[name] = exc
        if not all(_round_trips(o) for o in outcomes.values() if isinstance(o, Exception)):
            results.append(None)
            continue
        state = {k: v for k, v in context.state.items() if k not in STATE_SERVICE_OWNED}
        removed = tuple(k for k in task.state if k not in context.state and k not in STATE_SERVICE_OWNED)
        results.append(WellResult(entity_id, outcomes, state, removed))
    return results


def _step_names_unique(tier: Tier, wells: Sequence[WellConfig]) -> bool:
    """Outcomes travel by step name: a handler with two steps of one name at ``tier`` runs in-process."""
    for lift_type in {w.lift_type for w in wells}:
        names = [getattr(s, "__name__", str(s)) for s in handler_for(lift_type).steps(tier)]
        if len(set(names)) != len(names):
            return False
    return True


@dataclass
class _Part:
    indices: list[int]
    future: Any = None


@dataclass
class _Submitted:
    contexts: list[WellContext | None]
    parts: list[_Part] = field(default_factory=list)


class DaskTierExecutor:
    """The service's link to the Dask cluster (one ``distributed.Client``, made at the first tier run that needs it
    and again after it is lost). ``counts``: wells run on the cluster (``remote_wells``) and in this process after a
    fallback (``fallback_wells``), since start."""

    #: Longest wait for the scheduler when connecting [s].
    CONNECT_TIMEOUT_S = 10.0

    def __init__(self, settings: "DaskSettings", connect_timeout_s: float | None = None) -> None:
        if not settings.scheduler_address:
            raise ValueError("dask.scheduler_address is not set")
        self.settings = settings
        self.connect_timeout_s = float(connect_timeout_s if connect_timeout_s is not None else self.CONNECT_TIMEOUT_S)
        self.counts = {"remote_wells": 0, "fallback_wells": 0}
        self._client: Any = None
        self._lock = threading.Lock()

    # -- connection -----------------------------------------------------------------------------
    def client(self) -> Any:
        """The connected client, or None when the scheduler cannot be reached (logged, one line)."""
        from distributed import Client

        with self._lock:
            if self._client is not None and self._client.status == "running":
                return self._client
            if self._client is not None:
                self._close_client()
            try:
                self._client = Client(self.settings.scheduler_address, timeout=self.connect_timeout_s,
                                      set_as_default=False)
            except Exception as exc:
                log.warning("Dask scheduler %s unreachable (%s); running in this process",
                            self.settings.scheduler_address, _one_line(exc))
                self._client = None
            return self._client

    def _close_client(self) -> None:
        try:
            self._client.close()
        except Exception:
            log.debug("closing the Dask client failed", exc_info=True)
        self._client = None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._close_client()

    # -- tiers ----------------------------------------------------------------------------------
    def chunk_runner(self, service: "Service", tier: Tier, wells: Sequence[WellConfig],
                     now_ms: int) -> Callable[..., list[tuple[list[str], dict[str, Any]]]]:
        """What ``Service.run_tier`` calls per chunk of ``wells``: for a Dask tier with the cluster reachable, a
        runner that sends each chunk (and the next one ahead) to the cluster; otherwise ``service._run_chunk``."""
        if tier not in DASK_TIERS or not wells or not _step_names_unique(tier, wells):
            return service._run_chunk
        client = self.client()
        if client is None:
            self.counts["fallback_wells"] += len(wells)
            return service._run_chunk
        return _TierRun(self, client, service, tier, wells, now_ms)


class _TierRun:
    """One tier run on the cluster: chunk by chunk as ``Service.run_tier`` asks for them, the next planned chunk
    submitted before the current one is finished (so the cluster computes while the service writes back)."""

    def __init__(self, executor: DaskTierExecutor, client: Any, service: "Service", tier: Tier,
                 wells: Sequence[WellConfig], now_ms: int) -> None:
        self.executor, self.client, self.service, self.tier, self.now_ms = executor, client, service, tier, now_ms
        self.settings = executor.settings
        self.deadline = time.monotonic() + float(self.settings.timeout_s)
        planned = service._tier_chunks(wells)
        self.plan = [tuple(w.entity_id for w in chunk) for chunk in planned]
        self.chunks = dict(zip(self.plan, planned))
        self.submitted: dict[tuple[str, ...], _Submitted] = {}
        try:
            self.workers = sorted(client.scheduler_info()["workers"])
        except Exception:
            self.workers = []

    def _worker_for(self, entity_id: str) -> list[str] | None:
        """The worker a task of wells starting with ``entity_id`` prefers, the same every hour while the cluster
        keeps its workers: its process-wide cache of configuration-only curves (the lift optimizer's) stays warm."""
        if not self.workers:
            return None
        return [self.workers[zlib.crc32(entity_id.encode()) % len(self.workers)]]

    def __call__(self, tier: Tier, chunk: Sequence[WellConfig], now_ms: int,
                 pool: Any) -> list[tuple[list[str], dict[str, Any]]]:
        key = tuple(w.entity_id for w in chunk)
        submitted = self.submitted.pop(key, None) or self._submit(chunk, pool)
        if key in self.plan:  # the next chunk goes out before this one is finished
            nxt = self.plan.index(key) + 1
            if nxt < len(self.plan) and self.plan[nxt] not in self.submitted:
                self.submitted[self.plan[nxt]] = self._submit(self.chunks[self.plan[nxt]], pool)
        return self._finish(chunk, submitted, pool)

    def _submit(self, chunk: Sequence[WellConfig], pool: Any) -> _Submitted:
        service = self.service
        mapper = pool.map if pool is not None else map

        def context_of(well: WellConfig) -> WellContext | None:
            try:
                return service._well_context(self.tier, well, self.now_ms)
            except Exception:  # e.g. the buffer is unreachable: the in-process path reports it for this well
                return None

        contexts = list(mapper(context_of, chunk))
        submitted = _Submitted(contexts)
        ready = [i for i, c in enumerate(contexts) if c is not None]
        size = int(self.settings.chunk_wells)
        settings = service.settings
        for start in range(0, len(ready), size):
            part = _Part(ready[start:start + size])
            tasks = [WellTask(contexts[i].config, contexts[i].window, dict(contexts[i].latest_text),
                              {k: contexts[i].state[k] for k in STATE_READ if k in contexts[i].state})
                     for i in part.indices]
            try:
                part.future = self.client.submit(run_well_steps, self.tier, self.now_ms,
                                                 settings.scheduler.fast_interval_s, settings.limits.buffer_window_s,
                                                 tasks, pure=False, workers=self._worker_for(tasks[0].config.entity_id),
                                                 allow_other_workers=True)
            except Exception as exc:
                log.warning("Dask submit of %d %s wells failed (%s); they run in this process",
                            len(tasks), self.tier, _one_line(exc))
            submitted.parts.append(part)
        return submitted

    def _finish(self, chunk: Sequence[WellConfig], submitted: _Submitted,
                pool: Any) -> list[tuple[list[str], dict[str, Any]]]:
        service = self.service
        remote: dict[int, WellResult] = {}
        for part in submitted.parts:
            if part.future is None:
                continue
            try:
                results = part.future.result(timeout=max(0.0, self.deadline - time.monotonic()))
            except (Exception, asyncio.CancelledError) as exc:  # failed, timed out (dask.timeout_s), cluster gone
                reason = "timed out" if isinstance(exc, TimeoutError) else f"failed ({_one_line(exc)})"
                log.warning("Dask task of %d %s wells %s; they run in this process", len(part.indices), self.tier,
                            reason)
                try:
                    part.future.cancel()
                except Exception:
                    pass
                continue
            for i, result in zip(part.indices, results):
                if result is not None and result.entity_id == chunk[i].entity_id:
                    remote[i] = result
        local = [i for i in range(len(chunk)) if i not in remote]
        outcomes: list[Any] = [None] * len(chunk)
        if local:  # the in-process path, batch steps and all, for the wells the cluster did not answer
            for i, outcome in zip(local, service._run_chunk(self.tier, [chunk[i] for i in local], self.now_ms, pool)):
                outcomes[i] = outcome
        self.executor.counts["remote_wells"] += len(remote)
        self.executor.counts["fallback_wells"] += len(local)

        def finish(i: int):
            result, context = remote[i], submitted.contexts[i]
            state = context.state  # the well's state the service keeps (Service._well_context gave it)
            for k in result.removed:
                state.pop(k, None)
            state.update(result.state)
            return service._run_well_isolated(self.tier, chunk[i], self.now_ms, (context, result.outcomes))

        mapper = pool.map if pool is not None else map
        for i, outcome in zip(sorted(remote), mapper(finish, sorted(remote))):
            outcomes[i] = outcome
        return outcomes


# -- placement ------------------------------------------------------------------------------------
def simulate_plans(simulator: Any, masks: np.ndarray, run_kwargs: Mapping[str, Any]) -> Any:
    """Worker side: ``simulator.run(masks, **run_kwargs)`` (a ``SimulationResult``)."""
    return simulator.run(masks, **dict(run_kwargs))


def concatenate_results(results: Sequence[Any]) -> Any:
    """One ``SimulationResult`` of plan chunks' results, in order: per-plan arrays stacked, ``newton_iterations``
    (per step, the most any plan needed) the elementwise maximum."""
    from engines.reservoir.simulator import SimulationResult

    if len(results) == 1:
        return results[0]
    first = results[0]

    def stack(name: str):
        arrays = [getattr(r, name) for r in results]
        return None if any(a is None for a in arrays) else np.concatenate(arrays, axis=0)

    return SimulationResult(
        time_days=first.time_days, oil_rate_stb_d=stack("oil_rate_stb_d"),
        cumulative_oil_stb=stack("cumulative_oil_stb"),
        average_pressure_psi=stack("average_pressure_psi"), material_balance_error=stack("material_balance_error"),
        newton_iterations=np.max(np.stack([np.asarray(r.newton_iterations) for r in results]), axis=0),
        final_pressure_psi=stack("final_pressure_psi"), well_rates_stb_d=stack("well_rates_stb_d"),
        pressure_psi=stack("pressure_psi"))


class DaskPlanSimulator:
    """A placement simulator (``run(masks) -> SimulationResult``, as ``PlacementProblem`` uses it) whose batches of
    plans go to a Dask cluster in chunks of ``plans_per_task`` (default: the batch split evenly over the cluster's
    worker threads). ``simulator`` (``FlowBatchSimulator`` for OPM Flow, or the built-in ``BatchSimulator``) must
    pickle; it is sent to the cluster once. A chunk that fails, or is not back within ``timeout_s`` of the batch's
    start (seconds), is simulated here by ``simulator`` itself (one log line). A batch of fewer than
    ``min_remote_cell_steps`` plan x cell x time-step products is simulated here as well (cheaper than the round trip).
    ``counts``: plans simulated on the cluster and here (a dict given by the caller, e.g. shared by a service's runs,
    or a new one)."""

    def __init__(self, simulator: Any, client: Any, *, plans_per_task: int | None = None,
                 timeout_s: float = 600.0, counts: dict[str, int] | None = None,
                 min_remote_cell_steps: int = 0) -> None:
        if plans_per_task is not None and plans_per_task < 1:
            raise ValueError("plans_per_task must be >= 1")
        self.simulator = simulator
        self.client = client
        self.plans_per_task = plans_per_task
        self.timeout_s = float(timeout_s)
        self.reservoir = simulator.reservoir
        self.dt_days = simulator.dt_days
        self.counts = counts if counts is not None else {"remote_plans": 0, "local_plans": 0}
        self.min_remote_cell_steps = int(min_remote_cell_steps)
        self._remote_simulator: Any = None

    def __getattr__(self, name: str) -> Any:  # design, linear_solver, ...: the wrapped simulator's
        if name == "simulator":
            raise AttributeError(name)
        return getattr(self.simulator, name)

    def _chunk_size(self, n: int) -> int:
        if self.plans_per_task is not None:
            return int(self.plans_per_task)
        try:
            threads = max(1, sum(self.client.nthreads().values()))
        except Exception:
            threads = 1
        return max(1, math.ceil(n / threads))

    def run(self, masks: np.ndarray, **run_kwargs: Any) -> Any:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        if masks.shape[0] * self.reservoir.n_cells * len(self.dt_days) < self.min_remote_cell_steps:
            self.counts["local_plans"] += masks.shape[0]
            return self.simulator.run(masks, **run_kwargs)
        deadline = time.monotonic() + self.timeout_s
        size = self._chunk_size(masks.shape[0])
        chunks = [masks[s:s + size] for s in range(0, masks.shape[0], size)]
        futures: list[Any] = [None] * len(chunks)
        try:
            if self._remote_simulator is None:
                self._remote_simulator = self.client.scatter(self.simulator, hash=False)
            futures = [self.client.submit(simulate_plans, self._remote_simulator, chunk, run_kwargs, pure=False)
                       for chunk in chunks]
        except Exception as exc:
            log.warning("Dask submit of %d placement plans failed (%s); simulating them in this process",
                        masks.shape[0], _one_line(exc))
        results = []
        for chunk, future in zip(chunks, futures):
            result = None
            if future is not None:
                try:
                    result = future.result(timeout=max(0.0, deadline - time.monotonic()))
                    self.counts["remote_plans"] += chunk.shape[0]
                except (Exception, asyncio.CancelledError) as exc:
                    reason = "timed out" if isinstance(exc, TimeoutError) else f"failed ({_one_line(exc)})"
                    log.warning("Dask task of %d placement plans %s; simulating them in this process",
                                chunk.shape[0], reason)
                    try:
                        future.cancel()
                    except Exception:
                        pass
            if result is None:
                result = self.simulator.run(chunk, **run_kwargs)
                self.counts["local_plans"] += chunk.shape[0]
            results.append(result)
        return concatenate_results(results)


#: Batches of the built-in simulator smaller than this (plans x cells x time steps) stay in the service process: the
#: compiled kernel simulates thesis_5x5's generation (50 x 25 x 24 = 30,000) in ~17 ms, less than a Dask round trip,
#: channel_20x20's (40 x 400 x 24 = 384,000) in ~430 ms (bench/bench_dask.py, docs/benchmarks.md).
BUILTIN_MIN_REMOTE_CELL_STEPS = 100_000


class DaskPlacementProblems:
    """``case -> PlacementProblem`` (``PlacementJobs(problem_factory=...)``, what ``build_placement_jobs`` wires) whose
    simulator runs on the cluster (:class:`DaskPlanSimulator`); the plain in-process problem when the scheduler cannot
    be reached. ``backend`` and ``simulator_kwargs``: as ``engines.reservoir.planner.build_problem`` (``"opm"``: one
    OPM Flow process per plan, on the workers, which then need ``flow``). ``plans_per_task``: plans per Dask task
    (default: each batch split evenly over the cluster's worker threads). ``min_remote_cell_steps``: smaller batches
    stay here (default :data:`BUILTIN_MIN_REMOTE_CELL_STEPS` for the built-in simulator, 0 for OPM Flow). ``counts``:
    plans simulated on the cluster and here over every run."""

    def __init__(self, executor: DaskTierExecutor, backend: str = "builtin", plans_per_task: int | None = None,
                 min_remote_cell_steps: int | None = None, **simulator_kwargs: Any) -> None:
        self.executor = executor
        self.backend = backend
        self.plans_per_task = plans_per_task
        self.min_remote_cell_steps = (int(min_remote_cell_steps) if min_remote_cell_steps is not None
                                      else 0 if backend == "opm" else BUILTIN_MIN_REMOTE_CELL_STEPS)
        self.simulator_kwargs = simulator_kwargs
        self.counts = {"remote_plans": 0, "local_plans": 0}

    def __call__(self, case: Any) -> Any:
        from engines.reservoir.planner import build_problem
        from engines.reservoir.problem import PlacementProblem

        problem = build_problem(case, backend=self.backend, **self.simulator_kwargs)
        client = self.executor.client()
        if client is None:
            return problem
        simulator = DaskPlanSimulator(problem.simulator, client, plans_per_task=self.plans_per_task,
                                      timeout_s=self.executor.settings.timeout_s, counts=self.counts,
                                      min_remote_cell_steps=self.min_remote_cell_steps)
        return PlacementProblem(simulator, problem.economics, problem.constraints)

    def close(self) -> None:
        self.executor.close()


def placement_problem_factory(executor: DaskTierExecutor, backend: str = "builtin",
                              **simulator_kwargs: Any) -> DaskPlacementProblems:
    """Shorthand for :class:`DaskPlacementProblems`."""
    return DaskPlacementProblems(executor, backend, **simulator_kwargs)
