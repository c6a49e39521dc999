"""Redis telemetry buffer: a sorted set of timestamps plus a hash of encoded rows per well.

Key layout (``P`` = key prefix, default ``atilax:``):

- ``P buf:<well>:ts``   sorted set, member = score = ``ts_ms``
- ``P buf:<well>:rows`` hash, field ``ts_ms`` -> row ``key\\x1fvalue\\x1ekey\\x1fvalue...`` (values as
  Python's shortest round-trip ``repr``, so floats survive exactly)
- ``P buf:wells``       sorted set of well ids scored by their newest ``ts_ms``

Writes run a Lua script (atomic, one round trip) that merges a row into an existing timestamp, then
trims by age (``ZRANGEBYSCORE`` / ``ZREMRANGEBYSCORE``) and by count (``ZREMRANGEBYRANK``) and sets a
TTL of ``window_s`` on the well's keys, so memory stays bounded even for wells that stop reporting.
One script call appends the samples of many wells (up to 500 samples a call); ``append_many`` groups
samples by well and sends its calls in one pipeline. ``window`` runs
a read script that returns the rows as one string (``ts\x1drow\x1cts\x1drow...``). Telemetry keys
are printable, so they never contain the separators. The write script also touches the shared
registry key, so this layout targets a single Redis (or a replicated primary), not Redis Cluster.
"""
from __future__ import annotations

import functools
from collections import defaultdict
from typing import Callable, Iterable, Mapping, TypeVar

import redis

from tb_bridge.buffer.base import (
    DEFAULT_MAX_POINTS,
    DEFAULT_WINDOW_S,
    FIELD_SEPARATOR,
    GROUP_SEPARATOR,
    RECORD_SEPARATOR,
    UNIT_SEPARATOR,
    BufferUnavailableError,
    BufferWindow,
    Sample,
    validate_limits,
    validate_sample,
)

DEFAULT_KEY_PREFIX = "atilax:"
_UNIT = UNIT_SEPARATOR
_RECORD = RECORD_SEPARATOR
_MAX_PAIRS_PER_CALL = 500

# KEYS: wells registry, then per well its ts zset and rows hash.
# ARGV: max_points, window_ms, ttl_s, then per well: well_id, n (samples), ts1, row1, ..., tsn, rown.
# One call appends the samples of many wells (a Kafka batch in one round trip); returns the last well's count.
_APPEND_LUA = r"""
local function decode(row, into, order)
  for rec in string.gmatch(row, '[^\30]+') do
    local k, v = string.match(rec, '^([^\31]*)\31(.*)$')
    if into[k] == nil then order[#order + 1] = k end
    into[k] = v
  end
end
local function in_chunks(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end
local wkey = KEYS[1]
local max_points = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local ttl_s = ARGV[3]
local count = 0
local a, k = 4, 2
while a <= #ARGV do
  local zkey, hkey = KEYS[k], KEYS[k + 1]
  local well_id, n = ARGV[a], tonumber(ARGV[a + 1])
  local first = a + 2
  for i = first, first + 2 * n - 1, 2 do
    local ts, row = ARGV[i], ARGV[i + 1]
    local old = redis.call('HGET', hkey, ts)
    if old then
      local merged, order = {}, {}
      decode(old, merged, order)
      decode(row, merged, order)
      local parts = {}
      for j, key in ipairs(order) do parts[j] = key .. '\31' .. merged[key] end
      row = table.concat(parts, '\30')
    end
    redis.call('HSET', hkey, ts, row)
    redis.call('ZADD', zkey, ts, ts)
  end
  local newest = tonumber(redis.call('ZRANGE', zkey, -1, -1, 'WITHSCORES')[2])
  local cutoff = '(' .. string.format('%.0f', newest - window_ms)
  local stale = redis.call('ZRANGEBYSCORE', zkey, '-inf', cutoff)
  if #stale > 0 then
    in_chunks('HDEL', hkey, stale)
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
  end
  local excess = redis.call('ZCARD', zkey) - max_points
  if excess > 0 then
    in_chunks('HDEL', hkey, redis.call('ZRANGE', zkey, 0, excess - 1))
    redis.call('ZREMRANGEBYRANK', zkey, 0, excess - 1)
  end
  redis.call('EXPIRE', zkey, ttl_s)
  redis.call('EXPIRE', hkey, ttl_s)
  redis.call('ZADD', wkey, newest, well_id)
  count = redis.call('ZCARD', zkey)
  a = first + 2 * n
  k = k + 2
end
redis.call('EXPIRE', wkey, ttl_s)
return count
"""

# KEYS: ts zset, rows hash.  ARGV: min score ('-inf' or an integer).
# Returns one string "ts\29row\28ts\29row..." (one bulk reply parses far faster than 2n replies).
_WINDOW_LUA = r"""
local ts = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
local out = {}
for i = 1, #ts, 1000 do
  local chunk_end = math.min(i + 999, #ts)
  local part = redis.call('HMGET', KEYS[2], unpack(ts, i, chunk_end))
  for j, row in ipairs(part) do
    out[#out + 1] = ts[i + j - 1] .. '\29' .. (row or '')
  end
end
return table.concat(out, '\28')
"""
_GROUP = GROUP_SEPARATOR
_FIELD = FIELD_SEPARATOR

_F = TypeVar("_F", bound=Callable)


def _unavailable_as_buffer_error(method: _F) -> _F:
    """Redis connection failures and timeouts surface as :class:`BufferUnavailableError` (callers need not
    know Redis); every other error passes unchanged."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise BufferUnavailableError(f"Redis buffer unreachable: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def encode_row(values: Mapping[str, float]) -> str:
    """``{key: value}`` -> ``key\\x1fvalue\\x1e...`` with exact (``repr``) float text."""
    return _RECORD.join(f"{key}{_UNIT}{value!r}" for key, value in values.items())


def decode_row(row: bytes | str) -> dict[str, float]:
    """Inverse of :func:`encode_row`."""
    text = row.decode("utf-8") if isinstance(row, bytes) else row
    if not text:
        return {}
    parts = text.replace(_RECORD, _UNIT).split(_UNIT)
    return dict(zip(parts[0::2], map(float, parts[1::2])))


def decode_window(blob: bytes | str) -> tuple[list[int], list[dict[str, float]]]:
    """Parse the reply of the window script into ascending timestamps and rows."""
    text = blob.decode("utf-8") if isinstance(blob, bytes) else blob
    ts: list[int] = []
    rows: list[dict[str, float]] = []
    if text:
        for entry in text.split(_GROUP):
            stamp, _, row = entry.partition(_FIELD)
            ts.append(int(stamp))
            rows.append(decode_row(row))
    return ts, rows


class RedisBuffer:
    """:class:`~tb_bridge.buffer.base.TelemetryBuffer` on a Redis server (shared by service replicas).

    Args:
        url: ``redis://host:port/db`` (any URL ``redis.Redis.from_url`` accepts).
        max_points: most samples kept per well.
        window_s: age window in seconds; also the TTL of each well's keys.
        key_prefix: namespace of every key this buffer touches (tests use a unique one).
    """

    def __init__(
        self,
        url: str,
        max_points: int = DEFAULT_MAX_POINTS,
        window_s: int = DEFAULT_WINDOW_S,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self.max_points, self.window_s = validate_limits(max_points, window_s)
        if not isinstance(key_prefix, str):
            raise ValueError(f"key_prefix must be a string, got {key_prefix!r}")
        self.key_prefix = key_prefix
        # bounded waits: a Redis that stopped answering must fail a call, not hang a tier or a transport thread
        # (options in the URL, e.g. ?socket_timeout=2, take precedence)
        self._client = redis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=10.0)
        self._append_script = self._client.register_script(_APPEND_LUA)
        self._window_script = self._client.register_script(_WINDOW_LUA)
        self._wells_key = f"{key_prefix}buf:wells"

    # -- keys ---------------------------------------------------------------------------------------
    def _keys(self, well_id: str) -> tuple[str, str]:
        base = f"{self.key_prefix}buf:{well_id}"
        return f"{base}:ts", f"{base}:rows"

    def _call_append(self, by_well: Mapping[str, list[tuple[int, str]]], client) -> None:
        """Script calls of at most ``_MAX_PAIRS_PER_CALL`` samples each, several wells per call (a well's samples
        may span calls, in order)."""
        head: list[object] = [self.max_points, self.window_s * 1000, self.window_s]
        keys: list[str] = [self._wells_key]
        args: list[object] = list(head)
        pairs_in_call = 0
        for well_id, pairs in by_well.items():
            zkey, hkey = self._keys(well_id)
            start = 0
            while start < len(pairs):
                take = pairs[start:start + _MAX_PAIRS_PER_CALL - pairs_in_call]
                keys.extend((zkey, hkey))
                args.extend((well_id, len(take)))
                for ts_ms, row in take:
                    args.extend((str(ts_ms), row))
                pairs_in_call += len(take)
                start += len(take)
                if pairs_in_call >= _MAX_PAIRS_PER_CALL:
                    self._append_script(keys=keys, args=args, client=client)
                    keys, args, pairs_in_call = [self._wells_key], list(head), 0
        if pairs_in_call:
            self._append_script(keys=keys, args=args, client=client)

    # -- TelemetryBuffer ----------------------------------------------------------------------------
    @_unavailable_as_buffer_error
    def append(self, well_id: str, ts_ms: int, values: Mapping[str, float]) -> None:
        well_id, ts_ms, clean = validate_sample(well_id, ts_ms, values)
        if clean:
            self._call_append({well_id: [(ts_ms, encode_row(clean))]}, self._client)

    @_unavailable_as_buffer_error
    def append_many(self, samples: Iterable[Sample]) -> None:
        by_well: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for sample in samples:
            well_id, ts_ms, clean = validate_sample(*sample)
            if clean:
                by_well[well_id].append((ts_ms, encode_row(clean)))
        if not by_well:
            return
        if sum(len(pairs) for pairs in by_well.values()) <= _MAX_PAIRS_PER_CALL:
            self._call_append(by_well, self._client)  # one script call: no pipeline needed
            return
        with self._client.pipeline(transaction=False) as pipe:
            self._call_append(by_well, pipe)
            pipe.execute()

    def append_each(self, samples: Iterable[Sample]) -> None:
        """Append samples one round trip each (the unpipelined baseline used by the benchmark)."""
        for well_id, ts_ms, values in samples:
            self.append(well_id, ts_ms, values)

    @_unavailable_as_buffer_error
    def window(self, well_id: str, since_ms: int | None = None) -> BufferWindow:
        zkey, hkey = self._keys(well_id)
        low = "-inf" if since_ms is None else str(int(since_ms))
        ts, rows = decode_window(self._window_script(keys=[zkey, hkey], args=[low]))
        return BufferWindow.from_rows(ts, rows)

    @_unavailable_as_buffer_error
    def wells(self) -> list[str]:
        members = [m.decode("utf-8") for m in self._client.zrange(self._wells_key, 0, -1)]
        if not members:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            for well_id in members:
                pipe.exists(self._keys(well_id)[0])
            alive = pipe.execute()
        stale = [w for w, ok in zip(members, alive) if not ok]
        if stale:
            self._client.zrem(self._wells_key, *stale)
        return sorted(w for w, ok in zip(members, alive) if ok)

    @_unavailable_as_buffer_error
    def clear(self, well_id: str | None = None) -> None:
        if well_id is not None:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(*self._keys(well_id))
                pipe.zrem(self._wells_key, well_id)
                pipe.execute()
            return
        pattern = _glob_escape(f"{self.key_prefix}buf:") + "*"
        batch: list[bytes] = []
        for key in self._client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self._client.delete(*batch)
                batch.clear()
        if batch:
            self._client.delete(*batch)

    @property
    def client(self) -> redis.Redis:
        """The Redis client (other state of the service, e.g. simulation sessions, lives under ``key_prefix`` too)."""
        return self._client

    def close(self) -> None:
        self._client.close()
        self._client.connection_pool.disconnect()

    def __enter__(self) -> "RedisBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
