"""Interactive what-if simulation sessions: the interface the router hands ``sim_param_*`` updates to.

A dashboard slider writes ``sim_param_<name>`` server attributes; ThingsBoard emits ATTRIBUTES_UPDATED;
the router passes the parameters here. This module opens (or updates) the well's session, records it in
the history store with the original and modified parameters, and writes ``sim_session_id``,
``sim_status`` and ``sim_original_<name>`` back so the dashboard's parameter table fills in.
Simulated data is kept apart: nothing here touches the telemetry buffer or the baselines.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from tb_bridge.wells.registry import WellRegistry

SIM_PARAM_PREFIX = "sim_param_"


class SimulationSessions(Protocol):
    """Receives what-if parameter changes for a well."""

    def on_parameters(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> None:
        """``parameters`` maps parameter names (prefix stripped) to requested values."""


class SessionStore(Protocol):
    def save_session(self, well_id: str, original_params: Any, **fields: Any) -> Any: ...
    def update_session(self, session_id: str, **fields: Any) -> Any: ...


@dataclass
class _OpenSession:
    session_id: str
    original: dict[str, Any]
    modified: dict[str, Any] = field(default_factory=dict)


class RecordingSimulationSessions:
    """Opens one session per well, merges successive slider moves into it, and records it.

    ``write_attributes(well_id, attributes)`` is the writeback; ``store`` the history store."""

    def __init__(self, registry: WellRegistry, store: SessionStore | None,
                 write_attributes: Callable[[str, Mapping[str, Any]], None]) -> None:
        self._registry = registry
        self._store = store
        self._write = write_attributes
        self._open: dict[str, _OpenSession] = {}
        self._lock = threading.Lock()

    def on_parameters(self, well_id: str, parameters: Mapping[str, Any], ts_ms: int) -> None:
        with self._lock:
            session = self._open.get(well_id)
            is_new = session is None
            if session is None:
                config = self._registry.config(well_id)
                # The original is the whole configuration when the session opens.
                baseline = config.model_dump(mode="json") if config is not None else {}
                session = _OpenSession(session_id=uuid.uuid4().hex, original=baseline)
                self._open[well_id] = session
            session.modified.update(parameters)
            modified = dict(session.modified)
            originals = {name: session.original.get(name) for name in modified}
        if self._store is not None:
            if is_new:
                self._store.save_session(well_id, session.original, modified_params=modified,
                                         session_id=session.session_id, status="received")
            else:
                self._store.update_session(session.session_id, status="received", modified_params=modified)
        attributes: dict[str, Any] = {"sim_session_id": session.session_id, "sim_status": "received"}
        attributes.update({f"sim_original_{name}": value for name, value in originals.items()})
        self._write(well_id, attributes)

    def open_session(self, well_id: str) -> dict[str, Any] | None:
        """The open session of a well: id, original and modified parameters."""
        with self._lock:
            session = self._open.get(well_id)
            if session is None:
                return None
            return {"session_id": session.session_id, "original": dict(session.original), "modified": dict(session.modified)}
