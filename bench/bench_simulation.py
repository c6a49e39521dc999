"""HTTP API throughput: requests/s of ``GET /wells/{id}`` (goal >= 500/s on a 2-core machine).

    python bench/bench_simulation.py [--requests 3000] [--wells-per-type 5] [--clients 1]

The API (:func:`tb_bridge.api.create_app`) serves an in-process service (SQLite history, in-process buffer) holding
a synthetic field with a day of telemetry, with uvicorn in a thread behind the slow-client guard
(:class:`tb_bridge.api.server.ApiServer`, as `atilax run` serves it) and authentication and rate limiting on;
``--clients`` httpx clients (keep-alive, one thread each) send the requests over loopback. The client runs in the
same process as the server, so both share one interpreter (the GIL): the figure is a floor for a separate client.
The anchor is the same handler work without HTTP (registry entry, the buffer's latest values, configuration
dump), which shows what the HTTP stack costs on top.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx  # noqa: E402

from engines.fielddata import SyntheticField  # noqa: E402
from tb_bridge.api.app import create_app  # noqa: E402
from tb_bridge.api.server import ApiServer  # noqa: E402
from tb_bridge.config import load_settings  # noqa: E402
from tb_bridge.events import EventKind, WellEvent  # noqa: E402
from tb_bridge.service import Service  # noqa: E402

KEY = "bench-key"


class _NoWriteback:
    """Nothing is written back in this benchmark (the route only reads)."""

    def write_attributes(self, entity_id, attributes, scope="SERVER_SCOPE"):
        pass

    def write_timeseries(self, entity_id, points):
        pass

    def flush(self, timeout_s=None):
        return True

    def close(self):
        pass


def build_service(tmp: str, wells_per_type: int) -> tuple[Service, list[str]]:
    settings = load_settings(database_url=f"sqlite:///{tmp}/bench.db",
                             api={"keys": [KEY], "port": 0, "rate_limit_per_minute": 1_000_000})
    service = Service(settings, _NoWriteback())
    field = SyntheticField(wells_per_lift_type=wells_per_type, seed=1)
    for w in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, w.name, 0, w.attributes, well_name=w.name,
                                 source="bench"))
    for name, ts, values in field.samples(288):
        service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="bench"))
    return service, [w.name for w in field.wells]


def direct(service: Service, wells: list[str], n: int) -> float:
    """The route's work without HTTP, calls/s."""
    start = time.perf_counter()
    for i in range(n):
        well = wells[i % len(wells)]
        entry = service.registry.get(well)
        service.buffer.latest(well)
        entry.config.model_dump(mode="json")
    return n / (time.perf_counter() - start)


def over_http(base_url: str, wells: list[str], n: int, clients: int) -> tuple[float, list[float]]:
    """``n`` GET /wells/{id} over ``clients`` keep-alive connections; (requests/s, per-request latencies s)."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def work(share: int, offset: int) -> None:
        mine = []
        with httpx.Client(base_url=base_url, headers={"X-API-Key": KEY}, timeout=10.0) as client:
            for i in range(share):
                t0 = time.perf_counter()
                answer = client.get(f"/wells/{wells[(offset + i) % len(wells)]}")
                mine.append(time.perf_counter() - t0)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code} {answer.text[:200]}")
                    return
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(n // clients, k)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"requests failed: {errors[0]}")
    return len(latencies) / elapsed, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--wells-per-type", type=int, default=5)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atilax-bench-api-") as tmp:
        service, wells = build_service(tmp, args.wells_per_type)
        server = ApiServer(create_app(service, service.settings), service.settings.api)
        server.start()
        try:
            over_http(server.base_url, wells, min(200, args.requests), 1)  # warm-up
            rate, latencies = over_http(server.base_url, wells, args.requests, args.clients)
            anchor = direct(service, wells, args.requests)
        finally:
            server.stop()
            service.close()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    print(f"GET /wells/{{id}}: {rate:,.0f} requests/s over {args.clients} keep-alive client(s), "
          f"{len(latencies)} requests, {len(wells)} wells, {os.cpu_count()} CPUs; latency p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms (goal >= 500/s: {'met' if rate >= 500 else 'NOT met'})")
    print(f"anchor, the same work without HTTP: {anchor:,.0f} calls/s; HTTP stack share "
          f"{100.0 * (1.0 - rate / anchor):.0f} % of the request time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
