"""Load harness: the synthetic field replayed through a real broker (Kafka: Tansu; MQTT: Mosquitto) into 1 and 2
service replica processes (:mod:`tb_bridge.faults.kafka_replica`: the real router, Redis buffer and ownership).

    python bench/bench_load.py                               # Kafka and MQTT, 1 and 2 processes, 5,000 events/s, 10 s
    python bench/bench_load.py --brokers kafka-bare,kafka    # the anchor: a plain consumer of the same topics
    python bench/bench_load.py --rate 2000 --seconds 5 --brokers kafka --processes 1
    python bench/bench_load.py --capacity 100000             # Kafka drain rate of a 100,000-record backlog, 1 vs 2
    python bench/bench_load.py --failover                    # a replica SIGKILLed mid-stream: loss and takeover time
    python bench/bench_load.py --tiers --wells 10000         # 10,000 wells at 1-minute telemetry: tier durations

Each row: events offered and buffered, the delivered rate, publish→buffered p50/p99 (the telemetry's ``ts`` is its
publish time; per process, the worst shown), and CPU seconds and resident memory of every replica process. The
publisher is its own process; everything runs on loopback; every run is bounded in count and time. The broker,
Redis and the replicas share the machine's cores: on 2 cores a second replica competes with them.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tb_bridge.config import KAFKA_LIFT_TYPES  # noqa: E402
from tb_bridge.faults.kafka_field import KafkaFieldPublisher, synthetic_wells, telemetry_record, telemetry_values  # noqa: E402
from tb_bridge.faults.servers import MosquittoServer, RedisServer, TansuServer  # noqa: E402
from tb_bridge.wells.model import DEVICE_PROFILE_BY_LIFT_TYPE  # noqa: E402

PARTITIONS = 12


@dataclass
class Replica:
    proc: subprocess.Popen
    name: str
    last: dict = field(default_factory=dict)
    tiers: list = field(default_factory=list)
    thread: threading.Thread | None = None

    def follow(self) -> None:
        for line in self.proc.stdout:
            try:
                status = json.loads(line)
            except ValueError:
                continue
            if "tier" in status:
                self.tiers.append(status)
            else:
                self.last = status


def start_replica(name: str, broker: str, address: str, redis_url: str, prefix: str, shared: bool,
                  extra: list[str] | None = None) -> Replica:
    if broker == "kafka-bare":  # the anchor: a plain consumer of the same topics, no service
        broker, extra = "kafka", [*(extra or []), "--bare"]
    args = [sys.executable, "-m", "tb_bridge.faults.kafka_replica", "--redis-url", redis_url, "--key-prefix",
            f"{prefix}:", "--instance", name, "--group", f"{prefix}-group", "--topic-prefix", prefix,
            "--partitions", str(PARTITIONS), "--buffer-points", "2000", "--status-interval-s", "0.25",
            "--transport", broker, "--bootstrap", address if broker == "kafka" else "unused"]
    if broker == "mqtt":
        args += ["--mqtt-port", address.rsplit(":", 1)[1]] + (["--mqtt-shared-group", "bench"] if shared else [])
    proc = subprocess.Popen(args + (extra or []), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            stdin=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=ROOT)
    replica = Replica(proc, name)
    replica.thread = threading.Thread(target=replica.follow, daemon=True)
    replica.thread.start()
    return replica


def wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def publish(broker: str, address: str, prefix: str, wells_n: int, rate: float, seconds: float, out) -> None:
    """The publisher process: telemetry of ``wells_n`` wells round-robin at ``rate`` events/s (0: as fast as it
    can) for ``seconds`` or until ``rate * seconds`` events; ``ts`` = publish time."""
    wells = synthetic_wells({t: max(1, wells_n // 4) for t in ("esp", "srp", "pcp", "gas_lift")})[:wells_n]
    total = int(rate * seconds) if rate > 0 else int(seconds)
    if broker == "kafka":
        from tb_bridge.transport.kafka import kafka_client_config

        publisher = KafkaFieldPublisher(kafka_client_config(address), {t: f"{prefix}.telemetry.{t}"
                                                                         for t in KAFKA_LIFT_TYPES}, f"{prefix}.events")
        send = lambda well, ts, values: publisher.telemetry(well, ts, values)  # noqa: E731
        finish = lambda: publisher.flush(60)  # noqa: E731
    else:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{prefix}", protocol=mqtt.MQTTv5)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        host, port = address.rsplit(":", 1)
        client.connect(host, int(port))
        client.loop_start()
        infos = []

        def send(well, ts, values):
            topic = f"{prefix}/v1/{DEVICE_PROFILE_BY_LIFT_TYPE[well.lift_type]}/{well.name}"
            infos.append(client.publish(topic, telemetry_record(well, ts, values), qos=1))

        def finish():
            for info in infos[-1000:]:
                info.wait_for_publish(60)
            client.loop_stop()
            client.disconnect()
            return 0
    start = time.perf_counter()
    for i in range(total):
        if rate > 0:
            lag = start + i / rate - time.perf_counter()
            if lag > 0:
                time.sleep(lag)
        well = wells[i % len(wells)]
        send(well, int(time.time() * 1000), telemetry_values(well.lift_type, i // len(wells), i % len(wells)))
    left = finish()
    out.put({"sent": total, "publish_s": time.perf_counter() - start, "unacked": left})


def run_rate(broker: str, processes: int, args) -> dict:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    server = TansuServer() if broker.startswith("kafka") else MosquittoServer()
    with server, RedisServer() as redis_server:
        address = server.bootstrap_servers if broker.startswith("kafka") else f"127.0.0.1:{server.port}"
        replicas = [start_replica(f"r{i + 1}", broker, address, redis_server.url, prefix, processes > 1)
                    for i in range(processes)]
        try:
            ready = wait(lambda: all(r.last.get("partitions") for r in replicas)
                         and (not broker.startswith("kafka") or sum(len(r.last["partitions"]) for r in replicas)
                              == PARTITIONS * len(KAFKA_LIFT_TYPES)), 60)
            if not ready:
                return {"broker": broker, "processes": processes, "error": "replicas did not start"}
            out = multiprocessing.Queue()
            publisher = multiprocessing.Process(target=publish, args=(broker.split("-")[0], address, prefix, args.wells,
                                                                      args.rate,
                                                                      args.seconds if args.rate > 0 else args.events, out))
            t0 = time.perf_counter()
            publisher.start()
            sent = out.get(timeout=args.seconds * 10 + 120)
            publisher.join(30)
            buffered = lambda: sum(r.last.get("buffered_telemetry", 0) for r in replicas)  # noqa: E731
            wait(lambda: buffered() >= sent["sent"], 60)
            stalled_at = time.perf_counter()
            last = -1
            while buffered() != last and time.perf_counter() - stalled_at < 5:  # settle: nothing more arrives
                last = buffered()
                time.sleep(0.5)
            elapsed = min(max(r.last.get("t", 0) for r in replicas), time.perf_counter() - t0)
            done = buffered()
            firsts = [r.last["first_buffered_ms"] for r in replicas if r.last.get("first_buffered_ms")]
            lasts = [r.last["last_buffered_ms"] for r in replicas if r.last.get("last_buffered_ms")]
            window_s = (max(lasts) - min(firsts)) / 1000.0 if firsts and lasts else 0.0
            worst = max(replicas, key=lambda r: r.last.get("p99_ms") or 0)
            return {"broker": broker, "processes": processes, "offered_per_s": args.rate, "sent": sent["sent"],
                    "buffered": done, "lost": sent["sent"] - done, "publish_s": round(sent["publish_s"], 2),
                    "delivered_per_s": round(done / max(window_s if args.rate <= 0 else sent["publish_s"], 1e-9), 1),
                    "p50_ms": worst.last.get("p50_ms"), "p99_ms": worst.last.get("p99_ms"),
                    "per_process": [{"name": r.name, "events": r.last.get("buffered_telemetry"),
                                     "cpu_s": r.last.get("cpu_s"), "rss_mb": r.last.get("rss_mb"),
                                     "p99_ms": r.last.get("p99_ms")} for r in replicas], "elapsed_s": round(elapsed, 1)}
        finally:
            for r in replicas:
                r.proc.terminate()
            for r in replicas:
                try:
                    r.proc.wait(20)
                except subprocess.TimeoutExpired:
                    r.proc.kill()


def run_capacity(processes: int, events: int, args) -> dict:
    """Kafka capacity: replicas joined first, then ``events`` records published as fast as the publisher can (a
    backlog builds at once); the rate is the buffered count over first-to-last buffered time of all processes."""
    args = argparse.Namespace(**{**vars(args), "rate": 0.0, "events": events})
    return run_rate("kafka", processes, args)


def run_failover(args) -> dict:
    """Two replicas, a steady stream; one is SIGKILLed mid-stream: records lost, and the time until the survivor owns
    every partition (``--session-timeout-ms`` is the detection time; the broker's rebalance comes on top)."""
    prefix = f"f{uuid.uuid4().hex[:8]}"
    with TansuServer() as server, RedisServer() as redis_server:
        replicas = [start_replica(f"r{i + 1}", "kafka", server.bootstrap_servers, redis_server.url, prefix, True,
                                  ["--session-timeout-ms", str(args.session_timeout_ms)]) for i in range(2)]
        n_parts = PARTITIONS * len(KAFKA_LIFT_TYPES)
        try:
            wait(lambda: all(r.last.get("partitions") for r in replicas)
                 and sum(len(r.last["partitions"]) for r in replicas) == n_parts, 60)
            out = multiprocessing.Queue()
            pub = multiprocessing.Process(target=publish, args=("kafka", server.bootstrap_servers, prefix, args.wells,
                                                                1000, 10, out))
            pub.start()
            time.sleep(4)
            killed = replicas[1]
            killed_events = killed.last.get("buffered_telemetry", 0)
            killed.proc.send_signal(signal.SIGKILL)
            t_kill = time.perf_counter()
            wait(lambda: len(replicas[0].last.get("partitions", [])) == n_parts, 60)
            takeover_s = time.perf_counter() - t_kill
            sent = out.get(timeout=120)
            pub.join(30)
            from tb_bridge.buffer.redis_buffer import RedisBuffer

            buffer = RedisBuffer(redis_server.url, key_prefix=f"{prefix}:", max_points=2000)

            def count() -> int:  # distinct (well, ts) samples in the shared buffer
                return sum(len(buffer.window(w)) for w in buffer.wells())
            wait(lambda: count() >= sent["sent"], 60)
            return {"sent": sent["sent"], "buffered_distinct": count(), "lost": sent["sent"] - count(),
                    "killed_had_buffered": killed_events, "takeover_s": round(takeover_s, 2),
                    "session_timeout_s": args.session_timeout_ms / 1000.0}
        finally:
            for r in replicas:
                if r.proc.poll() is None:
                    r.proc.terminate()
                    r.proc.wait(20)


def run_tiers(args) -> dict:
    """``--wells`` wells configured through Kafka, ``--history`` 5-minute samples each preloaded into the Redis
    buffer (a day by default: what the 5-minute tier reads), then 1-minute telemetry through Kafka (wells / 60
    events/s) while one replica runs the 5-minute and the hourly tier once; their durations are the result."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    per_type = max(1, args.wells // 4)
    with TansuServer() as server, RedisServer() as redis_server:
        import numpy as np

        from engines.fielddata import SyntheticField
        from tb_bridge.buffer.redis_buffer import RedisBuffer
        from tb_bridge.transport.kafka import kafka_client_config

        wells = synthetic_wells({t: per_type for t in ("esp", "srp", "pcp", "gas_lift")})
        topics = {t: f"{prefix}.telemetry.{t}" for t in KAFKA_LIFT_TYPES}
        now = int(time.time() * 1000)
        field = SyntheticField(wells_per_lift_type=per_type, seed=0)
        buffer = RedisBuffer(redis_server.url, key_prefix=f"{prefix}:", max_points=args.history + 120)
        by_name = {w.name: w for w in wells}
        t_load = time.perf_counter()
        for lift in ("esp", "srp", "pcp", "gas_lift"):
            arrays = field.arrays(lift, args.history)
            keys = list(arrays)
            block = np.stack([arrays[k] for k in keys], axis=-1)  # (wells, steps, keys)
            stamps = now - (args.history - np.arange(args.history)) * 300_000
            for sw in field.wells_of(lift):
                rows = block[sw.index].tolist()
                buffer.append_many((by_name[sw.name].well_id, int(stamps[t]), dict(zip(keys, rows[t])))
                                   for t in range(args.history))
        load_s = time.perf_counter() - t_load
        tier_args = [a for tier in args.tier_list.split(",") for a in ("--run-tier", tier)]
        replica = start_replica("r1", "kafka", server.bootstrap_servers, redis_server.url, prefix, False,
                                [*tier_args, "--buffer-points", str(args.history + 120)])
        try:
            wait(lambda: len(replica.last.get("partitions", [])) == PARTITIONS * len(KAFKA_LIFT_TYPES), 60)
            publisher = KafkaFieldPublisher(kafka_client_config(server.bootstrap_servers), topics, f"{prefix}.events")
            publisher.configure(wells)
            publisher.flush(300)
            wait(lambda: replica.last.get("wells_valid", 0) >= len(wells), 600)  # every configuration registered
            stop = threading.Event()

            def trickle() -> None:  # 1-minute telemetry of every well while the tiers run
                i = 0
                while not stop.wait(1.0):
                    for well in wells[(i * len(wells)) // 60:((i + 1) * len(wells)) // 60]:
                        publisher.telemetry(well, int(time.time() * 1000), telemetry_values(well.lift_type, i, 0))
                    publisher.flush(0)
                    i = (i + 1) % 60
            thread = threading.Thread(target=trickle, daemon=True)
            thread.start()
            replica.proc.stdin.write("tiers\n")
            replica.proc.stdin.flush()
            wait(lambda: len(replica.tiers) >= len(tier_args) // 2, 3600)
            stop.set()
            return {"wells": len(wells), "history_samples_per_well": args.history, "preload_s": round(load_s, 1),
                    "tiers": replica.tiers, "cpu_s": replica.last.get("cpu_s"), "rss_mb": replica.last.get("rss_mb"),
                    "trickle_events_buffered": replica.last.get("buffered_telemetry", 0)}
        finally:
            replica.proc.terminate()
            replica.proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="kafka,mqtt")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s offered (0: as fast as possible)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=50_000, help="events sent when --rate 0")
    parser.add_argument("--wells", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=0, help="Kafka drain of a backlog of this many records")
    parser.add_argument("--failover", action="store_true")
    parser.add_argument("--session-timeout-ms", type=int, default=6000, help="--failover: the replicas' session timeout")
    parser.add_argument("--tiers", action="store_true")
    parser.add_argument("--history", type=int, default=288, help="--tiers: 5-minute samples per well in the buffer")
    parser.add_argument("--tier-list", default="fast,hourly", help="--tiers: the tiers to run, in order")
    args = parser.parse_args()
    rows = []
    if args.capacity:
        for n in (int(p) for p in args.processes.split(",")):
            rows.append(run_capacity(n, args.capacity, args))
            print(json.dumps(rows[-1]), flush=True)
    elif args.failover:
        rows.append(run_failover(args))
        print(json.dumps(rows[-1]), flush=True)
    elif args.tiers:
        rows.append(run_tiers(args))
        print(json.dumps(rows[-1]), flush=True)
    else:
        for broker in args.brokers.split(","):
            for n in (int(p) for p in args.processes.split(",")):
                rows.append(run_rate(broker, n, args))
                print(json.dumps(rows[-1]), flush=True)
        print(f"\n{'broker':6} {'proc':>4} {'offered/s':>9} {'sent':>7} {'buffered':>8} {'lost':>6} {'ev/s':>8} "
              f"{'p50 ms':>7} {'p99 ms':>8}  cpu s / rss MB per process")
        for row in rows:
            if "error" in row:
                print(row)
                continue
            procs = ", ".join(f"{p['cpu_s']}/{p['rss_mb']}" for p in row["per_process"])
            print(f"{row['broker']:6} {row['processes']:>4} {row['offered_per_s']:>9.0f} {row['sent']:>7} "
                  f"{row['buffered']:>8} {row['lost']:>6} {row['delivered_per_s']:>8.0f} {row['p50_ms']!s:>7} "
                  f"{row['p99_ms']!s:>8}  {procs}")


if __name__ == "__main__":
    main()
