"""Who may call the API and how often: API keys (``X-API-Key`` or ``Authorization: Bearer``) compared in
constant time, and a per-client token bucket (the key's index, else the peer address, names the client)."""
from __future__ import annotations

import hmac
import threading
import time
from typing import Callable


class Unauthorized(Exception):
    """No or a wrong API key."""


class RateLimited(Exception):
    """The client spent its requests; ``retry_after_s`` until the next one."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class ApiKeys:
    """The configured keys; :meth:`client` names the caller of a request or raises :class:`Unauthorized`.

    Every key is compared (``hmac.compare_digest``) whatever matched, so the time taken says nothing about
    which key or how much of it was right. No keys: every caller is accepted (``allow_no_auth``)."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [key.encode("utf-8") for key in keys]

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def client(self, api_key: str | None, authorization: str | None, peer: str) -> str:
        if not self._keys:
            return f"addr:{peer}"
        offered = api_key
        if offered is None and authorization:
            scheme, _, credentials = authorization.partition(" ")
            offered = credentials.strip() if scheme.lower() == "bearer" else None
        if not offered:
            raise Unauthorized("an API key is required (X-API-Key or Authorization: Bearer)")
        given = offered.encode("utf-8", "surrogateescape")
        match = -1
        for index, key in enumerate(self._keys):
            if hmac.compare_digest(given, key) and match < 0:
                match = index
        if match < 0:
            raise Unauthorized("wrong API key")
        return f"key:{match}"


class RateLimiter:
    """``per_minute`` requests per client, refilled continuously (a token bucket of that size).

    At most ``max_clients`` buckets are kept; when full, the buckets that have refilled are dropped first."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, client: str) -> None:
        """Take one request from ``client``'s bucket or raise :class:`RateLimited`."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate_per_s)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                raise RateLimited((1.0 - tokens) / self.rate_per_s)
            if client not in self._buckets and len(self._buckets) >= self._max_clients:
                self._evict(now)
            self._buckets[client] = (tokens - 1.0, now)

    def _evict(self, now: float) -> None:
        full = [c for c, (t, last) in self._buckets.items() if t + (now - last) * self.rate_per_s >= self.capacity]
        for client in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[client]
