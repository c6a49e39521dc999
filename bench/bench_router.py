"""Events/s through router + buffer on synthetic telemetry (in-process buffer and real Redis).

    python bench/bench_router.py [--wells-per-type 25] [--steps 96] [--redis-url redis://127.0.0.1:6379/0]

The anchor is the same events pushed straight into the buffer (no router): the ratio shows what the
router's validation and dispatch cost on top of storage.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from engines.fielddata import SyntheticField
from tb_bridge.buffer.memory import MemoryBuffer
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.history.store import HistoryStore
from tb_bridge.router import Router
from tb_bridge.sessions import SimulationSessionManager
from tb_bridge.wells.registry import WellRegistry


def build_events(wells_per_type: int, steps: int) -> list[WellEvent]:
    field = SyntheticField(wells_per_lift_type=wells_per_type, seed=1)
    return [WellEvent(EventKind.TELEMETRY, name, ts, values, well_name=name, source="bench")
            for name, ts, values in field.samples(steps)]


def run(buffer, events: list[WellEvent], store: HistoryStore) -> tuple[float, float]:
    registry = WellRegistry()
    router = Router(registry, buffer, SimulationSessionManager(registry, store, lambda *a: None), store,
                    report_error=lambda *a: None)
    buffer.clear()
    start = time.perf_counter()
    for event in events:
        router.handle(event)
    routed = time.perf_counter() - start
    assert router.stats.telemetry == len(events) and router.stats.dead_lettered == 0
    buffer.clear()
    numeric = [(e.well_id, e.ts_ms, {k: v for k, v in e.values.items() if isinstance(v, float)}) for e in events]
    start = time.perf_counter()
    for well_id, ts, values in numeric:
        buffer.append(well_id, ts, values)
    direct = time.perf_counter() - start
    return len(events) / routed, len(events) / direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wells-per-type", type=int, default=25)
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--redis-url", default=os.environ.get("ATILAX_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    events = build_events(args.wells_per_type, args.steps)
    print(f"machine: {os.cpu_count()} cores; {len(events)} telemetry events "
          f"({4 * args.wells_per_type} wells x {args.steps} steps)")
    with tempfile.TemporaryDirectory() as tmp:
        store = HistoryStore(f"sqlite:///{tmp}/h.db")
        store.migrate()
        buffers = [("in-process", MemoryBuffer())]
        try:
            from tb_bridge.buffer.redis_buffer import RedisBuffer

            redis_buffer = RedisBuffer(args.redis_url, key_prefix="atilax-bench:")
            redis_buffer.wells()
            buffers.append(("redis", redis_buffer))
        except Exception as exc:  # noqa: BLE001 - a bench reports, it does not fail
            print(f"redis: not measured ({exc})")
        print(f"{'buffer':<12}{'router+buffer ev/s':>20}{'buffer alone ev/s':>20}{'ratio':>8}")
        for name, buffer in buffers:
            routed, direct = run(buffer, events, store)
            print(f"{name:<12}{routed:>20,.0f}{direct:>20,.0f}{routed / direct:>8.2f}")
            buffer.clear()
            buffer.close()
        store.close()


if __name__ == "__main__":
    main()
