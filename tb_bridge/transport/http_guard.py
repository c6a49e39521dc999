"""Slow-client protection for uvicorn's h11 server: read deadlines and a connection cap.

uvicorn (h11) has a keep-alive timeout between requests but no deadline for reading a request: a client that opens
a socket and sends half a header (slowloris), or trickles a body a byte at a time, holds the connection, a file
descriptor and its buffers for ever. :func:`guarded_h11_protocol` returns an ``H11Protocol`` subclass that adds

- a **head deadline**: the request line and headers must be complete ``header_timeout_s`` after the connection
  opened (or after the first byte of the next request on a kept-alive connection);
- a **body deadline**: the body must be complete ``body_timeout_s`` after the head (the clock does not run out
  while the server itself has paused reading because the application has not consumed the body yet);
- a **connection cap**: a connection beyond ``max_connections`` open ones is answered 503 and closed at once.

A connection whose deadline passes is answered ``408 Request Timeout`` (when no response was started) and closed;
the application sees a client disconnect. Idle kept-alive connections stay under uvicorn's own
``timeout_keep_alive``; the TLS handshake (before the HTTP protocol sees the connection) under asyncio's
``ssl_handshake_timeout`` (60 s).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: 15\r\nconnection: close\r\n\r\nRequest Timeout")
_TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
             b"content-length: 19\r\nconnection: close\r\n\r\nService Unavailable")


@dataclass(frozen=True)
class HttpLimits:
    """Deadlines (seconds) and the cap on open connections that :func:`guarded_h11_protocol` enforces."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512

    def __post_init__(self) -> None:
        if not (self.header_timeout_s > 0 and self.body_timeout_s > 0):
            raise ValueError("header_timeout_s and body_timeout_s must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


@dataclass
class GuardCounters:
    """What the guard did since start (read from any thread)."""

    head_timeouts: int = 0
    body_timeouts: int = 0
    rejected_connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the head/body deadlines and the connection cap of :attr:`limits`."""

    limits: HttpLimits = HttpLimits()
    counters: GuardCounters | None = None

    _phase: str | None = None
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._count("rejected_connections")
            log.warning("HTTP connection from %s refused: %d connections open (max_connections)",
                        _peer(self.client), len(self.connections) - 1)
            transport.write(_TOO_MANY)
            transport.close()
            return
        self._follow()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # a pipelined request may already be (partly) buffered

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_phase(None)
        super().connection_lost(exc)

    # --- deadlines -----------------------------------------------------------------------------------
    def _follow(self) -> None:
        """Arm the deadline of the phase the client is in (a phase keeps its deadline until it ends)."""
        if self.transport is None or self.transport.is_closing():
            phase = None
        elif self.conn.their_state is h11.SEND_BODY:
            phase = "body"
        elif self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is None:
            phase = "head"  # a new connection, or bytes of the next request on a kept-alive one
        else:
            phase = None  # request complete (the application is answering), or idle under keep-alive
        if phase != self._phase:
            self._set_phase(phase)

    def _set_phase(self, phase: str | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None:
            timeout = self.limits.header_timeout_s if phase == "head" else self.limits.body_timeout_s
            self._deadline = self.loop.call_later(timeout, self._expired, phase)

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing() or phase != self._phase:
            return
        if phase == "body" and self.flow is not None and self.flow.read_paused:
            # the server stopped reading (the application has not consumed the body yet): not the client's fault
            self._set_phase(phase)
            return
        self._phase = None
        self._count("head_timeouts" if phase == "head" else "body_timeouts")
        timeout = self.limits.header_timeout_s if phase == "head" else self.limits.body_timeout_s
        log.info("HTTP connection from %s closed: request %s not complete within %g s", _peer(self.client), phase,
                 timeout)
        # in the head phase `cycle` is the previous request's (answered) one, if any
        cycle = self.cycle if phase == "body" else None
        if cycle is None or not cycle.response_started:
            self.transport.write(_REQUEST_TIMEOUT)
        if cycle is not None:  # the application waits for the rest of the body: it gets a disconnect
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _count(self, name: str) -> None:
        if self.counters is not None:
            self.counters.add(name)


def guarded_h11_protocol(limits: HttpLimits, counters: GuardCounters | None = None) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass bound to ``limits`` and ``counters``, for ``uvicorn.Config(http=)``."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits, "counters": counters})


def _peer(client: tuple[str, int] | None) -> str:
    return "%s:%d" % client if client else "?"
