"""Log lines a sender can provoke (one per bad message) are rate-limited, so nobody can flood the log.

:class:`RateLimitedLog` lets at most ``burst`` lines through per ``period_s`` and category; the lines it holds
back are counted and reported in one summary line when the next period opens.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable


class RateLimitedLog:
    """``warning(category, msg, *args)``: log through ``logger`` unless the category's budget is spent."""

    def __init__(self, logger: logging.Logger, *, burst: int = 20, period_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or period_s <= 0:
            raise ValueError("burst must be >= 1 and period_s > 0")
        self._logger, self._burst, self._period_s, self._clock = logger, int(burst), float(period_s), clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # category -> (window start, lines, suppressed)
        self._lock = threading.Lock()
        self.suppressed = 0

    def warning(self, category: str, msg: str, *args: Any) -> bool:
        """Log one warning line; returns False when it was held back."""
        now = self._clock()
        with self._lock:
            start, lines, held = self._windows.get(category, (now, 0, 0))
            if now - start >= self._period_s:
                if held:
                    self._logger.warning("%d more %s lines suppressed in the last %.0f s", held, category,
                                         self._period_s)
                start, lines, held = now, 0, 0
            if lines >= self._burst:
                self._windows[category] = (start, lines, held + 1)
                self.suppressed += 1
                return False
            self._windows[category] = (start, lines + 1, held)
        self._logger.warning(msg, *args)
        return True
