"""Longer telemetry history read from ThingsBoard's REST API (tb-rest-client), for engines that need
more than the 24 h buffer (decline-curve analysis: up to 180 days of ``flow_rate_bpd``).

``GET /api/plugins/telemetry/DEVICE/{id}/values/timeseries?keys=&startTs=&endTs=&limit=&orderBy=DESC``
returns at most ``limit`` points with ``startTs <= ts < endTs`` (ThingsBoard's SQL DAO bounds), newest
first; we page backwards in time (next ``endTs`` = oldest timestamp received) until the window or
``max_points`` (10,000) is exhausted. Several keys of one device are read together (``keys=a,b,c``:
ThingsBoard applies ``limit`` to each key), one request per page for all of them.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

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
        return self.series_many(entity_id, [key], days, end_ms)[key]

    def series_many(self, entity_id: str, keys: Sequence[str], days: float,
                    end_ms: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{key: (ts_ms ascending, values)}`` of several keys over the last ``days``, read together: one request
        per page for all the keys still being paged (``keys=a,b,c``; ThingsBoard applies ``limit`` to each key).

        Each key gets what :meth:`series` alone would return: its newest ``max_points`` points in the window.
        A key whose page came back short is complete; the others page on from the newest of their oldest
        timestamps (a key that reached further back may see points again: they are deduplicated)."""
        from tb_rest_client.models.entity_id import EntityId

        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        client = self._rest()
        end = self._clock_ms() if end_ms is None else end_ms
        start = end - int(days * DAY_MS)
        points: dict[str, dict[int, float]] = {k: {} for k in keys}
        oldest: dict[str, int] = {}  # per key still paging: the oldest timestamp received so far
        active = list(keys)
        upper = end + 1  # endTs is exclusive: include a point stamped exactly `end`
        while active and upper > start:
            limit = min(self.page_size, max(self.max_points - len(points[k]) for k in active))
            page = client.get_timeseries(EntityId(entity_id, "DEVICE"), start_ts=start, end_ts=upper,
                                         keys=",".join(active), limit=limit, order_by="DESC",
                                         use_strict_data_types=True)
            still = []
            for key in active:
                rows = page.get(key) or []
                for row in rows:
                    ts, value = _ts_value(row)
                    try:
                        points[key][int(ts)] = float(value)
                    except (TypeError, ValueError):
                        continue
                if len(rows) >= limit and len(points[key]) < self.max_points:
                    oldest[key] = min(int(_ts_value(r)[0]) for r in rows)
                    still.append(key)
            active = still
            if active:
                upper = max(oldest[k] for k in active)
        out = {}
        for key in keys:
            ts_ms = np.array(sorted(points[key])[-self.max_points:], dtype=np.int64)
            out[key] = (ts_ms, np.array([points[key][t] for t in ts_ms], dtype=float))
        return out


def _ts_value(row) -> tuple[int, object]:
    if isinstance(row, dict):
        return int(row["ts"]), row.get("value")
    return int(row.ts), row.value
