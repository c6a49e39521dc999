"""HTTP API throughput: requests/s of ``GET /wells/{id}`` (goal >= 500/s on a 2-core machine), and the latency of
a simulation slider move over the API (``PATCH /simulation/{id}/params``, one well per lift type).

    python bench/bench_simulation.py [--requests 3000] [--wells-per-type 5] [--clients 1] [--simulation-moves 10]

The API (:func:`tb_bridge.api.create_app`) serves an in-process service (SQLite history, in-process buffer) holding
a synthetic field with a day of telemetry, with uvicorn in a thread behind the slow-client guard
(:class:`tb_bridge.api.server.ApiServer`, as `atilax run` serves it) and authentication and rate limiting on;
``--clients`` httpx clients (keep-alive), each in a process of its own, send the requests over loopback.
``--in-process-client`` runs them as threads of the server's process instead: they then share its interpreter
(the GIL), and the figure is a floor.
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

    def delete_attributes(self, entity_id, keys, scope="SERVER_SCOPE"):
        pass

    def delete_timeseries(self, entity_id, keys, start_ts, end_ts):
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


def in_processes(base_url: str, wells: list[str], n: int, clients: int) -> tuple[float, list[float]]:
    """:func:`over_http` with each client in a process of its own (as a real client is): (requests/s over the
    slowest client's time, latencies s)."""
    import json
    import subprocess

    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--client-of", base_url, "--requests",
                               str(n // clients), "--offset", str(k), "--wells", ",".join(wells)],
                              stdout=subprocess.PIPE, text=True) for k in range(clients)]
    results = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a client process failed")
    latencies = [t for r in results for t in r["latencies"]]
    return len(latencies) / max(r["elapsed"] for r in results), latencies


def client_main(base_url: str, wells: list[str], n: int, offset: int) -> int:
    """One client process: warm up, then ``n`` timed requests; prints ``{"elapsed", "latencies"}`` (JSON)."""
    import json

    with httpx.Client(base_url=base_url, headers={"X-API-Key": KEY}, timeout=10.0) as client:
        for i in range(min(200, n)):
            client.get(f"/wells/{wells[i % len(wells)]}")
        latencies = []
        start = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            answer = client.get(f"/wells/{wells[(offset + i) % len(wells)]}")
            latencies.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                print(f"{answer.status_code} {answer.text[:200]}", file=sys.stderr)
                return 1
        elapsed = time.perf_counter() - start
    print(json.dumps({"elapsed": elapsed, "latencies": latencies}))
    return 0


def simulation_latency(base_url: str, wells_by_lift: dict[str, str], moves: int) -> dict[str, list[float]]:
    """Seconds per ``PATCH /simulation/{id}/params`` (a slider move: set, simulate, answer) for one well of each
    lift type, ``moves`` alternating water-cut values after one warm-up move."""
    out: dict[str, list[float]] = {}
    with httpx.Client(base_url=base_url, headers={"X-API-Key": KEY}, timeout=60.0) as client:
        for lift_type, well in wells_by_lift.items():
            session = client.post("/simulation/create", json={"well_id": well}).json()["session_id"]
            times = []
            for k in range(moves + 1):
                t0 = time.perf_counter()
                params = {"water_cut_pct": 30.0 + k % 2 * 10}
                answer = client.patch(f"/simulation/{session}/params", json={"params": params})
                if answer.status_code != 200:
                    raise SystemExit(f"simulation of {well} failed: {answer.status_code} {answer.text[:200]}")
                if k:  # the first move builds the well's curves
                    times.append(time.perf_counter() - t0)
            client.delete(f"/simulation/{session}")
            out[lift_type] = times
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--wells-per-type", type=int, default=5)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--in-process-client", action="store_true",
                        help="run the clients as threads of the server's process (sharing its interpreter)")
    parser.add_argument("--simulation-moves", type=int, default=10,
                        help="slider moves per lift type over PATCH /simulation/{id}/params (0: skip)")
    parser.add_argument("--client-of", help=argparse.SUPPRESS)  # internal: one client process
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--wells", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_of:
        return client_main(args.client_of, args.wells.split(","), args.requests, args.offset)
    with tempfile.TemporaryDirectory(prefix="atilax-bench-api-") as tmp:
        service, wells = build_service(tmp, args.wells_per_type)
        server = ApiServer(create_app(service, service.settings), service.settings.api)
        server.start()
        try:
            over_http(server.base_url, wells, min(200, args.requests), 1)  # warm-up
            measure = over_http if args.in_process_client else in_processes
            rate, latencies = measure(server.base_url, wells, args.requests, args.clients)
            anchor = direct(service, wells, args.requests)
            first = {}
            for well in wells:
                first.setdefault(service.registry.config(well).lift_type, well)
            moves = simulation_latency(server.base_url, first, args.simulation_moves) if args.simulation_moves else {}
        finally:
            server.stop()
            service.close()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    where = "thread(s) of the server's process" if args.in_process_client else "process(es)"
    print(f"GET /wells/{{id}}: {rate:,.0f} requests/s over {args.clients} keep-alive client {where}, "
          f"{len(latencies)} requests, {len(wells)} wells, {os.cpu_count()} CPUs; latency p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms (goal >= 500/s: {'met' if rate >= 500 else 'NOT met'})")
    print(f"anchor, the same work without HTTP: {anchor:,.0f} calls/s; HTTP stack share "
          f"{100.0 * (1.0 - rate / anchor):.0f} % of the request time")
    for lift_type, times in moves.items():
        times.sort()
        print(f"PATCH /simulation/{{id}}/params ({lift_type}): p50 {statistics.median(times) * 1000:.0f} ms, "
              f"max {times[-1] * 1000:.0f} ms over {len(times)} moves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
