"""Longer telemetry history read from ThingsBoard's REST API (tb-rest-client), for engines that need
more than the 24 h buffer (decline-curve analysis: up to 180 days of ``flow_rate_bpd``).

``GET /api/plugins/telemetry/DEVICE/{id}/values/timeseries?keys=&startTs=&endTs=&limit=&orderBy=DESC``
returns at most ``limit`` points with ``startTs <= ts < endTs`` (ThingsBoard's SQL DAO bounds), newest
first; we page backwards in time (next ``endTs`` = oldest timestamp received) until the window or
``max_points`` (10,000) is exhausted.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

DAY_MS = 86_400_000


class ThingsBoardHistory:
    """Reads time series of devices; logs in lazily and again when the token has expired."""

    def __init__(self, base_url: str, username: str, password: str, *, page_size: int = 1000,
                 max_points: int = 10_000, clock_ms: Callable[[], int] | None = None, timeout_s: float = 10.0) -> None:
        if page_size < 1 or max_points < 1:
            raise ValueError("page_size and max_points must be positive")
        self.base_url = base_url.rstrip("/")
        self._username, self._password = username, password
        self.page_size, self.max_points = page_size, max_points
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def _rest(self):
        from tb_rest_client.rest_client import RestClient

        with self._lock:
            if self._client is None:
                client = RestClient(self.base_url, timeout=(self._timeout_s, self._timeout_s))
                client.login(self._username, self._password)
                self._client = client
            return self._client

    def series(self, entity_id: str, key: str, days: float, end_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ts_ms ascending, values)`` of ``key`` over the last ``days`` (non-numeric values dropped)."""
        from tb_rest_client.models.entity_id import EntityId

        client = self._rest()
        end = self._clock_ms() if end_ms is None else end_ms
        start = end - int(days * DAY_MS)
        points: dict[int, float] = {}
        upper = end + 1  # endTs is exclusive: include a point stamped exactly `end`
        while len(points) < self.max_points and upper > start:
            limit = min(self.page_size, self.max_points - len(points))
            page = client.get_timeseries(EntityId(entity_id, "DEVICE"), start_ts=start, end_ts=upper, keys=key,
                                         limit=limit, order_by="DESC", use_strict_data_types=True)
            rows = page.get(key) or []
            for row in rows:
                ts, value = _ts_value(row)
                try:
                    points[int(ts)] = float(value)
                except (TypeError, ValueError):
                    continue
            if len(rows) < limit:
                break
            upper = min(int(_ts_value(r)[0]) for r in rows)
        ts_ms = np.array(sorted(points), dtype=np.int64)
        return ts_ms, np.array([points[t] for t in ts_ms], dtype=float)


def _ts_value(row) -> tuple[int, object]:
    if isinstance(row, dict):
        return int(row["ts"]), row.get("value")
    return int(row.ts), row.value
