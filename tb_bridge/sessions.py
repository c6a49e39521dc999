"""Interactive what-if simulation sessions (issue 19): one per well, at most ``max_sessions`` at once.

The flow: an operator moves a dashboard slider -> ThingsBoard writes ``sim_param_<p>`` on the well -> our rule
chain forwards the ATTRIBUTES_UPDATED event -> the router calls :meth:`SimulationSessionManager.on_parameters`
-> the session runs the lift model at the modified setpoint on the modified well (nodal IPR/VLP, the lift
engine of the lift type, the decline fitted on the well's rate history) -> the ``sim_*`` results and the
projection are written back -> the dashboard updates. The HTTP API drives the same sessions through
:meth:`create`, :meth:`set_params`, :meth:`reset_params`, :meth:`run`, :meth:`compare` and :meth:`close`.

Parameters are the public names of :data:`tb_bridge.adapters.whatif.SIM_PARAMETERS` (setpoint ``freq_hz`` /
``spm`` / ``rpm`` / ``gas_injection_rate`` of the lift type, and six well parameters).

Session life: opened by the first ``sim_param_*`` write for a well without one (or :meth:`create`); the
``max_sessions + 1``-th well gets ``sim_error`` saying so and nothing else changes. At opening the session
captures the well's configuration and every parameter's original value once (``sim_original_<p>``, never
moved by a later configuration change) and publishes ``sim_active = true``, ``sim_param_<p>`` and
``sim_original_<p>``. Every activity refreshes its time to live (``ttl_s``); :meth:`expire` (called by the
service's fast tier) closes the sessions past it. Closing deletes every ``sim_*`` attribute of the well and
every projection key over its whole time range (``0`` to a year ahead: ThingsBoard's ``deleteAllDataForKeys``
ends at its clock and would keep the future points), and the session's state. State lives in Redis when the
service has a Redis buffer (:class:`RedisSessionState`), so a restarted service keeps its open sessions (one
process owns them: the state is read when the manager starts, not shared live between replicas).

Isolation: nothing here writes to the telemetry buffer, the baselines, the anomaly detector or the history of
real operation; the results go to ThingsBoard only (the router drops the ``sim_*`` keys from any telemetry
that comes back), and the history store records the session itself.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from tb_bridge.wells.registry import WellRegistry

log = logging.getLogger(__name__)

SIM_PARAM_PREFIX = "sim_param_"
#: End of the projection delete window past the present (ms): beyond any projection (at most 2016 points of 1 h).
DELETE_AHEAD_MS = 366 * 86_400_000
#: Fewest ThingsBoard history points for a decline fit on them (else the buffer window), as the DCA step.
MIN_TB_HISTORY_POINTS = 30
DAY_MS = 86_400_000
#: Dashboard buttons write these (``sim_param_reset = "<parameter>[,<parameter>...]"``, ``sim_param_close = true``):
#: the reset of parameters to their originals and the close of the well's session, through the slider's path. The
#: service deletes the attribute once it has acted on it (a later attribute snapshot does not repeat the action).
CONTROL_RESET = "reset"
CONTROL_CLOSE = "close"


class SimulationSessions(Protocol):
    """Receives what-if parameter changes for a well (the router's entry point)."""

    def on_parameters(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> None:
        """``parameters`` maps parameter names (prefix stripped) to requested values."""


class SessionError(ValueError):
    """A session request that cannot be served: unknown session, unknown or invalid well, unknown parameter or
    value out of range (the message names it)."""


class SessionLimitError(ValueError):
    """The cap of open sessions is reached (the message says how many and how to free one)."""


class SessionStore(Protocol):
    def save_session(self, well_id: str, original_params: Any, **fields: Any) -> Any: ...
    def update_session(self, session_id: str, **fields: Any) -> Any: ...
    def dead_letter(self, source: str, payload: Any, error: str, well_id: str | None = None) -> Any: ...


# --- session state ------------------------------------------------------------------------------------------
@dataclass
class SessionData:
    """One open session (plain JSON-able fields; times epoch ms).

    ``config``: the well's configuration when the session opened (the base of every run); ``original``: every
    parameter's value then; ``modified``: the parameters changed since (public names); ``last_result``: the last
    run's result dict (``None`` before the first)."""

    session_id: str
    well_id: str
    lift_type: str
    created_ms: int
    expires_ms: int
    config: dict[str, Any]
    original: dict[str, Any]
    modified: dict[str, Any] = field(default_factory=dict)
    last_result: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        """The dict of the interface: session_id, well_id, lift_type, created_ms, expires_ms, original, modified."""
        return {"session_id": self.session_id, "well_id": self.well_id, "lift_type": self.lift_type,
                "created_ms": self.created_ms, "expires_ms": self.expires_ms, "original": dict(self.original),
                "modified": dict(self.modified)}

    def current(self) -> dict[str, float]:
        """Every parameter's value now (original overridden by modified; parameters without a value left out)."""
        out = {k: v for k, v in self.original.items() if v is not None}
        out.update(self.modified)
        return out


class SessionState(Protocol):
    """Where open sessions are kept."""

    def load_all(self) -> list[SessionData]: ...
    def save(self, data: SessionData) -> None: ...
    def delete(self, session_id: str) -> bool: ...


class MemorySessionState:
    """Sessions in this process (lost with it)."""

    def __init__(self) -> None:
        self._items: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_all(self) -> list[SessionData]:
        with self._lock:
            return [SessionData(**json.loads(v)) for v in self._items.values()]

    def save(self, data: SessionData) -> None:
        with self._lock:
            self._items[data.session_id] = json.dumps(asdict(data))

    def delete(self, session_id: str) -> bool:
        with self._lock:
            return self._items.pop(session_id, None) is not None


class RedisSessionState:
    """Sessions in one Redis hash ``<prefix>sim:sessions`` (field = session id, value = the session's JSON):
    a restarted service finds its open sessions there. No Redis TTL: an expired session still needs its
    ThingsBoard cleanup, which :meth:`SimulationSessionManager.expire` does."""

    def __init__(self, client: Any, key_prefix: str = "atilax:") -> None:
        self._client = client
        self.key = f"{key_prefix}sim:sessions"

    @classmethod
    def from_url(cls, url: str, key_prefix: str = "atilax:") -> "RedisSessionState":
        import redis

        return cls(redis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=10.0), key_prefix)

    def load_all(self) -> list[SessionData]:
        return [SessionData(**json.loads(v)) for v in self._client.hvals(self.key)]

    def save(self, data: SessionData) -> None:
        self._client.hset(self.key, data.session_id, json.dumps(asdict(data)))

    def delete(self, session_id: str) -> bool:
        return bool(self._client.hdel(self.key, session_id))


# --- the rate history a decline is fitted on -------------------------------------------------------------------
RateHistory = Callable[[str, int], tuple[Any, Any, str]]


def rate_history_source(buffer: Any, reader: Any = None, days: float = 180.0, limit: int = 10_000) -> RateHistory:
    """``(well_id, now_ms) -> (ts_ms, flow_rate_bpd, source)``: ``days`` of ThingsBoard history through ``reader``
    (``ThingsBoardHistory``; its newest ``limit`` points) as daily means when it has at least 30 points (each
    divided by the day's producing fraction: the rate while on stream, so partly shut-in days do not bend the
    decline), else the buffer window."""
    from tb_bridge.handlers.engine_steps import daily_means, daily_uptime

    def history(well_id: str, now_ms: int) -> tuple[Any, Any, str]:
        why = "buffer"
        if reader is not None:
            try:
                t_ms, values = reader.series(well_id, "flow_rate_bpd", days, end_ms=now_ms)
                t_ms, values = t_ms[-int(limit):], values[-int(limit):]
            except Exception as exc:  # ThingsBoard unreachable: fall back, and say so
                why = f"buffer (ThingsBoard history failed: {type(exc).__name__})"
            else:
                if len(t_ms) >= MIN_TB_HISTORY_POINTS:
                    ts, vals = np.asarray(t_ms, dtype=np.int64), np.asarray(values, dtype=float)
                    day_ms, day_mean = daily_means(ts, vals)
                    up = daily_uptime(ts, vals)
                    on_stream = np.where(up > 0.0, day_mean / np.where(up > 0.0, up, 1.0), 0.0)
                    return day_ms, on_stream, f"ThingsBoard ({len(t_ms)} points over {days:g} days)"
                why = f"buffer (ThingsBoard had {len(t_ms)} points)"
        window = buffer.window(well_id)
        return window.ts_ms, window.values.get("flow_rate_bpd", np.full(window.ts_ms.shape, np.nan)), why

    return history


@dataclass(frozen=True)
class _Request:
    parameters: dict[str, Any]
    ts_ms: int
    force: bool = False  #: run even when nothing changed (set_params(wait=False), whose values are applied already)


class SimulationSessionManager:
    """Opens, runs, resets, expires and closes what-if sessions (module docstring).

    ``write_attributes(well_id, attrs)`` / ``write_timeseries(well_id, points)``: the service's validated
    writes; ``delete_attributes(well_id, keys, scope)`` / ``delete_timeseries(well_id, keys, start_ts, end_ts)``:
    the writeback's deletes (each after every earlier write); ``latest_telemetry(well_id)``: the latest values
    (the setpoints now); ``rate_history``: see :func:`rate_history_source`; ``state``: where sessions live
    (:class:`MemorySessionState` by default); ``clock_ms``: the clock of activity, expiry and projections."""

    def __init__(self, registry: WellRegistry, store: SessionStore | None,
                 write_attributes: Callable[[str, Mapping[str, Any]], None], *,
                 write_timeseries: Callable[[str, Sequence[tuple[int, Mapping[str, Any]]]], None] | None = None,
                 delete_attributes: Callable[..., Any] | None = None,
                 delete_timeseries: Callable[..., Any] | None = None,
                 latest_telemetry: Callable[[str], Mapping[str, Any]] | None = None,
                 rate_history: RateHistory | None = None, state: SessionState | None = None,
                 max_sessions: int = 10, ttl_s: int = 7200, projection_points: int = 144,
                 projection_interval_ms: int = 300_000, clock_ms: Callable[[], int] | None = None,
                 max_cached_wells: int = 256) -> None:
        from tb_bridge.adapters.lift import LiftCache

        if max_sessions < 1 or ttl_s < 1 or projection_points < 1 or projection_interval_ms < 1:
            raise ValueError("max_sessions, ttl_s, projection_points and projection_interval_ms must be >= 1")
        self._registry = registry
        self._store = store
        self._write = write_attributes
        self._write_ts = write_timeseries
        self._delete_attributes = delete_attributes
        self._delete_timeseries = delete_timeseries
        self._latest = latest_telemetry or (lambda _well: {})
        self._rate_history = rate_history
        self._state: SessionState = state if state is not None else MemorySessionState()
        self.max_sessions = int(max_sessions)
        self.ttl_ms = int(ttl_s) * 1000
        self.projection_points = int(projection_points)
        self.projection_interval_ms = int(projection_interval_ms)
        self.clock_ms: Callable[[], int] = clock_ms or (lambda: int(time.time() * 1000))
        self.cache = LiftCache(max_entries=max_cached_wells)
        self._lock = threading.RLock()  # the session table
        self._sessions: dict[str, SessionData] = {s.session_id: s for s in self._state.load_all()}
        self._run_locks: dict[str, threading.Lock] = {}
        self._closed: set[str] = set()
        # router requests, merged per well, simulated on one worker thread
        self._wake = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._busy = 0
        self._stopping = False
        self._worker: threading.Thread | None = None
        if self._sessions:
            log.info("%d open simulation sessions restored", len(self._sessions))

    # -- the interface --------------------------------------------------------------------------------------
    def create(self, well_id: str) -> dict[str, Any]:
        """Open a session on ``well_id`` (or return its open one, its time to live refreshed). Raises
        :class:`SessionLimitError` when ``max_sessions`` are open, :class:`SessionError` for a well without a
        valid configuration or a lift type without a what-if model."""
        return self._open(well_id)[0].public()

    def get(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            data = self._sessions.get(session_id)
            return None if data is None else data.public()

    def by_well(self, well_id: str) -> dict[str, Any] | None:
        with self._lock:
            data = self._by_well(well_id)
            return None if data is None else data.public()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.public() for s in sorted(self._sessions.values(), key=lambda s: s.created_ms)]

    def set_params(self, session_id: str, params: Mapping[str, Any], *, wait: bool = True) -> dict[str, Any]:
        """Apply parameter changes (public names), publish their ``sim_param_*``, run; the run's result dict when
        ``wait``, else ``{"status": "queued"}`` (the worker runs it). Raises :class:`SessionError`."""
        data = self._require(session_id)
        values = self._validate(data, params)
        with self._lock:
            self._apply(data, values)
            self._touch(data)
            self._save(data)
        self._write(data.well_id, {f"{SIM_PARAM_PREFIX}{p}": v for p, v in values.items()})
        if not wait:
            self._queue(data.well_id, _Request({}, self.clock_ms(), force=True))
            return {"status": "queued"}
        return self._run_or_raise(data)

    def reset_params(self, session_id: str, keys: Sequence[str]) -> dict[str, Any]:
        """Restore ``keys`` to their originals: drop them from the modified set, republish their ``sim_param_*``,
        re-run; ``{"session_id", "restored", "not_found", "remaining_modified"}`` (``not_found``: keys that were
        not modified, or are no parameter of the session)."""
        data = self._require(session_id)
        if isinstance(keys, str):
            keys = [keys]
        with self._lock:
            restored = [k for k in dict.fromkeys(keys) if k in data.modified]
            not_found = [k for k in dict.fromkeys(keys) if k not in data.modified]
            for k in restored:
                del data.modified[k]
            self._touch(data)
            self._save(data)
        if restored:
            self._write(data.well_id, {f"{SIM_PARAM_PREFIX}{k}": data.original.get(k) for k in restored})
            self._run_or_raise(data)
        return {"session_id": data.session_id, "restored": restored, "not_found": not_found,
                "remaining_modified": dict(data.modified)}

    def run(self, session_id: str) -> dict[str, Any]:
        """Re-run with the current parameters; the result dict (``sim_*`` values by key name)."""
        data = self._require(session_id)
        with self._lock:
            self._touch(data)
            self._save(data)
        return self._run_or_raise(data)

    def compare(self, session_id: str) -> dict[str, Any]:
        """The last run's comparison: ``sim_compare_data`` (the original-vs-modified table), the deltas and the
        warnings, and the parameters; runs first when the session has not run yet."""
        data = self._require(session_id)
        result = data.last_result or self._run_or_raise(data)
        return {"session_id": data.session_id, "well_id": data.well_id, "original": dict(data.original),
                "modified": dict(data.modified),
                **{k: result.get(k) for k in ("sim_compare_data", "sim_compare_production_delta_bpd",
                                               "sim_compare_production_delta_pct", "sim_compare_efficiency_delta_pct",
                                               "sim_compare_warnings", "sim_opt_recommended_action", "sim_last_run")}}

    def close(self, session_id: str) -> bool:
        """Delete every ``sim_*`` attribute and projection point of the session's well and the session's state;
        True when a session was open (idempotent: closing again is False and changes nothing)."""
        with self._lock:
            data = self._sessions.get(session_id)
            if data is None:
                return False
            run_lock = self._run_locks.setdefault(session_id, threading.Lock())
        with run_lock:  # a run under way finishes first; none starts after
            with self._lock:
                if self._sessions.pop(session_id, None) is None:
                    return False
                self._closed.add(session_id)
                self._run_locks.pop(session_id, None)
            with self._wake:
                self._pending.pop(data.well_id, None)
            self._cleanup(data.well_id)
            try:
                self._state.delete(session_id)
            except Exception:
                log.exception("simulation session %s could not be removed from the session state", session_id)
            self._record(data.session_id, status="closed", ended=True)
        log.info("simulation session %s of %s closed", session_id, data.well_id)
        return True

    def expire(self, now_ms: int) -> list[str]:
        """Close the sessions whose time to live ended at ``now_ms``; their ids."""
        with self._lock:
            due = [s.session_id for s in self._sessions.values() if s.expires_ms <= int(now_ms)]
        return [sid for sid in due if self.close(sid)]

    # -- the router's entry point ---------------------------------------------------------------------------
    def on_parameters(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> None:
        """A ``sim_param_*`` write from ThingsBoard: queued for the worker (successive writes of one well merge)."""
        self._queue(well_id, _Request(dict(parameters), int(ts_ms)))

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every queued change has been simulated and written (True) or ``timeout_s`` passes."""
        with self._wake:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the queued simulations, then stop the worker (open sessions stay open: their state persists)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout=timeout_s)

    # -- internals ------------------------------------------------------------------------------------------
    def _by_well(self, well_id: str) -> SessionData | None:
        return next((s for s in self._sessions.values() if s.well_id == well_id), None)

    def _require(self, session_id: str) -> SessionData:
        with self._lock:
            data = self._sessions.get(session_id)
        if data is None:
            raise SessionError(f"no open simulation session {session_id!r}")
        return data

    def _touch(self, data: SessionData) -> None:
        data.expires_ms = max(data.expires_ms, self.clock_ms() + self.ttl_ms)

    def _save(self, data: SessionData) -> None:
        self._state.save(data)

    def _validate(self, data: SessionData, params: Mapping[str, Any]) -> dict[str, float]:
        from tb_bridge.adapters.whatif import WhatIfError, validate_parameters

        try:
            values = validate_parameters(data.lift_type, params)
        except WhatIfError as exc:
            raise SessionError(str(exc)) from None
        return values

    @staticmethod
    def _apply(data: SessionData, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            original = data.original.get(name)
            if original is not None and abs(float(original) - value) <= 1e-9:
                data.modified.pop(name, None)
            else:
                data.modified[name] = value

    def _open(self, well_id: str, initial: Mapping[str, float] | None = None) -> tuple[SessionData, bool]:
        """The well's open session (``False``) or a new one (``True``), published with ``sim_param_<p>`` at
        ``initial`` (the values of the slider write that opens it) or the original value."""
        from tb_bridge.adapters.whatif import SETPOINT_PARAMETER, WhatIfError, original_parameters, parameters_for

        with self._lock:
            data = self._by_well(well_id)
            if data is not None:
                self._touch(data)
                self._save(data)
                return data, False
            if len(self._sessions) >= self.max_sessions:
                raise SessionLimitError(f"{len(self._sessions)} simulation sessions are open, the most allowed "
                                        f"(sim_max_sessions = {self.max_sessions}): close one to simulate {well_id}")
            config = self._registry.config(well_id)
            if config is None:
                raise SessionError(f"well {well_id!r} has no valid configuration to simulate (see opt_error)")
            if config.lift_type not in SETPOINT_PARAMETER:
                raise SessionError(f"no what-if simulation for the {config.lift_type} well {well_id!r} "
                                   f"(esp, srp, pcp, gas_lift)")
            try:
                original = original_parameters(config, self._latest(well_id), self.cache)
            except (WhatIfError, ValueError) as exc:
                raise SessionError(f"well {well_id!r} cannot be simulated: {exc}") from None
            now = self.clock_ms()
            data = SessionData(uuid.uuid4().hex, well_id, config.lift_type, now, now + self.ttl_ms,
                               config.model_dump(mode="json"), original)
            self._sessions[data.session_id] = data
            self._save(data)
        attributes: dict[str, Any] = {"sim_active": True, "sim_session_id": data.session_id, "sim_status": "idle",
                                      "sim_error": ""}
        for name in parameters_for(data.lift_type):
            attributes[f"{SIM_PARAM_PREFIX}{name}"] = (initial or {}).get(name, original.get(name))
            attributes[f"sim_original_{name}"] = original.get(name)
        self._write(well_id, attributes)
        if self._store is not None:
            try:
                self._store.save_session(well_id, {"parameters": original, "config": data.config},
                                         modified_params={}, session_id=data.session_id, status="active")
            except Exception:
                log.exception("history store could not record simulation session %s", data.session_id)
        log.info("simulation session %s opened on %s (%s)", data.session_id, well_id, data.lift_type)
        return data, True

    def _record(self, session_id: str, *, status: str, modified: Any = None, results: Any = None,
                ended: bool = False) -> None:
        if self._store is None:
            return
        from datetime import datetime, timezone

        try:
            self._store.update_session(session_id, status=status, modified_params=modified, results=results,
                                       ended_at=datetime.now(timezone.utc) if ended else None)
        except KeyError:  # opened by another process (or before a history-store change): nothing to update
            log.info("simulation session %s is not in the history store", session_id)
        except Exception:
            log.exception("history store could not update simulation session %s", session_id)

    def _dead_letter(self, well_id: str, payload: Any, error: str) -> None:
        if self._store is None:
            return
        try:
            self._store.dead_letter("what-if", payload, error, well_id)
        except Exception:
            log.exception("dead-letter store failed for the what-if request of %s", well_id)

    def _cleanup(self, well_id: str) -> None:
        """Delete every ``sim_*`` attribute and every projection point of ``well_id``."""
        from tb_bridge.adapters.whatif import SIM_PARAMETERS
        from tb_bridge.writeback.keys import ALL_SIM_PROJECTION_KEYS, KEYS

        attributes = [k for k, spec in KEYS.items() if k.startswith("sim_") and spec.kind != "timeseries"]
        attributes += [f"{prefix}{p}" for p in SIM_PARAMETERS for prefix in (SIM_PARAM_PREFIX, "sim_original_")]
        attributes += [f"{SIM_PARAM_PREFIX}{c}" for c in (CONTROL_RESET, CONTROL_CLOSE)]
        if self._delete_attributes is not None:
            try:
                self._delete_attributes(well_id, attributes, "SERVER_SCOPE")
            except Exception:
                log.exception("sim_* attributes of %s could not be deleted", well_id)
        else:
            log.warning("the writeback cannot delete attributes: the sim_* attributes of %s stay", well_id)
        self._delete_projection(well_id, ALL_SIM_PROJECTION_KEYS)

    def _delete_projection(self, well_id: str, keys: Sequence[str], start_ms: int = 0) -> None:
        """Delete the projection points of ``keys`` from ``start_ms`` (0: their whole history) to a year ahead."""
        if self._delete_timeseries is None:
            log.warning("the writeback cannot delete time series: earlier projection points of %s stay", well_id)
            return
        try:
            self._delete_timeseries(well_id, list(keys), max(0, int(start_ms)), self.clock_ms() + DELETE_AHEAD_MS)
        except Exception:
            log.exception("projection of %s could not be deleted", well_id)

    def _run_or_raise(self, data: SessionData) -> dict[str, Any]:
        result, error = self._run(data)
        if error is not None:
            raise SessionError(error)
        return result

    def _run(self, data: SessionData) -> tuple[dict[str, Any], str | None]:
        """Simulate the session's current parameters and write the results; ``(result, None)`` or ``({}, error)``
        (the error is also written as ``sim_error`` and kept in the dead-letter table)."""
        with self._lock:
            run_lock = self._run_locks.setdefault(data.session_id, threading.Lock())
        with run_lock:
            if data.session_id in self._closed:
                return {}, f"simulation session {data.session_id} is closed"
            self._write(data.well_id, {"sim_status": "running"})
            try:
                result = self._simulate(data)
            except Exception as exc:
                from tb_bridge.adapters.whatif import WhatIfError

                if isinstance(exc, (WhatIfError, SessionError)):
                    error = str(exc)
                else:  # an engine failure is this request's error; the service keeps going
                    log.exception("what-if simulation failed for %s", data.well_id)
                    error = f"internal error: {type(exc).__name__}: {exc}"
                log.warning("what-if run of %s refused: %s", data.well_id, error)
                self._write(data.well_id, {"sim_status": "error", "sim_error": error[:1000]})
                self._dead_letter(data.well_id, {"session_id": data.session_id, "parameters": data.current()}, error)
                self._record(data.session_id, status="error", modified=data.modified, results={"error": error})
                return {}, error
            with self._lock:
                data.last_result = result
                if data.session_id in self._sessions:
                    self._save(data)
            self._record(data.session_id, status="done", modified=data.modified, results=result)
            return result, None

    def _simulate(self, data: SessionData) -> dict[str, Any]:
        from tb_bridge.adapters.whatif import fit_decline, projection_values, simulate
        from tb_bridge.handlers.engine_steps import _stable_seed
        from tb_bridge.wells.model import parse_well_config
        from tb_bridge.writeback.keys import SIM_PROJECTION_KEYS, simulation_attributes, simulation_projection_points

        well = parse_well_config(data.well_id, data.config.get("name") or data.well_id, data.config)
        now = self.clock_ms()
        run = simulate(well, data.original, data.current(), self._latest(data.well_id), self.cache)
        step = self.projection_interval_ms
        first = (now // step + 1) * step  # the next grid time after now: every point lies in the future
        offsets = np.arange(self.projection_points, dtype=np.int64) * step
        if self._rate_history is not None:
            t_ms, rate, source = self._rate_history(data.well_id, now)
            basis = fit_decline(t_ms, rate, first, source, economic_limit_bpd=well.economic_limit_bpd,
                                seed=_stable_seed(data.well_id))
        else:
            basis = fit_decline([], [], first, "no history source")
        points = simulation_projection_points(data.lift_type, projection_values(run, basis.factors(offsets)), first, step)
        attributes = simulation_attributes(run, now)
        setpoint = run.setpoint_parameter
        attributes.update(sim_status="done", sim_error="", sim_session_id=data.session_id, sim_active=True,
                          sim_basis=(f"{setpoint} {run.original.setpoint:g} -> {run.modified.setpoint:g}; "
                                     f"projection: {basis.description}")[:1000])
        # a new run replaces the previous projection: no point of an earlier run of the session is left (all lie
        # after the session opened; closing deletes the keys' whole history)
        self._delete_projection(data.well_id, SIM_PROJECTION_KEYS[data.lift_type], data.created_ms - step)
        if self._write_ts is not None:
            self._write_ts(data.well_id, points)
        self._write(data.well_id, attributes)
        return {"session_id": data.session_id, **attributes,
                "projection": {"first_ts": first, "interval_ms": step, "points": len(points),
                               "keys": list(SIM_PROJECTION_KEYS[data.lift_type]), "decline": basis.description}}

    def _control(self, well_id: str, close: Any, reset: Any, payload: Any) -> None:
        """A dashboard button: close the well's session, or reset the named parameters (comma-separated or a list);
        the control attribute is deleted afterwards."""
        with self._lock:
            data = self._by_well(well_id)
        keys = [f"{SIM_PARAM_PREFIX}{c}" for c, v in ((CONTROL_CLOSE, close), (CONTROL_RESET, reset)) if v is not None]
        try:
            if data is None:
                raise SessionError(f"no open simulation session on {well_id!r} to {'close' if close is not None else 'reset'}")
            if close is not None:
                self.close(data.session_id)  # deletes every sim_* attribute, the control ones too
                return
            names = reset if isinstance(reset, (list, tuple)) else [n.strip() for n in str(reset).split(",") if n.strip()]
            self.reset_params(data.session_id, names)
        except SessionError as exc:
            log.warning("what-if control for %s refused: %s", well_id, exc)
            self._write(well_id, {"sim_error": str(exc)})
            self._dead_letter(well_id, payload, str(exc))
        if self._delete_attributes is not None:
            try:
                self._delete_attributes(well_id, keys, "SERVER_SCOPE")
            except Exception:
                log.exception("control attribute of %s could not be deleted", well_id)

    # -- worker (router requests) ---------------------------------------------------------------------------
    def _queue(self, well_id: str, request: _Request) -> None:
        with self._wake:
            earlier = self._pending.get(well_id)
            if earlier is not None:  # merge: the newest value of each parameter wins
                request = _Request({**earlier.parameters, **request.parameters}, request.ts_ms,
                                   earlier.force or request.force)
            self._pending[well_id] = request
            if self._worker is None or not self._worker.is_alive():
                self._stopping = False
                self._worker = threading.Thread(target=self._work, name="what-if", daemon=True)
                self._worker.start()
            self._wake.notify_all()

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
                self._handle(well_id, request)
            except Exception:  # a writeback or store failure must not stop the worker
                log.exception("what-if request of %s failed", well_id)
            finally:
                with self._wake:
                    self._busy -= 1
                    self._wake.notify_all()

    def _handle(self, well_id: str, request: _Request) -> None:
        """One (merged) slider request: open the session if needed, apply the changed values, run."""
        payload = {"well_id": well_id, "ts_ms": request.ts_ms,
                   "sim_params": {f"{SIM_PARAM_PREFIX}{k}": v for k, v in request.parameters.items()}}
        parameters = dict(request.parameters)
        close, reset = parameters.pop(CONTROL_CLOSE, None), parameters.pop(CONTROL_RESET, None)
        if close is not None or reset is not None:
            self._control(well_id, close, reset, payload)
            if close is not None or not parameters:
                return
            request = _Request(parameters, request.ts_ms, request.force)
        from tb_bridge.adapters.whatif import WhatIfError, validate_parameters

        config = self._registry.config(well_id)
        initial: dict[str, float] = {}
        with self._lock:
            is_new = self._by_well(well_id) is None
        if config is not None and is_new:  # a new session shows the slider's values
            try:
                initial = validate_parameters(config.lift_type, request.parameters)
            except WhatIfError:
                initial = {}  # refused below, after the session opened
        try:
            data, opened = self._open(well_id, initial)
        except SessionLimitError as exc:  # nothing else changes on this well
            log.warning("what-if request for %s refused: %s", well_id, exc)
            self._write(well_id, {"sim_error": str(exc)})
            self._dead_letter(well_id, payload, str(exc))
            return
        except SessionError as exc:
            log.warning("what-if request for %s refused: %s", well_id, exc)
            self._write(well_id, {"sim_status": "error", "sim_error": str(exc)})
            self._dead_letter(well_id, payload, str(exc))
            return
        try:
            values = self._validate(data, request.parameters)
        except SessionError as exc:  # not merged: a stray sim_param_* attribute must not block the next move
            log.warning("what-if request for %s refused: %s", well_id, exc)
            self._write(well_id, {"sim_status": "error", "sim_error": str(exc)})
            self._dead_letter(well_id, payload, str(exc))
            return
        with self._lock:
            before = data.current()
            self._apply(data, values)
            changed = data.current() != before
            self._touch(data)
            self._save(data)
        if changed or opened or request.force or data.last_result is None:  # an echo of the values in force: nothing
            self._run(data)


def session_state_for(buffer: Any) -> SessionState:
    """Redis state (:class:`RedisSessionState`, same server and key prefix) when ``buffer`` is the Redis buffer,
    else :class:`MemorySessionState`."""
    from tb_bridge.buffer.redis_buffer import RedisBuffer

    if isinstance(buffer, RedisBuffer):
        return RedisSessionState(buffer.client, buffer.key_prefix)
    return MemorySessionState()
