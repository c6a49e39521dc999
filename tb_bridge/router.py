"""The router: every WellEvent goes to exactly one place, or to the dead-letter table.

- telemetry -> validated -> buffer (numbers) / latest-values map (text such as ``surface_card``);
  the 5-minute tier then reads the buffer;
- attribute update with ``sim_param_*`` keys -> simulation sessions;
- attribute update of ``alarm_operator_request`` (shelve / suppress / out of service) and the operator's
  ALARM_ACK / ALARM_CLEAR of a well's alarm -> the alarm hook (the well's ISA-18.2 AlarmBank);
- attribute update of ``setpoint_approval`` (a dashboard's approve button) -> the setpoint approval hook
  (:meth:`tb_bridge.setpoint_control.SetpointControl.on_approval`);
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
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from tb_bridge.buffer.base import BufferUnavailableError
from tb_bridge.events import EventError, EventKind, WellEvent
from tb_bridge.history.dead_letter_text import payload_text
from tb_bridge.log_rate import RateLimitedLog
from tb_bridge.sessions import SIM_PARAM_PREFIX, SimulationSessions
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.wells.model import WellConfigError, well_label
from tb_bridge.wells.registry import WellRegistry
from tb_bridge.writeback.keys import ALARM_REQUEST_KEY, OWN_PREFIXES, is_own_key
from tb_bridge.setpoint_control import APPROVAL_KEY

log = logging.getLogger(__name__)
#: One warning line per dead letter, but never more than 20 per 10 s and source: a sender cannot flood the log.
_bad_input_log = RateLimitedLog(log, burst=20, period_s=10.0)

#: Telemetry samples kept in memory while the buffer is unreachable (then dead-lettered, never dropped).
PENDING_SAMPLES_MAX = 100_000
#: Dead letters kept in memory while the dead-letter store is unreachable (then logged, counted as lost).
PENDING_DEAD_LETTERS_MAX = 10_000
#: Retry delays while a backend is unreachable [s]: doubling from the first to the cap.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0

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
    #: telemetry samples held in memory because the buffer was unreachable, and those later appended
    samples_held: int = 0
    samples_recovered: int = 0
    #: dead letters in the store, and those lost because the store stayed unreachable past the memory bound
    dead_letters_stored: int = 0
    dead_letters_lost: int = 0
    #: events handed to the router, by the transport (``WellEvent.source``) that delivered them
    events_by_source: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TimestampWindow:
    """Plausible event timestamps around the service's clock: ``now - max_age_s`` to ``now + max_future_s``.

    A timestamp outside it is bad input (dead letter + ``opt_error``): one far-future point would otherwise
    become the newest sample of a well and age every real sample out of its buffer window, and one beyond the
    64-bit range would break every later read of the buffer. The default past bound (10 years) also catches
    timestamps sent in seconds instead of milliseconds (they read as January 1970)."""

    max_age_s: float = 10 * 365.25 * 86_400
    max_future_s: float = 3_600.0

    def check(self, ts_ms: int, now_ms: int) -> None:
        """Raise :class:`EventError` naming the bound when ``ts_ms`` is implausible."""
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise EventError(f"ts {ts_ms!r} is not an integer number of epoch milliseconds")
        if ts_ms > now_ms + self.max_future_s * 1000:
            raise EventError(f"ts {ts_ms} is more than {self.max_future_s:g} s ahead of the service clock ({now_ms})")
        if ts_ms < now_ms - self.max_age_s * 1000:
            hint = " (seconds instead of milliseconds?)" if 0 < ts_ms * 1000 <= now_ms + self.max_future_s * 1000 else ""
            raise EventError(f"ts {ts_ms} is more than {self.max_age_s:g} s before the service clock ({now_ms}){hint}")


#: Longest telemetry key accepted.
MAX_KEY_CHARS = 256


def validate_telemetry(values: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """Split telemetry into finite numbers and other values; raise :class:`EventError` on a key that is not a
    printable name, NaN, infinity, or a value outside its physical range (negative rate, fraction above 1, ...)."""
    numbers: dict[str, float] = {}
    others: dict[str, Any] = {}
    if not values:
        raise EventError("telemetry event carries no values")
    for key, value in values.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            raise EventError(f"telemetry key {key!r:.80} is not a printable name of 1 to {MAX_KEY_CHARS} characters")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            others[key] = value
            continue
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range (JSON allows any number of digits)
            raise EventError(f"{key} is not a finite number ({str(value)[:40]}...)") from None
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
        timestamp_window: TimestampWindow | None = TimestampWindow(),
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.registry = registry
        #: Plausible timestamps (None: no check); ``clock_ms`` is the service clock (default: the real one).
        self.timestamp_window = timestamp_window
        self.clock_ms = clock_ms or now_ms
        #: Operator alarm actions of a well (ALARM_ACK / ALARM_CLEAR events and ``alarm_operator_request``
        #: attribute updates) go here, e.g. the service's AlarmBank handling; ignored when None. The hook
        #: raises :class:`EventError` for a malformed request (dead letter + ``opt_error``).
        self.alarm_hook = alarm_hook
        #: ``setpoint_approval`` attribute updates of a well go here (the service's SetpointControl); ignored when
        #: None. The hook raises :class:`EventError` for a malformed approval (dead letter + ``opt_error``).
        self.approval_hook: Callable[[WellEvent], None] | None = None
        #: With replicas sharing a field (:mod:`tb_bridge.ownership`): True when this replica owns the event's well.
        #: Configuration goes into every replica's registry; the side effects of an event (operator alarm actions,
        #: setpoint approvals, what-if parameters) happen only on the owner. None: this replica owns every well.
        self.owns: Callable[[WellEvent], bool] | None = None
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
        # samples / dead letters waiting for their backend to come back, and when to try it next
        self._pending_samples: deque[tuple[str, int, dict[str, float], WellEvent]] = deque()
        self._pending_dead_letters: deque[tuple[str, str, str, str | None]] = deque()
        self._buffer_retry = _Backoff()
        self._store_retry = _Backoff()
        self._sample_flush = threading.Lock()
        self._dead_letter_flush = threading.Lock()

    # -- public -------------------------------------------------------------------------------
    def handle(self, event: WellEvent) -> None:
        """Route one event. Never raises for bad input."""
        self._route(event, self._append)

    def handle_batch(self, events: Sequence[WellEvent]) -> None:
        """Route events in order, as :meth:`handle` would one by one, but with the numeric telemetry among them
        appended to the buffer in one ``append_many`` (one Redis call for many wells; a batching transport such as
        Kafka calls this). Other events are routed one by one where they stand; never raises for bad input."""
        samples: list[tuple[WellEvent, dict[str, float]]] = []
        collect = lambda event, numbers: samples.append((event, numbers))  # noqa: E731
        for event in events:
            if event.kind is EventKind.TELEMETRY and not is_asset_event(event):
                self._route(event, collect)
                continue
            self._append_batch(samples)
            samples.clear()
            self._route(event, self._append)
        self._append_batch(samples)

    def _route(self, event: WellEvent, append: Callable[[WellEvent, dict[str, float]], None]) -> None:
        """Dispatch one event; a telemetry event's numbers go to ``append`` (the buffer now, or a batch). Bad input
        and bugs become a dead letter with its reason, never an exception."""
        with self._lock:
            by_source = self.stats.events_by_source
            by_source[event.source] = by_source.get(event.source, 0) + 1
        try:
            if self.timestamp_window is not None and (event.ts_ms != 0 or event.kind is EventKind.TELEMETRY):
                self.timestamp_window.check(event.ts_ms, self.clock_ms())
            if is_asset_event(event):
                self._asset(event)
            elif event.kind is EventKind.TELEMETRY:
                prepared = self._telemetry_numbers(event)
                if prepared is not None:
                    append(*prepared)
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
        """For transports: a payload that could not even become a WellEvent (kept capped and escaped)."""
        try:
            self._dead_letter(source, payload, reason, None)
        except Exception:  # never raise into a transport thread
            log.exception("dead letter of %s could not be kept", source)

    def retry_pending(self) -> None:
        """Append held telemetry and store held dead letters now if their backends answer (the tiers call this
        before they read the buffer; every new event also tries, at most once per backoff delay)."""
        self._flush_pending_samples(force=True)
        self._flush_pending_dead_letters(force=True)

    @property
    def pending(self) -> dict[str, int]:
        """How many samples and dead letters wait in memory for their backend."""
        with self._lock:
            return {"samples": len(self._pending_samples), "dead_letters": len(self._pending_dead_letters)}

    def latest_text(self, well_id: str) -> dict[str, Any]:
        """Newest non-numeric telemetry per key (e.g. ``surface_card``) for a well."""
        with self._lock:
            return dict(self._latest_text.get(well_id, {}))

    # -- internals ----------------------------------------------------------------------------
    def _telemetry_numbers(self, event: WellEvent) -> tuple[WellEvent, dict[str, float]] | None:
        """Validate one telemetry event: text values to the latest-values map, own keys dropped; returns the
        event and its numbers to append (None when it has none). Raises EventError for bad values."""
        own = [k for k in event.values if isinstance(k, str) and is_own_key(k)]
        if own:  # our own results routed back as telemetry (any transport): never buffered, never re-used
            values = {k: v for k, v in event.values.items() if k not in own}
            with self._lock:
                self.stats.own_writes_dropped += 1
            if not values:
                return None
            event = WellEvent(event.kind, event.well_id, event.ts_ms, values, event.well_name, event.device_type,
                              event.scope, event.source, event.metadata)
        numbers, others = validate_telemetry(event.values)
        with self._lock:
            if others:
                self._latest_text.setdefault(event.well_id, {}).update(others)
            self.stats.telemetry += 1
        return (event, numbers) if numbers else None

    def _attributes(self, event: WellEvent) -> None:
        values = {k: v for k, v in event.values.items() if not is_own_key(k)}
        if not values or self.loop_guard.is_own(event):
            with self._lock:
                self.stats.own_writes_dropped += 1
            return
        if self.owns is not None and not self.owns(event):  # another replica acts on it; the config is kept
            values = {k: v for k, v in values.items()
                      if k not in (ALARM_REQUEST_KEY, APPROVAL_KEY) and not k.startswith(SIM_PARAM_PREFIX)}
        if ALARM_REQUEST_KEY in values and event.kind is EventKind.ATTRIBUTES_UPDATED:
            self._alarm_action(WellEvent(event.kind, event.well_id, event.ts_ms,
                                         {ALARM_REQUEST_KEY: values[ALARM_REQUEST_KEY]}, event.well_name,
                                         event.device_type, event.scope, event.source, event.metadata))
        if APPROVAL_KEY in values and event.kind is EventKind.ATTRIBUTES_UPDATED and self.approval_hook is not None:
            self.approval_hook(WellEvent(event.kind, event.well_id, event.ts_ms, {APPROVAL_KEY: values[APPROVAL_KEY]},
                                         event.well_name, event.device_type, event.scope, event.source, event.metadata))
        values = {k: v for k, v in values.items() if k not in (ALARM_REQUEST_KEY, APPROVAL_KEY)}
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
        if self.alarm_hook is None or (self.owns is not None and not self.owns(event)):
            return
        self.alarm_hook(event)
        with self._lock:
            self.stats.alarm_actions += 1

    def _asset(self, event: WellEvent) -> None:
        values = {k: v for k, v in event.values.items() if not is_own_key(k)}
        if not values or self.loop_guard.is_own(event):
            with self._lock:
                self.stats.own_writes_dropped += 1
            return
        if self.asset_hook is None:
            return
        self.asset_hook(WellEvent(event.kind, event.well_id, event.ts_ms, values, event.well_name,
                                  event.device_type, event.scope, event.source, event.metadata))

    def _append(self, event: WellEvent, numbers: dict[str, float]) -> None:
        """Append to the buffer; while it is unreachable, hold the sample in memory (bounded) and retry."""
        self._flush_pending_samples()
        with self._lock:
            held = bool(self._pending_samples)
            if held:  # keep the order: behind the samples already waiting
                self._hold_sample(event, numbers)
        if held:
            return
        try:
            self.buffer.append(event.well_id, event.ts_ms, numbers)
        except BufferUnavailableError as exc:
            with self._lock:
                self._buffer_retry.failed()
                self._hold_sample(event, numbers)
            _bad_input_log.warning("buffer", "buffer unreachable, telemetry held in memory: %s", exc)

    def _append_batch(self, samples: Sequence[tuple[WellEvent, dict[str, float]]]) -> None:
        """:meth:`_append` for many samples in one ``append_many``; while the buffer is unreachable they are held
        in memory in order, as single samples are."""
        if not samples:
            return
        self._flush_pending_samples()
        with self._lock:
            held = bool(self._pending_samples)
            if held:
                for event, numbers in samples:
                    self._hold_sample(event, numbers)
        if held:
            return
        try:
            self.buffer.append_many([(event.well_id, event.ts_ms, numbers) for event, numbers in samples])
        except BufferUnavailableError as exc:  # appends are idempotent: a partly applied batch is retried whole
            with self._lock:
                self._buffer_retry.failed()
                for event, numbers in samples:
                    self._hold_sample(event, numbers)
            _bad_input_log.warning("buffer", "buffer unreachable, telemetry held in memory: %s", exc)
        except Exception:  # a sample the buffer refuses must not lose the batch: each goes alone, as handle() would
            log.exception("batched append failed; appending the %d samples one by one", len(samples))
            for event, numbers in samples:
                try:
                    self._append(event, numbers)
                except Exception as exc:
                    self._reject(event, f"internal error: {type(exc).__name__}: {exc}")

    def _hold_sample(self, event: WellEvent, numbers: dict[str, float]) -> None:
        """(lock held) Queue one sample; beyond the bound the oldest goes to the dead-letter table."""
        self._pending_samples.append((event.well_id, event.ts_ms, numbers, event))
        self.stats.samples_held += 1
        if len(self._pending_samples) > PENDING_SAMPLES_MAX and not self._sample_flush.locked():
            _, _, _, oldest = self._pending_samples.popleft()
            self.stats.dead_lettered += 1
            self._pending_dead_letters.append((oldest.source, payload_text(oldest.to_dict()),
                                               "buffer unreachable and its in-memory queue full", oldest.well_id))

    def _flush_pending_samples(self, force: bool = False) -> None:
        """Append the held samples in one batch (one flusher at a time; only it removes them from the queue)."""
        with self._lock:
            if not self._pending_samples or not (force or self._buffer_retry.due()):
                return
        if not self._sample_flush.acquire(blocking=False):
            return
        try:
            with self._lock:
                batch = list(self._pending_samples)
            try:
                self.buffer.append_many((well_id, ts_ms, numbers) for well_id, ts_ms, numbers, _ in batch)
            except BufferUnavailableError:
                with self._lock:
                    self._buffer_retry.failed()
                return
            with self._lock:
                for _ in range(len(batch)):  # new samples were only appended on the right meanwhile
                    self._pending_samples.popleft()
                self.stats.samples_recovered += len(batch)
                self._buffer_retry.succeeded()
            log.info("buffer reachable again: %d held telemetry samples appended", len(batch))
        finally:
            self._sample_flush.release()

    def _reject(self, event: WellEvent, reason: str) -> None:
        entry = self.registry.get(event.well_id) if event.well_id else None
        name = event.well_name or (entry.name if entry is not None else None)
        about = f" for well {well_label(event.well_id, name)}" if event.well_id else ""
        if event.well_id and reason.startswith(f"well {well_label(event.well_id, name)}: "):
            about = ""  # the reason names the well already
        _bad_input_log.warning(event.source, "dead-lettered %s event%s: %s", event.kind.value, about, reason)
        self._dead_letter(event.source, event.to_dict(), reason, event.well_id)
        if event.well_id:
            try:
                self.report_error(event.well_id, reason)
            except Exception:  # reporting must not lose the event, which is already kept
                log.exception("could not write opt_error for %s", event.well_id)

    def _dead_letter(self, source: str, payload: Any, reason: str, well_id: str | None) -> None:
        """Keep a rejected payload (capped and escaped once, here, for every transport). While the store is
        unreachable it waits in memory (bounded) and is stored at the next successful attempt."""
        text = payload_text(payload)
        with self._lock:
            self.stats.dead_lettered += 1
            self._pending_dead_letters.append((source, text, reason, well_id))
            while len(self._pending_dead_letters) > PENDING_DEAD_LETTERS_MAX:
                lost = self._pending_dead_letters.popleft()
                self.stats.dead_letters_lost += 1
                log.error("dead-letter queue full; dropped the oldest dead letter (%s: %s)", lost[0], lost[2])
        self._flush_pending_dead_letters()

    def _flush_pending_dead_letters(self, force: bool = False) -> None:
        """Store the held dead letters in order (one flusher at a time; others leave it to that one)."""
        with self._lock:
            if not self._pending_dead_letters or not (force or self._store_retry.due()):
                return
        if not self._dead_letter_flush.acquire(blocking=False):
            return
        try:
            while True:
                with self._lock:
                    if not self._pending_dead_letters:
                        break
                    source, text, reason, well_id = self._pending_dead_letters[0]
                try:
                    self.dead_letters.dead_letter(source=source, payload=text, error=reason, well_id=well_id)
                except Exception as exc:
                    with self._lock:
                        self._store_retry.failed()
                        waiting = len(self._pending_dead_letters)
                    _bad_input_log.warning("dead-letter store", "dead-letter store failed (%s: %s); %d dead letters "
                                           "held in memory and retried", type(exc).__name__, exc, waiting)
                    break
                with self._lock:
                    self._pending_dead_letters.popleft()
                    self._store_retry.succeeded()
                    self.stats.dead_letters_stored += 1
        finally:
            self._dead_letter_flush.release()


def is_asset_event(event: WellEvent) -> bool:
    """True for an event about a ThingsBoard asset (transports set metadata ``entityType=ASSET``)."""
    return event.metadata.get("entityType") == "ASSET"


def now_ms() -> int:
    return int(time.time() * 1000)


class _Backoff:
    """When to try an unreachable backend next: delays doubling from RETRY_FIRST_S to RETRY_MAX_S."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.next_try = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.next_try

    def failed(self) -> None:
        self.delay_s = min(RETRY_MAX_S, max(RETRY_FIRST_S, self.delay_s * 2))
        self.next_try = time.monotonic() + self.delay_s

    def succeeded(self) -> None:
        self.delay_s, self.next_try = 0.0, 0.0
