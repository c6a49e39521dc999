"""Benchmark the telemetry buffers: appends per second and window reads per second.

MemoryBuffer (per point and append_many) and RedisBuffer (one round trip per point vs. one pipeline
per batch). Uses the Redis at $ATILAX_BENCH_REDIS_URL, else 127.0.0.1:6379, else starts a private
redis-server on a free port. Keys live under a unique prefix and are deleted afterwards.

    python bench/bench_buffer.py [--wells 100] [--points 288] [--batch 1000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import numpy as np
import redis

from tb_bridge.buffer import MemoryBuffer, RedisBuffer

ESP_KEYS = ("flow_rate_bpd", "oil_rate_bpd", "water_cut_frac", "tubing_pressure_psi", "frequency_hz",
            "motor_current_a", "intake_pressure_psi", "motor_temperature_f")
T0_MS = 1_700_000_000_000


def samples(n_wells: int, n_points: int, seed: int = 1) -> list[tuple[str, int, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    values = rng.normal(100.0, 10.0, size=(n_points, n_wells, len(ESP_KEYS)))
    return [
        (f"W-{w:04d}", T0_MS + i * 300_000, dict(zip(ESP_KEYS, values[i, w].tolist())))
        for i in range(n_points) for w in range(n_wells)
    ]


def redis_server() -> tuple[str, subprocess.Popen | None, str | None]:
    url = os.environ.get("ATILAX_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping():
            return url, None, None
    except redis.RedisError:
        pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="atilax-bench-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", workdir], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            if redis.Redis.from_url(url).ping():
                return url, proc, workdir
        except redis.RedisError:
            time.sleep(0.05)
    raise SystemExit("could not reach or start redis-server")


def rate(label: str, n: int, seconds: float) -> float:
    per_s = n / seconds
    print(f"  {label:<42s} {n:>8d} in {seconds:7.3f} s = {per_s:>11,.0f} /s")
    return per_s


def run_batches(append_many, data, batch: int) -> None:
    for start in range(0, len(data), batch):
        append_many(data[start:start + batch])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=100)
    parser.add_argument("--points", type=int, default=288)
    parser.add_argument("--batch", type=int, default=1000, help="samples per append_many call")
    args = parser.parse_args()
    data = samples(args.wells, args.points)
    n = len(data)
    print(f"cores: {os.cpu_count()}  samples: {n} ({args.wells} wells x {args.points} points, "
          f"{len(ESP_KEYS)} keys each), batch {args.batch}")

    print("MemoryBuffer")
    mem = MemoryBuffer()
    t = time.perf_counter()
    for sample in data:
        mem.append(*sample)
    mem_single = rate("append (per point)", n, time.perf_counter() - t)
    mem = MemoryBuffer()
    t = time.perf_counter()
    run_batches(mem.append_many, data, args.batch)
    mem_many = rate("append_many", n, time.perf_counter() - t)
    t = time.perf_counter()
    for w in range(args.wells):
        mem.window(f"W-{w:04d}")
    rate("window() reads", args.wells, time.perf_counter() - t)

    url, proc, workdir = redis_server()
    prefix = f"atilax-bench:{uuid.uuid4().hex}:"
    print(f"RedisBuffer at {url}")
    try:
        single = RedisBuffer(url, key_prefix=prefix + "single:")
        t = time.perf_counter()
        single.append_each(data)
        red_single = rate("append (one round trip per point)", n, time.perf_counter() - t)
        many = RedisBuffer(url, key_prefix=prefix + "many:")
        t = time.perf_counter()
        run_batches(many.append_many, data, args.batch)
        red_many = rate("append_many (pipelined, grouped by well)", n, time.perf_counter() - t)
        t = time.perf_counter()
        for w in range(args.wells):
            many.window(f"W-{w:04d}")
        rate("window() reads (288 points)", args.wells, time.perf_counter() - t)
        same = all(np.array_equal(single.window(f"W-{w:04d}").values["flow_rate_bpd"],
                                  mem.window(f"W-{w:04d}").values["flow_rate_bpd"]) for w in range(args.wells))
        print(f"  redis windows identical to memory windows: {same}")
        single.clear()
        many.clear()
        single.close()
        many.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
            shutil.rmtree(workdir, ignore_errors=True)
    print("ratios")
    print(f"  redis pipelined / per point : {red_many / red_single:6.1f} x")
    print(f"  memory append_many / redis pipelined : {mem_many / red_many:6.1f} x")
    print(f"  memory append_many / per point : {mem_many / mem_single:6.2f} x")


if __name__ == "__main__":
    main()
