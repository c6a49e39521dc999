"""uvicorn in a background thread, with a free port when asked for port 0."""
from __future__ import annotations

import threading
import time

import uvicorn


class HttpServerThread:
    """Runs an ASGI app with uvicorn in a daemon thread; :meth:`start` returns once it listens."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="off", loop="asyncio", http="h11", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="standin-http", daemon=True)
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"HTTP server failed to start on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                raise TimeoutError("HTTP server did not start in time")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]

    def stop(self, *, abort: bool = False) -> None:
        """Stop serving; ``abort``: drop the open connections at once, in-flight requests unanswered (a
        server that crashes), instead of letting them finish."""
        self._server.force_exit = abort
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
