"""Reaching ThingsBoard at start without holding the service up: the startup state and the retry loop.

`atilax run` serves its ingress and runs its scheduler at once; a background thread logs in and loads the well
inventory when ThingsBoard answers, retrying with a capped doubling backoff (1 s to 60 s by default). ThingsBoard
down, or a password it rejects (an operator may fix it in ThingsBoard), is one log line per attempt, never a
traceback, and is shown by :class:`StartupState` (the REST ingress's health answer includes it).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Literal

log = logging.getLogger(__name__)

State = Literal["connecting", "auth_failed", "refused", "ready"]


class CredentialsRejected(Exception):
    """ThingsBoard answered 401 to the configured user's login (retried: the password may be fixed there)."""


class SharedUserRefused(Exception):
    """The configured user is not a dedicated service user and ``allow_shared_user`` is off (not retried)."""


class StartupState:
    """Where the start against ThingsBoard stands (thread-safe).

    ``state``: ``connecting`` (not reached yet; retried), ``auth_failed`` (credentials rejected; retried),
    ``refused`` (a shared user; the service stops) or ``ready`` (logged in, inventory loaded); ``last_error``:
    the message of the last failed attempt; ``attempts``; ``retry_in_s``: the wait before the next attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: State = "connecting"
        self.last_error: str | None = None
        self.attempts = 0
        self.retry_in_s: float | None = None
        self.since = time.time()
        self.ready = threading.Event()

    def set(self, state: State, error: str | None = None, retry_in_s: float | None = None) -> None:
        with self._lock:
            if state != self.state:
                self.since = time.time()
            self.state, self.retry_in_s = state, retry_in_s
            if error is not None:
                self.last_error = error
            if state != "ready":
                self.attempts += 1
        if state == "ready":
            self.ready.set()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy: ``{"state", "last_error", "attempts", "since", "retry_in_s"}``."""
        with self._lock:
            return {"state": self.state, "last_error": self.last_error, "attempts": self.attempts,
                    "since": datetime.fromtimestamp(self.since, timezone.utc).isoformat(timespec="seconds"),
                    "retry_in_s": self.retry_in_s}


def connect_until_ready(connect: Callable[[], str], state: StartupState, stop: threading.Event,
                        backoff_s: tuple[float, float] = (1.0, 60.0)) -> None:
    """Call ``connect`` (returns a line for the log) until it succeeds, ``stop`` is set or it raises
    :class:`SharedUserRefused` (then ``stop`` is set). Between attempts wait ``b`` seconds, ``b`` doubling from
    ``backoff_s[0]`` to ``backoff_s[1]``; each failure is one log line (error for rejected credentials)."""
    initial, cap = backoff_s
    if not 0 < initial <= cap:
        raise ValueError("backoff_s must be (initial, cap) with 0 < initial <= cap")
    delay = initial
    while not stop.is_set():
        try:
            summary = connect()
        except SharedUserRefused as exc:
            state.set("refused", str(exc))
            log.error("%s", exc)
            stop.set()
            return
        except CredentialsRejected as exc:
            state.set("auth_failed", str(exc), delay)
            log.error("ThingsBoard rejected the credentials (attempt %d, next in %.0f s): %s", state.attempts, delay,
                      exc)
        except Exception as exc:  # ThingsBoard down, timing out, answering 5xx, or failing mid-inventory
            message = f"{type(exc).__name__}: {exc}"
            state.set("connecting", message, delay)
            log.warning("ThingsBoard not ready (attempt %d, next in %.0f s): %s", state.attempts, delay, message)
        else:
            state.set("ready")
            log.info("ThingsBoard ready: %s", summary)
            return
        if stop.wait(delay):
            return
        delay = min(cap, 2 * delay)
