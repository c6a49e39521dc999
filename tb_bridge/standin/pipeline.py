"""The stand-in's message pipeline: an ordered queue of :class:`TbMsg` with subscribers.

ThingsBoard hands every message to its root rule chain; here each subscriber (the in-process transport,
the Edge server's push-to-edge step, the MQTT publish step, the next issue's rule-chain runner) receives
every message in publication order, on one dispatcher thread, so a slow subscriber never blocks the
REST or MQTT ingress that produced the message.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from tb_bridge.standin.messages import TbMsg

log = logging.getLogger(__name__)

Subscriber = Callable[[TbMsg], None]

_STOP = object()


class MessagePipeline:
    """Publish/subscribe with one dispatcher thread (started on the first subscription)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._published = 0
        self._dispatched = 0
        self._idle = threading.Condition()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it."""
        with self._lock:
            self._subscribers = [*self._subscribers, callback]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="standin-pipeline", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not callback]

        return unsubscribe

    def publish(self, msg: TbMsg) -> None:
        """Queue ``msg`` for every subscriber (never blocks)."""
        with self._idle:
            self._published += 1
        self._queue.put(msg)

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Block until every published message has been dispatched (True) or the timeout passes."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._dispatched >= self._published or self._thread is None, timeout=timeout_s
            )

    def close(self) -> None:
        """Stop the dispatcher thread after the queued messages."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout=5.0)
        self._thread = None

    def _run(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is _STOP:
                return
            for callback in self._subscribers:
                try:
                    callback(msg)
                except Exception:  # a subscriber's bug must not stop the pipeline
                    log.exception("pipeline subscriber %r failed on %s", callback, msg.type)
            with self._idle:
                self._dispatched += 1
                self._idle.notify_all()
