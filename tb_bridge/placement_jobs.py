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
service's machine.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
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
    """One run for one asset. ``status``: running | done | stopped | error."""

    asset_id: str
    started_ms: int
    stop_event: threading.Event = field(default_factory=threading.Event)
    status: str = "running"
    error: str | None = None
    result: Any = None
    seed: int | None = None
    thread: threading.Thread | None = None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the run ended; True when it did."""
        if self.thread is None:
            return True
        self.thread.join(timeout_s)
        return not self.thread.is_alive()


class PlacementJobs:
    """Starts, tracks and stops placement runs, one at a time per asset.

    ``reader`` reads the asset's attributes (REST); ``writeback`` writes the results (it must address
    ASSET entities). ``clock_ms`` stamps the profile. Use :meth:`on_asset_event` as the router's asset
    hook: an attribute update with ``placement_run_requested`` true starts a run, one with
    ``placement_stop_requested`` true stops it."""

    def __init__(self, reader: AttributeReader, writeback: Writeback, *,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 progress_interval_s: float = 1.0, flush_timeout_s: float = 30.0) -> None:
        self.reader = reader
        self.writeback = writeback
        self.clock_ms = clock_ms
        self.progress_interval_s = float(progress_interval_s)
        self.flush_timeout_s = float(flush_timeout_s)
        self._jobs: dict[str, PlacementJob] = {}
        self._lock = threading.Lock()

    # --- public --------------------------------------------------------------------------------------
    def start(self, asset_id: str, attributes: Mapping[str, Any] | None = None) -> PlacementJob:
        """Start a run for ``asset_id`` (its attributes are read over REST unless given); the running job
        when one is already under way. Bad input ends the job at once with status ``error``."""
        with self._lock:
            running = self._jobs.get(asset_id)
            if running is not None and running.status == "running":
                log.info("placement run for asset %s already running; request ignored", asset_id)
                return running
            job = PlacementJob(asset_id, int(self.clock_ms()))
            job.thread = threading.Thread(target=self._run, args=(job, attributes),
                                          name=f"placement-{asset_id[:8]}", daemon=True)
            job.thread.start()
            self._jobs[asset_id] = job
        return job

    def stop(self, asset_id: str) -> bool:
        """Ask the running job of ``asset_id`` to stop at its next generation; False when none runs."""
        with self._lock:
            job = self._jobs.get(asset_id)
        if job is None or job.status != "running":
            return False
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
            job.stop_event.set()
        for job in jobs:
            job.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the running jobs (their best plans so far are written), then close the writeback."""
        self.stop_all(timeout_s)
        self.writeback.close()

    def on_asset_event(self, event: WellEvent) -> None:
        """Router hook for attribute updates of assets (see :func:`tb_bridge.router.is_asset_event`)."""
        if event.kind is EventKind.TELEMETRY:
            return
        values = event.values
        if _truthy(values.get(STOP_KEY)):
            self.stop(event.well_id)
        if _truthy(values.get(RUN_KEY)):
            self.start(event.well_id)

    # --- the run -------------------------------------------------------------------------------------
    def _write(self, asset_id: str, attributes: Mapping[str, Any]) -> None:
        self.writeback.write_attributes(asset_id, check_attributes(attributes), scope="SERVER_SCOPE")

    def _run(self, job: PlacementJob, attributes: Mapping[str, Any] | None) -> None:
        from engines.reservoir.planner import run_placement

        asset_id = job.asset_id
        try:
            self._write(asset_id, {"opt_placement_status": "running", "opt_error": ""})
            attrs = dict(attributes) if attributes is not None else self.reader.asset_attributes(asset_id)
            case, seed = case_from_attributes(attrs)
            job.seed = seed
            layers = case.wells.completed_layers
            self._write(asset_id, placement_map_attributes(case.reservoir, layers[0] if layers else 0))
            history: list[float] = []
            last = [time.monotonic()]

            def progress(generation: int, best_npv_usd: float, mean_npv_usd: float) -> None:
                history.append(best_npv_usd / 1e6)
                now = time.monotonic()
                if now - last[0] >= self.progress_interval_s:
                    last[0] = now
                    self._write(asset_id, {"opt_placement_status": "running",
                                           "opt_placement_convergence": list(history)})

            result = run_placement(case, seed, progress_callback=progress, stop_event=job.stop_event)
            job.result = result
            job.status = "stopped" if result.stopped else "done"
            self.writeback.write_timeseries(
                asset_id, [(ts, check_attributes(v, "timeseries")) for ts, v in placement_profile_points(result, job.started_ms)])
            self._write(asset_id, {**placement_attributes(result), "opt_placement_status": job.status})
            log.info("placement run for asset %s %s: %d wells, NPV %.3f M$", asset_id, job.status,
                     result.well_count, result.npv_usd / 1e6)
        except Exception as exc:  # bad input or a bug: the asset says so, the service keeps running
            job.status = "error"
            job.error = str(exc) if isinstance(exc, PlacementInputError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, PlacementInputError):
                log.exception("placement run for asset %s failed", asset_id)
            else:
                log.warning("placement run for asset %s refused: %s", asset_id, job.error)
            try:
                self._write(asset_id, {"opt_placement_status": "error", "opt_error": job.error[:1000]})
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
    return PlacementJobs(RestAttributeReader(tb.url, tb.username, password, timeout_s=tb.request_timeout_s), writeback)
