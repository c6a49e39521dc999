"""Per-well engine state in Redis, so the replica that takes a well over goes on where its last owner stopped.

A well's in-memory state (its alarm bank, anomaly detectors, SPC limits, Pareto fronts, counters: whatever the
handler steps keep between tier runs) is saved after every tier run of its owner and when its partition moves
away; the next owner reads it before it first runs the well. The state is Python objects (dataclasses, NumPy
arrays, fitted scikit-learn models), so it is pickled; a pickle runs code when read, so every value carries an
HMAC-SHA256 of the pickle under a secret shared by the replicas (``kafka.state_secret``), and a value whose tag
does not verify is refused (logged, the well starts afresh) instead of being unpickled.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
from typing import Any, Mapping, Sequence

log = logging.getLogger(__name__)

_TAG_BYTES = 32
#: Redis TTL of a saved state [s]: a well no replica has run for 30 days starts afresh.
STATE_TTL_S = 30 * 86_400


class StateIntegrityError(ValueError):
    """A stored state whose HMAC does not verify (wrong secret, or written by someone else)."""


class RedisWellStateStore:
    """Signed, pickled well states under ``<key_prefix>state:<well id>`` in Redis."""

    def __init__(self, client: Any, secret: bytes, key_prefix: str = "atilax:", ttl_s: int = STATE_TTL_S) -> None:
        if len(secret) < 16:
            raise ValueError("the state secret must be at least 16 bytes")
        self._client = client
        self._secret = bytes(secret)
        self.key_prefix = key_prefix
        self.ttl_s = int(ttl_s)
        self.refused = 0

    @classmethod
    def from_url(cls, url: str, secret: bytes, key_prefix: str = "atilax:") -> "RedisWellStateStore":
        import redis

        return cls(redis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=10.0), secret, key_prefix)

    def _key(self, well_id: str) -> str:
        return f"{self.key_prefix}state:{well_id}"

    def _seal(self, state: Mapping[str, Any]) -> bytes:
        body = pickle.dumps(dict(state), protocol=pickle.HIGHEST_PROTOCOL)
        return hmac.new(self._secret, body, hashlib.sha256).digest() + body

    def _open(self, well_id: str, blob: bytes) -> dict[str, Any]:
        tag, body = blob[:_TAG_BYTES], blob[_TAG_BYTES:]
        if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, hmac.new(self._secret, body, hashlib.sha256).digest()):
            self.refused += 1
            raise StateIntegrityError(f"stored state of {well_id} fails its HMAC check (another secret?)")
        return pickle.loads(body)  # noqa: S301 - authenticated above

    def save(self, states: Mapping[str, Mapping[str, Any]]) -> int:
        """Save each well's state (one pipeline); states that cannot be pickled are skipped with a log line."""
        saved = 0
        with self._client.pipeline(transaction=False) as pipe:
            for well_id, state in states.items():
                try:
                    blob = self._seal(state)
                except Exception as exc:  # e.g. a step kept something unpicklable: that well starts afresh elsewhere
                    log.warning("state of %s cannot be handed over: %s: %s", well_id, type(exc).__name__, exc)
                    continue
                pipe.set(self._key(well_id), blob, ex=self.ttl_s)
                saved += 1
            pipe.execute()
        return saved

    def load(self, well_id: str) -> dict[str, Any] | None:
        """The well's saved state; None when there is none or it fails its HMAC check (logged)."""
        blob = self._client.get(self._key(well_id))
        if blob is None:
            return None
        try:
            return self._open(well_id, blob)
        except StateIntegrityError as exc:
            log.error("%s; the well starts afresh", exc)
            return None

    def delete(self, well_ids: Sequence[str]) -> None:
        if well_ids:
            self._client.delete(*[self._key(w) for w in well_ids])

    def close(self) -> None:
        self._client.close()
