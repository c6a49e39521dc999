"""Telemetry buffers: the recent per-well window behind one interface (Redis, or in-process)."""
from __future__ import annotations

from tb_bridge.buffer.base import DEFAULT_MAX_POINTS, DEFAULT_WINDOW_S, BufferWindow, TelemetryBuffer
from tb_bridge.buffer.memory import MemoryBuffer

__all__ = ["BufferWindow", "TelemetryBuffer", "MemoryBuffer", "RedisBuffer", "make_buffer"]


def make_buffer(
    redis_url: str | None,
    max_points: int = DEFAULT_MAX_POINTS,
    window_s: int = DEFAULT_WINDOW_S,
    key_prefix: str = "atilax:",
) -> TelemetryBuffer:
    """A :class:`RedisBuffer` when ``redis_url`` is given, else the in-process :class:`MemoryBuffer`."""
    if redis_url:
        from tb_bridge.buffer.redis_buffer import RedisBuffer

        return RedisBuffer(redis_url, max_points=max_points, window_s=window_s, key_prefix=key_prefix)
    return MemoryBuffer(max_points=max_points, window_s=window_s)


def __getattr__(name: str):
    if name == "RedisBuffer":
        from tb_bridge.buffer.redis_buffer import RedisBuffer

        return RedisBuffer
    raise AttributeError(name)
