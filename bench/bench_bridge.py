"""Bridge benchmark: device telemetry into the ThingsBoard stand-in -> transport -> service -> writeback ->
``opt_*`` attributes back on the device, per transport.

For each configuration, telemetry is offered at ``--rate`` events/s for ``--seconds`` over ``--wells``
devices through the stand-in's device-API ingress; a minimal service writes ``opt_seq`` (the event's
sequence number) and ``opt_q_bpd`` for each event. An event's latency runs from its ingress to the
moment ThingsBoard confirmed (HTTP 200 / UplinkResponseMsg) a write of ``opt_seq >= its own`` on its
device (later results of a well supersede earlier ones, as the writeback merges them). The stand-in and
the load generator run in their own process for the gRPC and MQTT rows (as ThingsBoard would); the
in-process row shares one process (and one GIL). Prints events/s, p50/p99 latency and p99 / 50 ms of the
whole loop, and ``in p50/p99``: ingress -> the service's sink only (the transport alone). ``our cpu`` and
``TB cpu``: CPU seconds per wall second of this process and of the stand-in's process during the run (1.00 is
a whole core; a Python process near 0.9 is bound by its interpreter lock); ``TB ms/req`` (REST writeback only):
ThingsBoard's time per request as the writeback sees it, from sending a pipeline to its last answer.

The ``direct+rest`` and ``direct+grpc`` rows measure the writeback alone: this process calls
``write_attributes`` at ``--rate`` (no ingress; the stand-in's process only answers the REST API or the Edge
uplink), and the latency runs from that call to ThingsBoard's confirmation.

    python bench/bench_bridge.py                     # all rows at 1000 events/s for 5 s
    python bench/bench_bridge.py --kinds grpc-edge+grpc,grpc-edge+rest,direct+grpc,direct+rest
    python bench/bench_bridge.py --rate 0            # as fast as possible (throughput)
    python bench/bench_bridge.py --outage-s 60       # also: REST writeback through a 60 s ThingsBoard 500 outage

Needs ``mosquitto`` on PATH (a private broker is started) for the MQTT row.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import defaultdict, deque

import numpy as np

from tb_bridge.events import EventKind
from tb_bridge.standin import StandIn
from tb_bridge.transport.edge import EdgeTransport
from tb_bridge.transport.inprocess import InProcessTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.transport.mqtt import MqttTransport
from tb_bridge.writeback.edge import EdgeWriteback
from tb_bridge.writeback.rest import RestWriteback

GOAL_P99_S = 0.050


class Probe:
    """Per well: (seq, ingress wall time) of each event the service saw; an event has landed once a batch
    carrying ``opt_seq >= seq`` for its well was confirmed by ThingsBoard (writeback ``on_delivered``)."""

    def __init__(self) -> None:
        self.pending: dict[str, deque] = defaultdict(deque)
        self.latencies: list[float] = []
        self.in_latencies: list[float] = []
        self.seen = 0
        self.lock = threading.Lock()

    def saw(self, well_id: str, seq: int, sent_s: float) -> None:
        self.in_latencies.append(time.time() - sent_s)
        with self.lock:
            self.pending[well_id].append((seq, sent_s))
            self.seen += 1

    def delivered(self, batch) -> None:
        now = time.time()
        seq = batch.attributes.get("SERVER_SCOPE", {}).get("opt_seq")
        if seq is None:
            return
        with self.lock:
            queue = self.pending[batch.entity_id]
            while queue and queue[0][0] <= seq:
                self.latencies.append(now - queue.popleft()[1])


class Service:
    def __init__(self, probe: Probe) -> None:
        self.writeback = None
        self.probe = probe

    def __call__(self, event) -> None:
        if event.kind is not EventKind.TELEMETRY:
            return
        seq = int(event.values["seq"])
        self.probe.saw(event.well_id, seq, event.values["sent_s"])
        self.writeback.write_attributes(event.well_id, {"opt_seq": seq, "opt_q_bpd": 0.9 * event.values["flow_rate_bpd"]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto():
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        return None, None
    workdir = tempfile.mkdtemp(prefix="atilax-bench-mqtt-")
    port = _free_port()
    conf = os.path.join(workdir, "m.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n")
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)

    def stop():
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    return port, stop


def _generate(tb: StandIn, wells, n: int, rate: float) -> float:
    """Post ``n`` telemetry events at ``rate``/s round-robin over the wells; returns the achieved rate."""
    period = 1.0 / rate if rate > 0 else 0.0
    t_start = time.perf_counter()
    for seq in range(n):
        if period:
            delay = t_start + seq * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        _, token = wells[seq % len(wells)]
        tb.post_device_telemetry(token, {"ts": 1_700_000_000_000 + seq,
                                         "values": {"seq": seq, "sent_s": time.time(), "flow_rate_bpd": 500.0 + seq % 7}})
    return n / (time.perf_counter() - t_start)


def _write_directly(service: "Service", device_ids: list[str], n: int, rate: float) -> float:
    """The ``direct`` rows: ``n`` results written at ``rate``/s round-robin over the wells by this process (no
    ingress); returns the achieved rate."""
    period = 1.0 / rate if rate > 0 else 0.0
    t_start = time.perf_counter()
    for seq in range(n):
        if period:
            delay = t_start + seq * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        well_id = device_ids[seq % len(device_ids)]
        service.probe.saw(well_id, seq, time.time())
        service.writeback.write_attributes(well_id, {"opt_seq": seq, "opt_q_bpd": 0.9 * (500.0 + seq % 7)})
    return n / (time.perf_counter() - t_start)


def _standin_process(conn, kind: str, n_wells: int, mqtt_port: int | None) -> None:
    """ThingsBoard (the stand-in) and the device load generator (none for the ``direct`` rows), in their own
    process."""
    tb = StandIn()
    wells = [tb.create_device(f"W-{i:04d}", ("ESP", "SRP", "PCP", "GasLift")[i % 4]) for i in range(n_wells)]
    info = {"base_url": tb.start_http(), "device_ids": [device_id for device_id, _ in wells]}
    if kind.startswith("grpc") or kind.endswith("+grpc"):
        edge = tb.create_edge("bench")
        info.update(edge_port=tb.start_edge_server(), routing_key=edge.routing_key, secret=edge.secret)
        if kind.startswith("grpc"):  # telemetry pushed to the edge only when it is the inbound transport
            for device_id, _ in wells:
                tb.assign_device_to_edge(device_id, edge.id)
    if kind.startswith("mqtt"):
        tb.start_mqtt_publisher("127.0.0.1", mqtt_port, topic_pattern="bench/v1/${deviceType}/${deviceName}")
    conn.send(info)
    n, rate = conn.recv()  # go (n = 0: nothing to generate)
    cpu_start = time.process_time()
    if n:
        conn.send(_generate(tb, wells, n, rate))
    conn.recv()  # measured: report this process's CPU seconds since go
    conn.send(time.process_time() - cpu_start)
    conn.recv()  # stop
    tb.stop()


def run(kind: str, args, mqtt_port: int | None) -> dict:
    probe = Probe()
    service = Service(probe)
    guard = LoopGuard()
    n = int(args.rate * args.seconds) if args.rate > 0 else args.count
    child = None
    if kind == "inprocess+rest":  # everything in this process (one GIL)
        tb = StandIn()
        wells = [tb.create_device(f"W-{i:04d}", ("ESP", "SRP", "PCP", "GasLift")[i % 4]) for i in range(args.wells)]
        service.writeback = RestWriteback(tb.start_http(), "tenant@thingsboard.org", "tenant", on_delivered=probe.delivered)
        transport = InProcessTransport(tb, loop_guard=guard)
    else:  # ThingsBoard in its own process, as in production
        ctx = multiprocessing.get_context("spawn")
        conn, child_conn = ctx.Pipe()
        child = ctx.Process(target=_standin_process, args=(child_conn, kind, args.wells, mqtt_port), daemon=True)
        child.start()
        info = conn.recv()
        uplink = None
        if kind.startswith("direct"):  # no ingress: this process writes (an edge session for writing only)
            transport = None
            if kind.endswith("+grpc"):
                uplink = EdgeTransport("127.0.0.1", info["edge_port"], info["routing_key"], info["secret"], sync=False)
                uplink.start(lambda event: None)
                uplink.wait_connected(10)
        elif kind.startswith("grpc"):
            transport = EdgeTransport("127.0.0.1", info["edge_port"], info["routing_key"], info["secret"], loop_guard=guard)
            uplink = transport
        else:
            transport = MqttTransport("127.0.0.1", mqtt_port, topic_filters=["bench/v1/+/+"], shared_group="bench",
                                      loop_guard=guard)
            if kind.endswith("+grpc"):  # MQTT in, Edge uplink out (an edge session used for writing only)
                uplink = EdgeTransport("127.0.0.1", info["edge_port"], info["routing_key"], info["secret"], sync=False)
                uplink.start(lambda event: None)
                uplink.wait_connected(10)
        if kind.endswith("+grpc"):
            service.writeback = EdgeWriteback(uplink, on_delivered=probe.delivered)
        else:
            service.writeback = RestWriteback(info["base_url"], "tenant@thingsboard.org", "tenant",
                                              on_delivered=probe.delivered)
    if transport is not None:
        transport.start(service)
    if isinstance(transport, EdgeTransport):
        transport.wait_connected(10)
        transport.sync_completed.wait(10)
    if isinstance(transport, MqttTransport):
        transport.wait_subscribed(10)
    if isinstance(service.writeback, RestWriteback):
        guard.add_user_id(service.writeback.login())
    time.sleep(0.3)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    if child is None:
        offered = _generate(tb, wells, n, args.rate)
    elif transport is None:
        conn.send((0, 0.0))
        offered = _write_directly(service, info["device_ids"], n, args.rate)
    else:
        conn.send((n, args.rate))
        offered = conn.recv()
    deadline = time.monotonic() + 60
    while (probe.seen < n or any(probe.pending.values())) and time.monotonic() < deadline:
        time.sleep(0.005)
    t_done = time.perf_counter()
    our_cpu = time.process_time() - cpu_start
    tb_cpu = float("nan")
    if child is not None:
        conn.send("measured")
        tb_cpu = conn.recv()
    lat = np.array(probe.latencies)
    lat_in = np.array(probe.in_latencies)
    pct = (lambda q: 1e3 * np.percentile(lat, q)) if len(lat) else (lambda q: float("nan"))
    result = {"kind": kind, "events": n, "landed": len(lat), "offered_rate": offered,
              "throughput": len(lat) / (t_done - t_start), "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": pct(100),
              "in_p50_ms": 1e3 * np.percentile(lat_in, 50), "in_p99_ms": 1e3 * np.percentile(lat_in, 99),
              "batches": service.writeback.batches_sent, "our_cpu": our_cpu / (t_done - t_start),
              "tb_cpu": tb_cpu / (t_done - t_start),
              "tb_ms_per_req": 1e3 * service.writeback.exchange_s / max(service.writeback.requests_answered, 1)
              if isinstance(service.writeback, RestWriteback) else float("nan")}
    service.writeback.close()
    if transport is not None:
        transport.stop()
    if child is not None and uplink is not None and uplink is not transport:
        uplink.stop()
    if child is None:
        tb.stop()
    else:
        conn.send("stop")
        child.join(10)
    return result


def outage(args) -> None:
    """REST writeback through a ThingsBoard outage (HTTP 500 on every telemetry API call) of ``--outage-s``."""
    tb = StandIn()
    wells = [tb.create_device(f"W-{i:04d}", "ESP") for i in range(args.wells)]
    bound = 10 * args.wells
    wb = RestWriteback(tb.start_http(), "tenant@thingsboard.org", "tenant", max_outbox_items=bound)
    wb.login()
    tb.set_http_fault(500, path_prefix="/api/plugins/telemetry")
    t0 = time.monotonic()
    seq = 0
    peak_memory = 0
    while time.monotonic() - t0 < args.outage_s:
        for device_id, _ in wells:
            wb.write_attributes(device_id, {"opt_seq": seq})
            wb.write_timeseries(device_id, [(1_700_000_000_000 + seq, {"opt_q_proj_bpd": float(seq)})])
            seq += 1
        peak_memory = max(peak_memory, wb.outbox.memory_items)
        time.sleep(0.5)
    stats = wb.stats()
    tb.clear_http_fault()
    t1 = time.monotonic()
    ok = wb.flush(120)
    recover_s = time.monotonic() - t1
    last = {d: tb.get_attributes(d, "SERVER_SCOPE").get("opt_seq") for d, _ in wells}
    points = sum(len(tb.get_timeseries(d, ["opt_q_proj_bpd"], 0, 2**62).get("opt_q_proj_bpd", [])) for d, _ in wells)
    expected = {d: seq - args.wells + i for i, (d, _) in enumerate(wells)}
    print(f"outage {args.outage_s:.0f} s: {seq} writes, {stats['failures']} failed rounds, peak memory items "
          f"{peak_memory} (bound {bound}), spilled batches {stats['spilled_batches']}; flushed={ok} in "
          f"{recover_s:.2f} s; final values correct on {sum(last[d] == expected[d] for d in last)}/{len(last)} wells; "
          f"projection points stored {points} of {seq}")
    wb.close()
    tb.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s (0: as fast as possible)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=5000, help="events when --rate 0")
    parser.add_argument("--wells", type=int, default=100)
    parser.add_argument("--kinds", default="inprocess+rest,grpc-edge+grpc,grpc-edge+rest,mqtt+rest,mqtt+grpc,"
                                            "direct+grpc,direct+rest")
    parser.add_argument("--outage-s", type=float, default=0.0)
    args = parser.parse_args()
    mqtt_port, stop_broker = start_mosquitto() if "mqtt" in args.kinds else (None, None)
    print(f"{'transport+writeback':<18} {'events':>7} {'landed':>7} {'offered/s':>10} {'events/s':>9} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/50ms':>8} {'batches':>8} {'in p50':>7} {'in p99':>7} "
          f"{'our cpu':>7} {'TB cpu':>7} {'TB ms/req':>9}")
    try:
        for kind in args.kinds.split(","):
            if kind.startswith("mqtt") and mqtt_port is None:
                print(f"{kind:<18} skipped: mosquitto not found")
                continue
            r = run(kind, args, mqtt_port)
            print(f"{r['kind']:<18} {r['events']:>7} {r['landed']:>7} {r['offered_rate']:>10.0f} {r['throughput']:>9.0f} "
                  f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['p99_ms'] / 1e3 / GOAL_P99_S:>8.2f} "
                  f"{r['batches']:>8} {r['in_p50_ms']:>7.2f} {r['in_p99_ms']:>7.2f} {r['our_cpu']:>7.2f} {r['tb_cpu']:>7.2f} "
                  f"{r['tb_ms_per_req']:>9.2f}")
    finally:
        if stop_broker:
            stop_broker()
    if args.outage_s > 0:
        outage(args)


if __name__ == "__main__":
    main()
