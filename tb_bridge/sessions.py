"""Interactive what-if simulation sessions: the interface the router hands ``sim_param_*`` updates to.

A dashboard slider writes ``sim_param_<name>`` server attributes; ThingsBoard emits ATTRIBUTES_UPDATED;
the router passes the parameters here. This module opens (or updates) the well's session, records it in
the history store with the original and modified parameters, and writes ``sim_session_id``,
``sim_status`` and ``sim_original_<name>`` back so the dashboard's parameter table fills in.

With a simulator (:class:`WhatIfSimulator`, what the service uses) each change is also simulated, off the
router's thread: ``sim_status`` goes ``running`` -> ``done`` (or ``error`` with ``sim_error``), the comparison
cards get ``sim_compare_q_bpd`` / ``sim_compare_oil_bpd`` / ``sim_compare_pwf_psi`` (modified minus configured
well, same lift setpoint, named in ``sim_basis``), and the 12-hour projection ``sim_q_bpd`` / ``sim_pwf_psi``
is written as time series (:mod:`tb_bridge.adapters.whatif`). Successive slider moves of one well that
arrive while it is being simulated are merged: only the newest parameters are simulated and written.
Simulated data is kept apart: nothing here touches the telemetry buffer or the baselines.
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from tb_bridge.wells.registry import WellRegistry

log = logging.getLogger(__name__)

SIM_PARAM_PREFIX = "sim_param_"


class SimulationSessions(Protocol):
    """Receives what-if parameter changes for a well."""

    def on_parameters(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> None:
        """``parameters`` maps parameter names (prefix stripped) to requested values."""


class SessionStore(Protocol):
    def save_session(self, well_id: str, original_params: Any, **fields: Any) -> Any: ...
    def update_session(self, session_id: str, **fields: Any) -> Any: ...
    def dead_letter(self, source: str, payload: Any, error: str, well_id: str | None = None) -> Any: ...


@dataclass
class _OpenSession:
    session_id: str
    original: dict[str, Any]
    modified: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Request:
    session_id: str
    parameters: dict[str, Any]
    ts_ms: int


class WhatIfSimulator:
    """Simulates what-if requests on one worker thread and writes the results.

    ``latest_telemetry(well_id)`` gives the well's latest telemetry values (for the lift setpoint);
    ``write_timeseries(well_id, points)`` receives the projection; ``horizon_h`` and ``interval_s`` shape it."""

    def __init__(self, latest_telemetry: Callable[[str], Mapping[str, Any]],
                 write_timeseries: Callable[[str, Sequence[tuple[int, Mapping[str, Any]]]], None], *,
                 horizon_h: float = 12.0, interval_s: int = 300, max_cached_wells: int = 256) -> None:
        from tb_bridge.adapters.lift import LiftCache

        self.latest_telemetry = latest_telemetry
        self.write_timeseries = write_timeseries
        self.horizon_h = float(horizon_h)
        self.interval_s = int(interval_s)
        self.cache = LiftCache(max_entries=max_cached_wells)


class RecordingSimulationSessions:
    """Opens one session per well, merges successive slider moves into it, and records it.

    ``write_attributes(well_id, attributes)`` is the writeback; ``store`` the history store; ``simulator``
    (optional) simulates every change (module docstring); without it a change is only recorded
    (``sim_status`` ``received``)."""

    def __init__(self, registry: WellRegistry, store: SessionStore | None,
                 write_attributes: Callable[[str, Mapping[str, Any]], None],
                 simulator: WhatIfSimulator | None = None) -> None:
        self._registry = registry
        self._store = store
        self._write = write_attributes
        self._simulator = simulator
        self._open: dict[str, _OpenSession] = {}
        self._lock = threading.Lock()
        self._pending: dict[str, _Request] = {}  # newest request per well, waiting for the worker
        self._busy = 0
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._worker: threading.Thread | None = None

    def on_parameters(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> None:
        if self._simulator is not None and self._refuse_unknown(well_id, parameters, ts_ms):
            return
        with self._lock:
            config = self._registry.config(well_id)
            # The comparison is against the well as configured now (its configuration may change mid-session);
            # the session records the whole configuration as it was when the session opened.
            current = config.model_dump(mode="json") if config is not None else {}
            session = self._open.get(well_id)
            is_new = session is None
            if session is None:
                session = _OpenSession(session_id=uuid.uuid4().hex, original=current)
                self._open[well_id] = session
            session.modified.update(parameters)
            modified = dict(session.modified)
            originals = {name: current.get(name) for name in modified}
            status = "received" if self._simulator is None else "running"
        if self._store is not None:
            if is_new:
                self._store.save_session(well_id, session.original, modified_params=modified,
                                         session_id=session.session_id, status=status)
            else:
                self._store.update_session(session.session_id, status=status, modified_params=modified)
        attributes: dict[str, Any] = {"sim_session_id": session.session_id, "sim_status": status}
        attributes.update({f"sim_original_{name}": value for name, value in originals.items()})
        self._write(well_id, attributes)
        if self._simulator is not None:  # after the session is recorded and "running" written: results follow
            with self._wake:
                self._pending[well_id] = _Request(session.session_id, modified, int(ts_ms))
                self._ensure_worker()
                self._wake.notify_all()

    def open_session(self, well_id: str) -> dict[str, Any] | None:
        """The open session of a well: id, original and modified parameters."""
        with self._lock:
            session = self._open.get(well_id)
            if session is None:
                return None
            return {"session_id": session.session_id, "original": dict(session.original), "modified": dict(session.modified)}

    def _refuse_unknown(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> bool:
        """Answer a request naming a parameter the well does not have at once, without merging it into the
        session (a stray ``sim_param_*`` attribute must not block the next valid move); the request is kept
        in the dead-letter table."""
        from tb_bridge.adapters.whatif import unknown_parameters_error

        config = self._registry.config(well_id)
        error = unknown_parameters_error(config, parameters) if config is not None else None
        if error is None:
            return False
        log.warning("what-if request for %s refused: %s", well_id, error)
        if self._store is not None:
            self._store.dead_letter("what-if", {"well_id": well_id, "ts_ms": int(ts_ms), "sim_params": dict(parameters)},
                                    str(error), well_id)
        self._write(well_id, {"sim_status": "error", "sim_error": str(error)})
        return True

    # -- simulation worker ----------------------------------------------------------------------------
    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every received change has been simulated and written (True) or ``timeout_s`` passes."""
        with self._wake:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout=timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish the queued simulations, then stop the worker."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout=timeout_s)

    def _ensure_worker(self) -> None:  # called with the lock held
        if self._worker is None or not self._worker.is_alive():
            self._stopping = False
            self._worker = threading.Thread(target=self._work, name="what-if", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending or self._stopping)
                if not self._pending:
                    return
                well_id = next(iter(self._pending))
                request = self._pending.pop(well_id)
                self._busy += 1
            try:
                self._simulate(well_id, request)
            except Exception:  # a writeback or store failure must not stop the worker
                log.exception("what-if results for %s could not be written", well_id)
            finally:
                with self._wake:
                    self._busy -= 1
                    self._wake.notify_all()

    def _superseded(self, well_id: str) -> bool:
        with self._lock:
            return well_id in self._pending

    def _simulate(self, well_id: str, request: _Request) -> None:
        from tb_bridge.adapters.whatif import WhatIfError, projection, what_if

        simulator = self._simulator
        assert simulator is not None
        config = self._registry.config(well_id)
        try:
            if config is None:
                raise WhatIfError("the well has no valid configuration to simulate (see opt_error)")
            result = what_if(config, request.parameters, simulator.latest_telemetry(well_id), cache=simulator.cache)
        except WhatIfError as exc:
            error = str(exc)
        except Exception as exc:  # an engine failure is this request's error; the service keeps going
            log.exception("what-if simulation failed for %s", well_id)
            error = f"internal error: {type(exc).__name__}: {exc}"
        else:
            error = None
        if self._superseded(well_id):  # a newer slider move is queued: its results replace these
            return
        if error is not None:
            log.warning("what-if request for %s refused: %s", well_id, error)
            if self._store is not None:
                self._store.update_session(request.session_id, status="error", results={"error": error})
            self._write(well_id, {"sim_status": "error", "sim_error": error})
            return
        summary = {
            "setpoint_key": result.setpoint_key, "setpoint": result.setpoint, "setpoint_source": result.setpoint_source,
            "original": vars(result.original), "modified": vars(result.modified),
            "delta_liquid_bpd": result.delta_liquid_bpd, "delta_oil_bpd": result.delta_oil_bpd,
            "delta_pwf_psi": result.delta_pwf_psi}
        simulator.write_timeseries(well_id, projection(result, request.ts_ms, simulator.horizon_h, simulator.interval_s))
        if self._store is not None:
            self._store.update_session(request.session_id, status="done", results=summary)
        self._write(well_id, {"sim_status": "done", "sim_error": "", "sim_basis": result.basis,
                              "sim_compare_q_bpd": round(result.delta_liquid_bpd, 4),
                              "sim_compare_oil_bpd": round(result.delta_oil_bpd, 4),
                              "sim_compare_pwf_psi": round(result.delta_pwf_psi, 4)})
