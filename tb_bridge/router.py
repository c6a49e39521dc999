"""The router: every WellEvent goes to exactly one place, or to the dead-letter table.

- telemetry -> validated -> buffer (numbers) / latest-values map (text such as ``surface_card``);
  the 5-minute tier then reads the buffer;
- attribute update with ``sim_param_*`` keys -> simulation sessions;
- attribute update of ``alarm_operator_request`` (shelve / suppress / out of service) and the operator's
  ALARM_ACK / ALARM_CLEAR of a well's alarm -> the alarm hook (the well's ISA-18.2 AlarmBank);
- any other attribute update or snapshot -> well registry (configuration); a live update that does not
  validate leaves the well running on its last valid configuration (``opt_error`` names the problem);
- events caused by the service's own writes (its user id, or only ``opt_*``/``sim_*`` result keys) are
  dropped: loop protection.
Bad input (NaN, negative rate, unknown lift type, invalid parameters) raises nothing to the caller: the
event is dead-lettered, the well gets ``opt_error``, and every other well keeps going.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.sessions import SIM_PARAM_PREFIX, SimulationSessions
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.wells.model import WellConfigError
from tb_bridge.wells.registry import WellRegistry
from tb_bridge.writeback.keys import ALARM_REQUEST_KEY, OWN_PREFIXES, is_own_key

log = logging.getLogger(__name__)

#: (suffix, lower bound, upper bound) checked on telemetry keys; None = unbounded on that side.
_TELEMETRY_BOUNDS: tuple[tuple[str, float | None, float | None], ...] = (
    ("_bpd", 0.0, None), ("_mscfd", 0.0, None), ("_hz", 0.0, None), ("_a", 0.0, None), ("_kw", 0.0, None),
    ("_frac", 0.0, 1.0), ("_pct", 0.0, 150.0), ("spm", 0.0, None), ("rpm", 0.0, None),
)


class TelemetrySink(Protocol):
    def append(self, well_id: str, ts_ms: int, values: Mapping[str, float]) -> None: ...


class DeadLetterSink(Protocol):
    def dead_letter(self, source: str, payload: Any, error: str, well_id: str | None = None) -> Any: ...


@dataclass
class RouterStats:
    """Counters, for logs, the HTTP API and the benchmark."""

    telemetry: int = 0
    config_updates: int = 0
    simulation_updates: int = 0
    own_writes_dropped: int = 0
    alarm_actions: int = 0
    dead_lettered: int = 0


def validate_telemetry(values: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """Split telemetry into finite numbers and other values; raise :class:`EventError` on NaN,
    infinity, or a value outside its physical range (negative rate, fraction above 1, ...)."""
    numbers: dict[str, float] = {}
    others: dict[str, Any] = {}
    if not values:
        raise EventError("telemetry event carries no values")
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            others[key] = value
            continue
        number = float(value)
        if not math.isfinite(number):
            raise EventError(f"{key} is not a finite number ({value!r})")
        for suffix, low, high in _TELEMETRY_BOUNDS:
            if key.endswith(suffix):
                if (low is not None and number < low) or (high is not None and number > high):
                    raise EventError(f"{key}={number:g} is outside its physical range [{low}, {high}]")
                break
        numbers[key] = number
    return numbers, others


class Router:
    """Dispatches events; thread-safe (transports may call from their own threads)."""

    def __init__(
        self,
        registry: WellRegistry,
        buffer: TelemetrySink,
        sessions: SimulationSessions,
        dead_letters: DeadLetterSink,
        report_error: Callable[[str, str], None],
        loop_guard: LoopGuard | None = None,
        asset_hook: Callable[[WellEvent], None] | None = None,
        alarm_hook: Callable[[WellEvent], None] | None = None,
    ) -> None:
        self.registry = registry
        #: Operator alarm actions of a well (ALARM_ACK / ALARM_CLEAR events and ``alarm_operator_request``
        #: attribute updates) go here, e.g. the service's AlarmBank handling; ignored when None. The hook
        #: raises :class:`EventError` for a malformed request (dead letter + ``opt_error``).
        self.alarm_hook = alarm_hook
        #: Attribute updates of ThingsBoard assets (fields, not wells) go here, e.g.
        #: :meth:`tb_bridge.placement_jobs.PlacementJobs.on_asset_event`; ignored when None.
        self.asset_hook = asset_hook
        self.buffer = buffer
        self.sessions = sessions
        self.dead_letters = dead_letters
        self.report_error = report_error
        #: Loop protection: events saved by the service's own user, or carrying only keys it writes.
        self.loop_guard = loop_guard or LoopGuard(own_key_prefixes=OWN_PREFIXES)
        self.stats = RouterStats()
        self._latest_text: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------
    def handle(self, event: WellEvent) -> None:
        """Route one event. Never raises for bad input."""
        try:
            if is_asset_event(event):
                self._asset(event)
            elif event.kind is EventKind.TELEMETRY:
                self._telemetry(event)
            elif event.kind in (EventKind.ATTRIBUTES_UPDATED, EventKind.ATTRIBUTES_SNAPSHOT):
                self._attributes(event)
            elif event.kind in (EventKind.ALARM_ACK, EventKind.ALARM_CLEAR):
                self._alarm_action(event)
            else:  # pragma: no cover - EventKind is closed
                raise EventError(f"unknown event kind {event.kind!r}")
        except (EventError, WellConfigError) as exc:
            self._reject(event, str(exc))
        except Exception as exc:  # a bug must not take the service down: keep the event
            log.exception("unexpected error routing event for %s", event.well_id)
            self._reject(event, f"internal error: {type(exc).__name__}: {exc}")

    def handle_raw_dead_letter(self, source: str, payload: bytes | str, reason: str) -> None:
        """For transports: a payload that could not even become a WellEvent."""
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        self._dead_letter(source, {"raw": text}, reason, None)

    def latest_text(self, well_id: str) -> dict[str, Any]:
        """Newest non-numeric telemetry per key (e.g. ``surface_card``) for a well."""
        with self._lock:
            return dict(self._latest_text.get(well_id, {}))

    # -- internals ----------------------------------------------------------------------------
    def _telemetry(self, event: WellEvent) -> None:
        numbers, others = validate_telemetry(event.values)
        if numbers:
            self.buffer.append(event.well_id, event.ts_ms, numbers)
        if others:
            with self._lock:
                self._latest_text.setdefault(event.well_id, {}).update(others)
        with self._lock:
            self.stats.telemetry += 1

    def _attributes(self, event: WellEvent) -> None:
        values = {k: v for k, v in event.values.items() if not is_own_key(k)}
        if not values or self.loop_guard.is_own(event):
            with self._lock:
                self.stats.own_writes_dropped += 1
            return
        if ALARM_REQUEST_KEY in values and event.kind is EventKind.ATTRIBUTES_UPDATED:
            self._alarm_action(WellEvent(event.kind, event.well_id, event.ts_ms,
                                         {ALARM_REQUEST_KEY: values[ALARM_REQUEST_KEY]}, event.well_name,
                                         event.device_type, event.scope, event.source, event.metadata))
        values = {k: v for k, v in values.items() if k != ALARM_REQUEST_KEY}
        sim = {k[len(SIM_PARAM_PREFIX):]: v for k, v in values.items() if k.startswith(SIM_PARAM_PREFIX)}
        config = {k: v for k, v in values.items() if not k.startswith(SIM_PARAM_PREFIX)}
        if sim:
            self.sessions.on_parameters(event.well_id, sim, event.ts_ms)
            with self._lock:
                self.stats.simulation_updates += 1
        if config:
            self.registry.update(
                event.well_id, config, name=event.well_name, device_type=event.device_type,
                replace=event.kind is EventKind.ATTRIBUTES_SNAPSHOT,
                keep_last_good=event.kind is EventKind.ATTRIBUTES_UPDATED,
            )
            with self._lock:
                self.stats.config_updates += 1

    def _alarm_action(self, event: WellEvent) -> None:
        if self.loop_guard.is_own(event):  # e.g. our own REST clear, saved by the service's user
            with self._lock:
                self.stats.own_writes_dropped += 1
            return
        if self.alarm_hook is None:
            return
        self.alarm_hook(event)
        with self._lock:
            self.stats.alarm_actions += 1

    def _asset(self, event: WellEvent) -> None:
        values = {k: v for k, v in event.values.items() if not is_own_key(k)}
        if self.asset_hook is None or not values or self.loop_guard.is_own(event):
            return
        self.asset_hook(WellEvent(event.kind, event.well_id, event.ts_ms, values, event.well_name,
                                  event.device_type, event.scope, event.source, event.metadata))

    def _reject(self, event: WellEvent, reason: str) -> None:
        log.warning("dead-lettered %s event for well %s: %s", event.kind.value, event.well_id, reason)
        self._dead_letter(event.source, event.to_dict(), reason, event.well_id)
        if event.well_id:
            try:
                self.report_error(event.well_id, reason)
            except Exception:  # reporting must not lose the event, which is already kept
                log.exception("could not write opt_error for %s", event.well_id)

    def _dead_letter(self, source: str, payload: Any, reason: str, well_id: str | None) -> None:
        with self._lock:
            self.stats.dead_lettered += 1
        try:
            self.dead_letters.dead_letter(source=source, payload=payload, error=reason, well_id=well_id)
        except Exception:
            log.exception("dead-letter store failed; event kept in the log only: %s", payload)


def is_asset_event(event: WellEvent) -> bool:
    """True for an event about a ThingsBoard asset (transports set metadata ``entityType=ASSET``)."""
    return event.metadata.get("entityType") == "ASSET"


def now_ms() -> int:
    return int(time.time() * 1000)
