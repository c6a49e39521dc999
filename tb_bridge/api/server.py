"""Serving the API: uvicorn in a background thread behind the REST ingress's slow-client guard
(:mod:`tb_bridge.transport.http_guard`: head and body read deadlines, a connection cap), HTTPS from
``api.tls_*``; and `atilax api serve`, the API alone over a service that runs no transport and no scheduler."""
from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any

from tb_bridge.config import ApiSettings, Settings
from tb_bridge.transport.http_guard import GuardCounters, HttpLimits, guarded_h11_protocol
from tb_bridge.transport.tls import server_context

log = logging.getLogger(__name__)


class ApiServer:
    """``app`` served on ``settings.host``/``settings.port`` (port 0: a free one, see :attr:`port` after
    :meth:`start`) until :meth:`stop`."""

    def __init__(self, app: Any, settings: ApiSettings) -> None:
        self.app, self.settings = app, settings
        self.host, self.port = settings.host, settings.port
        self.guard = GuardCounters()
        if settings.tls_cert_file:  # unreadable TLS files fail here, naming the setting
            server_context("api.", cert_file=settings.tls_cert_file, key_file=settings.tls_key_file,
                           ca_file=settings.tls_ca_file)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.settings.tls_cert_file else 'http'}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Listen, then return; raises ``RuntimeError`` when the port cannot be bound in ``timeout_s``."""
        import uvicorn

        api = self.settings
        tls: dict[str, Any] = {}
        if api.tls_cert_file:
            tls = {"ssl_certfile": api.tls_cert_file, "ssl_keyfile": api.tls_key_file, "ssl_ca_certs": api.tls_ca_file,
                   "ssl_cert_reqs": ssl.CERT_REQUIRED if api.tls_ca_file else ssl.CERT_NONE}
        limits = HttpLimits(header_timeout_s=api.header_timeout_s, body_timeout_s=api.body_timeout_s,
                            max_connections=api.max_connections)
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", access_log=False,
                                lifespan="off", loop="asyncio", http=guarded_h11_protocol(limits, self.guard),
                                timeout_keep_alive=api.keep_alive_timeout_s,  # type: ignore[arg-type]
                                h11_max_incomplete_event_size=api.max_header_bytes, timeout_graceful_shutdown=5,
                                **tls)
        listener = self._listen()
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]}, name="atilax-api",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API could not listen on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = next(s for srv in self._server.servers for s in srv.sockets).getsockname()[1]
        log.info("API listening on %s", self.base_url)

    def _listen(self) -> socket.socket:
        """The listening socket, bound here so a taken port is an error of :meth:`start`, not of the server thread.
        Made with ``IPPROTO_TCP`` as asyncio makes its own: asyncio turns Nagle off (TCP_NODELAY) only on sockets
        of that protocol, and with Nagle on, an answer's head and body wait for the client's delayed ACK (~40 ms)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(2048)
        except OSError as exc:
            listener.close()
            raise RuntimeError(f"the API could not listen on {self.host}:{self.port} ({exc.strerror or exc})") from None
        return listener

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10.0)


def start_api(service: Any, settings: Settings) -> ApiServer:
    """Build the API over ``service`` and serve it; ``ValueError`` (one line for the command line) without keys and
    ``allow_no_auth``, or when ``api.host``/``api.port`` cannot be bound."""
    from tb_bridge.api.app import create_app

    if settings.api.allow_no_auth and not settings.api.keys:
        log.warning("the API serves every route WITHOUT authentication (api.allow_no_auth)")
    server = ApiServer(create_app(service, settings), settings.api)
    try:
        server.start()
    except RuntimeError as exc:  # the port is taken, or the address is not ours
        raise ValueError(f"{exc}: check api.host / api.port") from None
    return server


def serve_alone(settings: Settings, stop: threading.Event | None = None) -> int:
    """`atilax api serve`: a service without transport or scheduler (its registry loaded from ThingsBoard in the
    background, the configured buffer and history store), with the API over it, until ``stop`` or a signal."""
    import signal

    from tb_bridge.runner import build_writeback, connect_thingsboard
    from tb_bridge.service import Service
    from tb_bridge.startup import StartupState, connect_until_ready
    from tb_bridge.tb_history import ThingsBoardHistory

    if settings.writeback != "rest":
        raise ValueError("`atilax api serve` writes back over REST (writeback = rest); with the gRPC writeback, "
                         "serve the API from `atilax run` (api.enabled = true)")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    tb = settings.tb
    service = Service(settings, build_writeback(settings, None),
                      history_reader=ThingsBoardHistory(tb.url, tb.username, tb.password.get_secret_value()))
    state = StartupState()
    connector = threading.Thread(target=connect_until_ready, name="atilax-tb-connect", daemon=True,
                                 args=(lambda: connect_thingsboard(settings, service, None, stop), state, stop,
                                       (1.0, 60.0)))
    server = None
    try:
        server = start_api(service, settings)
        connector.start()
        stop.wait()
    finally:
        stop.set()
        if server is not None:
            server.stop()
        if connector.is_alive():
            connector.join(timeout=2 * tb.request_timeout_s + 5.0)
        service.close()
    return 2 if state.state == "refused" else 0
