"""REST ingress: what our rule chain's REST API call node posts (``--transport rest``).

ThingsBoard's ``TbRestApiCallNode`` sends the message body to a URL and routes the message to ``Failure`` on any
non-2xx answer (rule-engine-components ``rest/TbHttpClient``), where our chain logs it. The chain's node
"Envelope for REST" wraps every message in the same JSON envelope as the MQTT branch
(:mod:`tb_bridge.transport.mqtt_envelope`): telemetry, configuration changes, ``sim_param_*`` slider writes,
``alarm_operator_request``, ALARM_ACK / ALARM_CLEAR of Atilax alarms and ``placement_*`` updates of field assets.

One endpoint, ``POST /api/v1/events`` (``Authorization: Bearer <token>``, the body one envelope):

- 200 ``{"status": "accepted"}``: the event was handed to the router (which dead-letters what it cannot use);
- 200 ``{"status": "dropped"}``: the LoopGuard recognized an echo of the service's own write;
- 200 ``{"status": "ignored"}``: a message type the service does not handle;
- 400: the body is not an envelope (not JSON, no ``msgType``, an ``entityId`` that is not a UUID, no ``data``,
  a data body that is not an object ...); the raw body is dead-lettered with the reason;
- 401: no or a wrong bearer token (nothing stored: the sender is unknown);
- 413: a body over ``max_body_bytes``; its head is dead-lettered with the reason;
- 503: the transport is not started.

Before any of these, the connection itself (:mod:`tb_bridge.transport.http_guard`): 408 and close for a request
head or body not complete in time, 503 and close beyond ``max_connections`` open connections, 400 for a head
still incomplete at ``max_header_bytes``. HTTPS (and client certificates) with ``tls_cert_file`` (``tls_ca_file``).

``GET /api/v1/health`` answers ``{"status": "ok"}`` without authentication (probes), plus what
:attr:`RestIngressTransport.health_details` returns (`atilax run`: ``{"thingsboard": {"state": ...}}``).
The handler is a plain function run in FastAPI's thread pool, so a slow sink never blocks the event loop; the
answer is sent after the sink returned (at-least-once, like the MQTT transport's PUBACK).
"""
from __future__ import annotations

import hmac
import json
import logging
import ssl
import threading
import time
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from tb_bridge.events import EventError
from tb_bridge.log_rate import RateLimitedLog
from tb_bridge.transport.base import EventSink, RawDeadLetterSink
from tb_bridge.transport.http_guard import GuardCounters, HttpLimits, guarded_h11_protocol
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.mqtt_envelope import parse_envelope
from tb_bridge.transport.tls import TlsConfigError, server_context

log = logging.getLogger(__name__)
#: one line per rejected payload, at most 20 per 10 s: a sender cannot flood the log
_bad_input_log = RateLimitedLog(log)

EVENTS_PATH = "/api/v1/events"
HEALTH_PATH = "/api/v1/health"


class RestIngressTransport:
    """Serves :data:`EVENTS_PATH` with uvicorn in a background thread and hands WellEvents to the sink.

    ``host``/``port``: where to listen (port 0: a free port, see :attr:`port` after :meth:`start`); ``token``: the
    bearer token the rule chain's REST node sends (required, non-empty); ``loop_guard``: drops echoes of the
    service's own writes (None: deliver everything, the router guards as well); ``max_body_bytes``: larger bodies
    are refused with 413. ``limits``: read deadlines and the connection cap against slow clients
    (:mod:`tb_bridge.transport.http_guard`); ``keep_alive_timeout_s``: an idle kept-alive connection is closed after
    it; ``max_header_bytes``: a larger request head is refused with 400. ``tls_cert_file``/``tls_key_file``: serve
    HTTPS with this certificate (the key may sit in the certificate file); ``tls_ca_file``: also require a client
    certificate signed by this CA (mutual TLS). The files are checked here (:class:`TlsConfigError`).
    """

    name = "rest"

    def __init__(self, host: str = "127.0.0.1", port: int = 8090, *, token: str, loop_guard: LoopGuard | None = None,
                 max_body_bytes: int = 1_000_000, limits: HttpLimits | None = None,
                 keep_alive_timeout_s: float = 30.0, max_header_bytes: int = 16_384,
                 tls_cert_file: str | None = None, tls_key_file: str | None = None,
                 tls_ca_file: str | None = None) -> None:
        if not token:
            raise ValueError("the REST ingress needs a non-empty bearer token (rest_ingress.token)")
        self.host, self.port = host, int(port)
        self.loop_guard = loop_guard
        self.max_body_bytes = int(max_body_bytes)
        self.limits = limits or HttpLimits()
        self.guard = GuardCounters()
        self._keep_alive_timeout_s = float(keep_alive_timeout_s)
        self._max_header_bytes = int(max_header_bytes)
        if (tls_key_file or tls_ca_file) and not tls_cert_file:
            raise TlsConfigError("rest_ingress.tls_key_file / rest_ingress.tls_ca_file need rest_ingress.tls_cert_file")
        if tls_cert_file:
            server_context("rest_ingress.", cert_file=tls_cert_file, key_file=tls_key_file, ca_file=tls_ca_file)
        self._tls = (tls_cert_file, tls_key_file, tls_ca_file) if tls_cert_file else None
        self._token = token.encode("utf-8")
        self._sink: EventSink | None = None
        self._dead_letter: RawDeadLetterSink | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.received = 0
        self.events_delivered = 0
        self.dead_lettered = 0
        self.unauthorized = 0
        #: extra fields of the health answer (e.g. the service's ThingsBoard startup state); None: none
        self.health_details: Callable[[], dict[str, Any]] | None = None
        self.app = self._build_app()

    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    # --- Transport protocol ---------------------------------------------------------------------------
    def start(self, sink: EventSink, dead_letter: RawDeadLetterSink | None = None, timeout_s: float = 10.0) -> None:
        """Listen, then return; raises when the port cannot be bound within ``timeout_s``."""
        import uvicorn

        if self._thread is not None:
            raise RuntimeError("transport already started")
        self._sink, self._dead_letter = sink, dead_letter
        tls: dict[str, Any] = {}
        if self._tls is not None:
            cert_file, key_file, ca_file = self._tls
            tls = {"ssl_certfile": cert_file, "ssl_keyfile": key_file, "ssl_ca_certs": ca_file,
                   "ssl_cert_reqs": ssl.CERT_REQUIRED if ca_file else ssl.CERT_NONE}
        # h11 with read deadlines and a connection cap (uvicorn's own `limit_concurrency` answers 503 but keeps
        # the idle sockets open); `timeout_graceful_shutdown` keeps stop() within its join timeout
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", access_log=False,
                                lifespan="off", loop="asyncio", http=guarded_h11_protocol(self.limits, self.guard),
                                timeout_keep_alive=self._keep_alive_timeout_s,  # type: ignore[arg-type]
                                h11_max_incomplete_event_size=self._max_header_bytes, timeout_graceful_shutdown=5,
                                **tls)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="atilax-rest-ingress", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"REST ingress could not listen on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = next(s for srv in self._server.servers for s in srv.sockets).getsockname()[1]
        log.info("REST ingress listening on %s%s", self.base_url, EVENTS_PATH)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        self._sink = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10.0)

    # --- the app -------------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Atilax REST ingress", docs_url=None, redoc_url=None, openapi_url=None)

        def answer(code: int, body: dict[str, Any]) -> JSONResponse:
            headers = {"WWW-Authenticate": 'Bearer realm="atilax"'} if code == 401 else None
            return JSONResponse(body, status_code=code, headers=headers)

        @app.get(HEALTH_PATH)
        def health() -> JSONResponse:
            details = self.health_details() if self.health_details is not None else {}
            return answer(200, {**details, "status": "ok" if self._sink is not None else "stopped"})

        @app.exception_handler(ClientDisconnect)
        async def client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
            # the client left (or the read deadline closed it) before the body was complete: nothing to answer
            return answer(499, {"error": "client disconnected before the request was complete"})

        @app.post(EVENTS_PATH)
        async def events(request: Request) -> JSONResponse:
            if not self._authorized(request.headers.get("authorization") or ""):
                with self._lock:
                    self.unauthorized += 1
                return answer(401, {"error": "missing or wrong bearer token"})
            # read at most max_body_bytes; a larger body is drained (the sender then reads the answer), its head kept
            parts: list[bytes] = []
            kept = total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if kept <= self.max_body_bytes:
                    parts.append(chunk)
                    kept += len(chunk)
            body = b"".join(parts)
            if total > self.max_body_bytes:
                reason = f"body of {total} bytes exceeds the limit of {self.max_body_bytes}"
                self._reject(body, reason)  # the dead-letter sink keeps its head (one cap for every transport)
                return answer(413, {"error": reason})
            # the sink may block (registry, writeback outbox): run it off the event loop
            return answer(*await run_in_threadpool(self._deliver, body))

        return app

    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("utf-8"), self._token)

    def _deliver(self, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.received += 1
        sink = self._sink
        if sink is None:
            return 503, {"error": "the service is not accepting events"}
        try:
            event = parse_envelope(body, source=self.name)
        except Exception as exc:  # EventError, or a parser bug: 400 either way, and the body is kept
            reason = str(exc) if isinstance(exc, EventError) else f"internal error: {type(exc).__name__}: {exc}"
            self._reject(body, reason)
            return 400, {"error": reason}
        if event is None:
            msg_type = _msg_type(body)
            return 200, {"status": "ignored", "reason": f"message type {msg_type!r} is not handled"}
        if self.loop_guard is not None and not self.loop_guard.admit(event):
            return 200, {"status": "dropped", "reason": "echo of the service's own write"}
        try:
            sink(event)
        except Exception:  # the sink must not raise; the sender's Failure branch keeps the message
            log.exception("event sink failed for %s", event.well_id)
            return 500, {"error": "internal error while routing the event"}
        with self._lock:
            self.events_delivered += 1
        return 200, {"status": "accepted", "entityId": event.well_id, "kind": event.kind.value}

    def _reject(self, payload: bytes, reason: str) -> None:
        with self._lock:
            self.dead_lettered += 1
        _bad_input_log.warning("rest", "REST ingress payload dead-lettered: %s", reason)
        if self._dead_letter is not None:
            try:
                self._dead_letter(self.name, bytes(payload), reason)
            except Exception:
                log.exception("dead-letter sink failed")


def _msg_type(body: bytes) -> Any:
    try:
        return json.loads(body).get("msgType")
    except (ValueError, AttributeError):
        return None
