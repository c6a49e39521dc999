"""HTTP API throughput: requests/s of ``GET /wells/{id}`` (goal >= 500/s on a 2-core machine), and the latency of
a simulation slider move over the API (``PATCH /simulation/{id}/params``, one well per lift type).

    python bench/bench_simulation.py [--requests 3000] [--wells-per-type 5] [--clients 1] [--simulation-moves 10]
    python bench/bench_simulation.py --event-changes 200   # only the event-to-writeback latency (below)

The API (:func:`tb_bridge.api.create_app`) serves an in-process service (SQLite history, in-process buffer) holding
a synthetic field with a day of telemetry, with uvicorn in a thread behind the slow-client guard
(:class:`tb_bridge.api.server.ApiServer`, as `atilax run` serves it) and authentication and rate limiting on;
``--clients`` httpx clients (keep-alive), each in a process of its own, send the requests over loopback.
``--in-process-client`` runs them as threads of the server's process instead: they then share its interpreter
(the GIL), and the figure is a floor.
The anchor is the same handler work without HTTP (registry entry, the buffer's latest values, configuration
dump), which shows what the HTTP stack costs on top.

``--event-changes N`` measures instead the latency of a dashboard slider through ThingsBoard (issue 19, goal p95 <
300 ms): the stand-in, an in-process transport and the service with REST writeback to the stand-in, wired as
tests/e2e/test_simulation_sessions.py wires them; one synthetic well per lift type with 4 h of telemetry posted
through the device API. Per lift type N ``sim_param_*`` server-attribute saves (tenant admin, as a dashboard does)
alternate between two setpoint values, every fourth one between two water cuts, so each is a real change; the
simulated clock moves one projection step (5 min) per change. Each is timed from the save on the stand-in until
the stand-in's store (polled in-process every ~1 ms) holds the run's results: ``sim_last_run`` = that run's clock
(the attribute save of the run's results, the last attribute the run writes: sessions.py writes the projection
points, then the results' attributes), and, as "all writes", also the run's 12-h projection (its last point: the
REST writeback sends a well's attributes before its points when both are in one batch). One untimed warm-up
change per lift type opens the session.
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


def event_latency(changes: int, hours: float = 4.0) -> dict[str, tuple[list[float], list[float]]]:
    """``{lift type: (seconds to sim_last_run, seconds to every write of the run)}`` over ``changes`` slider
    writes per lift type (see the module docstring)."""
    from tb_bridge.buffer.memory import MemoryBuffer
    from tb_bridge.standin import StandIn
    from tb_bridge.tb_history import ThingsBoardHistory
    from tb_bridge.transport.inprocess import InProcessTransport
    from tb_bridge.transport.loop_guard import LoopGuard
    from tb_bridge.wells.model import DEVICE_PROFILE_BY_LIFT_TYPE
    from tb_bridge.writeback.keys import SIM_PROJECTION_KEYS
    from tb_bridge.writeback.rest import RestWriteback

    setpoints = {"esp": ("freq_hz", "frequency_min_hz", "frequency_max_hz"), "srp": ("spm", "spm_min", "spm_max"),
                 "pcp": ("rpm", "rpm_min", "rpm_max"),
                 "gas_lift": ("gas_injection_rate", "injection_min_mscfd", "injection_max_mscfd")}
    step_s = 300
    clock = {"now": (int(time.time() * 1000) // (step_s * 1000)) * step_s * 1000}
    now = lambda: clock["now"]  # noqa: E731
    email, password = "atilax@svc.local", "svc-secret"
    out: dict[str, tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="atilax-bench-events-") as tmp:
        tb = StandIn()  # real time: the router refuses events far ahead of the service's clock
        tb.create_user(email, password)
        tb.start_http()
        wb = RestWriteback(tb.base_url, email, password)
        user_id = wb.login()
        settings = load_settings(transport="inprocess", database_url=f"sqlite:///{tmp}/history.db")
        service = Service(settings, wb, buffer=MemoryBuffer(), own_user_id=user_id,
                          history_reader=ThingsBoardHistory(tb.base_url, email, password, clock_ms=now))
        service.sessions.clock_ms = now
        service.attach(InProcessTransport(tb, loop_guard=LoopGuard(own_user_ids={user_id})))
        interval = service.sessions.projection_interval_ms
        n_points = service.sessions.projection_points
        try:
            n_steps = int(hours * 3600 / step_s)
            field = SyntheticField(wells_per_lift_type=1, seed=3, start_ms=clock["now"] - n_steps * step_s * 1000,
                                   step_s=step_s)
            devices, tokens = {}, {}
            for w in field.wells:
                devices[w.lift_type], tokens[w.name] = tb.create_device(w.name, DEVICE_PROFILE_BY_LIFT_TYPE[w.lift_type])
                tb.save_attributes(devices[w.lift_type], "SERVER_SCOPE", w.attributes)
            for name, ts, values in field.samples(n_steps):
                tb.post_device_telemetry(tokens[name], {"ts": ts, "values": values})
            if not (tb.wait_idle(60) and all(service.registry.config(d) for d in devices.values())):
                raise SystemExit("the wells did not reach the service")
            attributes = tb.store._attributes  # the stand-in's own dicts, read without a copy (GIL-atomic gets)
            series = tb.store._series
            for lift_type, device in devices.items():
                param, lo_key, hi_key = setpoints[lift_type]
                config = service.registry.config(device)
                lo, hi = float(getattr(config, lo_key)), float(getattr(config, hi_key))
                values = [round(lo + 0.4 * (hi - lo), 1), round(lo + 0.6 * (hi - lo), 1)]
                rate_key = SIM_PROJECTION_KEYS[lift_type][1]
                to_attr, to_all = [], []
                n_set = n_wc = 0
                for k in range(changes + 1):
                    if k % 4 == 3:
                        params = {"water_cut_pct": 30.0 + 15.0 * (n_wc % 2)}
                        n_wc += 1
                    else:
                        params = {param: values[n_set % 2]}
                        n_set += 1
                    clock["now"] += interval
                    run_ms = clock["now"]
                    last_point = (run_ms // interval + 1) * interval + (n_points - 1) * interval
                    t0 = time.perf_counter()
                    tb.save_attributes(device, "SERVER_SCOPE", {f"sim_param_{p}": v for p, v in params.items()})
                    t_attr = None
                    deadline = t0 + 60.0
                    while True:
                        held = attributes.get((device, "SERVER_SCOPE"), {}).get("sim_last_run")
                        if t_attr is None and held is not None and held[0] == run_ms:
                            t_attr = time.perf_counter() - t0
                        points = series.get(device, {}).get(rate_key)
                        if t_attr is not None and points is not None and points.ts and points.ts[-1] == last_point:
                            t_all = time.perf_counter() - t0
                            break
                        if time.perf_counter() > deadline:
                            status = attributes.get((device, "SERVER_SCOPE"), {}).get("sim_error")
                            raise SystemExit(f"{lift_type} change {k} ({params}) not written in 60 s; sim_error {status}")
                        time.sleep(0.001)
                    if not (tb.wait_idle(10) and service.sessions.wait_idle(60) and wb.flush(10)):
                        raise SystemExit("the service did not settle")
                    if k:  # the first change opens the session (and warms the well's curves)
                        to_attr.append(t_attr)
                        to_all.append(t_all)
                out[lift_type] = (to_attr, to_all)
        finally:
            service.close()
            tb.stop()
    return out


def _pct(sorted_s: list[float], q: float) -> float:
    return sorted_s[min(len(sorted_s) - 1, int(round(q * (len(sorted_s) - 1))))] * 1000


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
    parser.add_argument("--event-changes", type=int, default=0,
                        help="sim_param_* changes per lift type through the ThingsBoard stand-in, timed to the last "
                             "write (only this part runs; 0: the API part)")
    args = parser.parse_args()
    if args.event_changes:
        load0 = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"] * 3
        results = event_latency(args.event_changes)
        load1 = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"] * 3
        print(f"sim_param_* event -> writeback on the stand-in, {args.event_changes} changes per lift type, "
              f"{os.cpu_count()} CPUs, load average {' '.join(load0)} before, {' '.join(load1)} after")
        for lift_type, (to_attr, to_all) in results.items():
            to_attr.sort()
            to_all.sort()
            print(f"{lift_type:9s} to sim_last_run: p50 {_pct(to_attr, .5):.0f} ms, p95 {_pct(to_attr, .95):.0f} ms, "
                  f"max {to_attr[-1] * 1000:.0f} ms (goal p95 < 300 ms: "
                  f"{'met' if _pct(to_attr, .95) < 300 else 'NOT met'}); all writes incl. projection: "
                  f"p50 {_pct(to_all, .5):.0f} ms, p95 {_pct(to_all, .95):.0f} ms, max {to_all[-1] * 1000:.0f} ms")
        return 0
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
