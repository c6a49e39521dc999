"""ISA-18.2 alarm state machine, vectorized over many alarms (one row per alarm point).

States (ANSI/ISA-18.2-2016, Fig. 5): NORM (normal), UNACK (active unacknowledged), ACKED (active
acknowledged), RTNUN (returned to normal unacknowledged), plus the operator/engineering states
SHLVD (shelved, with expiry), DSUPR (suppressed by design) and OOSRV (out of service), during which
the alarm is not annunciated and emits no events. Transitions: NORM -> UNACK on activation;
UNACK -> ACKED on ack; UNACK -> RTNUN on return; ACKED -> NORM on return; RTNUN -> NORM on ack;
RTNUN -> UNACK on re-activation. Activation needs the condition (value beyond the limit) to hold
for ``on_delay_s``; return needs the value back past the limit by the ``deadband`` for
``off_delay_s`` (ISA-18.2 sec. 10.4 / EEMUA 191 App. 10 recommended deadbands and delays).
Pure: the caller supplies timestamps; events are returned, not written.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORM, UNACK, ACKED, RTNUN = 0, 1, 2, 3
STATE_NAMES = ("NORM", "UNACK", "ACKED", "RTNUN")


@dataclass(frozen=True)
class AlarmEvent:
    """One state change: ``kind`` in ACTIVE, RTN, ACK, SHELVE, UNSHELVE, SUPPRESS, UNSUPPRESS, OOS, IS."""

    ts_s: float
    index: int
    tag: str
    kind: str
    state: str


class AlarmBank:
    """N alarm points. ``direction`` +1 for high alarms (value > limit), -1 for low alarms."""

    def __init__(self, tags, limit, direction=1, deadband=0.0, on_delay_s=0.0, off_delay_s=0.0, priority="MINOR"):
        self.tags = tuple(str(t) for t in tags)
        n = len(self.tags)
        b = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()  # noqa: E731
        self.limit, self.direction = b(limit), b(direction)
        self.deadband, self.on_delay_s, self.off_delay_s = b(deadband), b(on_delay_s), b(off_delay_s)
        if np.any(~np.isin(self.direction, (-1.0, 1.0))):
            raise ValueError("direction must be +1 (high) or -1 (low)")
        if np.any(self.deadband < 0) or np.any(self.on_delay_s < 0) or np.any(self.off_delay_s < 0):
            raise ValueError("deadband and delays must be >= 0")
        self.priority = tuple(np.broadcast_to(np.asarray(priority, dtype=object), (n,)))
        self.state = np.zeros(n, dtype=np.int8)
        self.active = np.zeros(n, bool)  # process condition latched (after delays)
        self.pending_since = np.full(n, np.nan)  # condition first seen (on-delay running)
        self.clear_since = np.full(n, np.nan)  # return condition first seen (off-delay running)
        self.shelved_until = np.full(n, np.nan)
        self.suppressed = np.zeros(n, bool)
        self.out_of_service = np.zeros(n, bool)

    # -- queries ---------------------------------------------------------------------------------
    def annunciating(self) -> np.ndarray:
        """Rows that the operator sees (not shelved, suppressed or out of service)."""
        return ~(np.isfinite(self.shelved_until) | self.suppressed | self.out_of_service)

    def display_state(self) -> tuple[str, ...]:
        """ISA-18.2 state name per alarm (OOSRV > DSUPR > SHLVD > alarm state)."""
        return tuple(self._state_name(i) for i in range(len(self.tags)))

    def _state_name(self, i: int) -> str:
        if self.out_of_service[i]:
            return "OOSRV"
        if self.suppressed[i]:
            return "DSUPR"
        if np.isfinite(self.shelved_until[i]):
            return "SHLVD"
        return STATE_NAMES[self.state[i]]

    def _events(self, ts, idx, kind):
        return [AlarmEvent(float(ts), int(i), self.tags[i], kind, self._state_name(i)) for i in np.flatnonzero(idx)]

    # -- process update --------------------------------------------------------------------------
    def update(self, ts_s: float, values) -> list[AlarmEvent]:
        """Evaluate all alarms on ``values`` (n,) at time ``ts_s`` (s); NaN values leave an alarm unchanged."""
        v = np.asarray(values, dtype=float)
        if v.shape != self.limit.shape:
            raise ValueError(f"values must have shape {self.limit.shape}, got {v.shape}")
        events = self._expire_shelves(ts_s)
        ok = np.isfinite(v)
        beyond = ok & (self.direction * (v - self.limit) > 0)
        back = ok & (self.direction * (v - self.limit) < -self.deadband)
        # on-delay
        start = beyond & ~self.active & np.isnan(self.pending_since)
        self.pending_since[start] = ts_s
        self.pending_since[~beyond & ~self.active] = np.nan
        activate = ~self.active & beyond & (ts_s - self.pending_since >= self.on_delay_s)
        # off-delay
        start_clear = back & self.active & np.isnan(self.clear_since)
        self.clear_since[start_clear] = ts_s
        self.clear_since[~back & self.active] = np.nan
        ret = self.active & back & (ts_s - self.clear_since >= self.off_delay_s)
        self.active[activate], self.pending_since[activate] = True, np.nan
        self.active[ret], self.clear_since[ret] = False, np.nan
        ann = self.annunciating()
        new_act = activate & ann
        self.state[new_act] = UNACK
        new_ret = ret & ann
        self.state[new_ret & (self.state == UNACK)] = RTNUN
        self.state[new_ret & (self.state == ACKED)] = NORM
        return events + self._events(ts_s, new_act, "ACTIVE") + self._events(ts_s, new_ret, "RTN")

    # -- operator actions ------------------------------------------------------------------------
    def _rows(self, which) -> np.ndarray:
        if isinstance(which, str):
            which = [which]
        rows = np.zeros(len(self.tags), bool)
        for w in np.atleast_1d(which):
            rows[self.tags.index(w) if isinstance(w, str) else int(w)] = True
        return rows

    def acknowledge(self, ts_s: float, which) -> list[AlarmEvent]:
        """Acknowledge alarms (tags or indices): UNACK -> ACKED, RTNUN -> NORM."""
        rows = self._rows(which) & self.annunciating() & np.isin(self.state, (UNACK, RTNUN))
        self.state[rows & (self.state == UNACK)] = ACKED
        self.state[rows & (self.state == RTNUN)] = NORM
        return self._events(ts_s, rows, "ACK")

    def shelve(self, ts_s: float, which, duration_s: float) -> list[AlarmEvent]:
        """Shelve for ``duration_s`` seconds (ISA-18.2 timed shelving); annunciation stops."""
        if duration_s <= 0:
            raise ValueError("shelving duration must be positive")
        rows = self._rows(which)
        self.shelved_until[rows] = ts_s + duration_s
        return self._events(ts_s, rows, "SHELVE")

    def unshelve(self, ts_s: float, which) -> list[AlarmEvent]:
        return self._unblock(ts_s, self._rows(which) & np.isfinite(self.shelved_until), "UNSHELVE")

    def _expire_shelves(self, ts_s: float) -> list[AlarmEvent]:
        return self._unblock(ts_s, np.isfinite(self.shelved_until) & (ts_s >= self.shelved_until), "UNSHELVE")

    def _unblock(self, ts_s, rows, kind):
        if kind == "UNSHELVE":
            self.shelved_until[rows] = np.nan
        elif kind == "UNSUPPRESS":
            self.suppressed[rows] = False
        else:
            self.out_of_service[rows] = False
        back = rows & self.annunciating()
        # Re-annunciate on the present condition: active -> UNACK, otherwise NORM.
        self.state[back] = np.where(self.active[back], UNACK, NORM)
        return self._events(ts_s, rows, kind)

    def suppress(self, ts_s: float, which, on: bool = True) -> list[AlarmEvent]:
        """Suppress by design (e.g. equipment stopped) or lift it."""
        rows = self._rows(which)
        if on:
            self.suppressed[rows] = True
            return self._events(ts_s, rows, "SUPPRESS")
        return self._unblock(ts_s, rows & self.suppressed, "UNSUPPRESS")

    def out_of_service_set(self, ts_s: float, which, on: bool = True) -> list[AlarmEvent]:
        """Remove from / return to service (maintenance)."""
        rows = self._rows(which)
        if on:
            self.out_of_service[rows] = True
            return self._events(ts_s, rows, "OOS")
        return self._unblock(ts_s, rows & self.out_of_service, "IS")
