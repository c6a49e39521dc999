"""Fault benchmark: the service streaming while Mosquitto, Redis, PostgreSQL or ThingsBoard is killed and restarted.

Runs the scenarios of ``tests/faults`` (:mod:`tb_bridge.faults.scenarios`) with larger counts, each on private
servers it starts and kills, and prints one row per scenario: events sent, processed (buffered or dead-lettered
with a reason; for ThingsBoard: points it holds), dead-lettered, lost, duplicates, seconds from the restart to
the first successful use (recovery) and until everything was accounted for (drain), and whether a new event
was processed afterwards. The shared-group broker restart shows the loss Mosquitto 2.0 causes (it does not
save shared subscriptions): what the publisher sends between the broker's restart and the replica's
resubscription is dropped, so the count depends on who reconnects first (paho's reconnect delays double from
0.1 s; with 2 s down the publisher is first). That is why ``mqtt.shared_group`` defaults to none.

    python bench/bench_faults.py [--wells 20] [--per-well 500] [--rate 2000] [--down-s 2] [--only redis_restart ...]
"""
from __future__ import annotations

import argparse
import logging
import time

from tb_bridge.cli.io import format_table
from tb_bridge.faults.scenarios import (
    FaultReport,
    mqtt_broker_restart,
    mqtt_service_crash,
    postgres_restart,
    redis_restart,
    thingsboard_restart,
)

RUNS = {
    "mqtt_broker_restart": lambda common: mqtt_broker_restart(**common),
    "mqtt_broker_restart_shared": lambda common: mqtt_broker_restart(shared_group="atilax",
                                                                     **{**common, "drain_timeout_s": 10.0}),
    "mqtt_service_crash": lambda common: mqtt_service_crash(**common),
    "mqtt_service_crash_shared": lambda common: mqtt_service_crash(shared_group="atilax", **common),
    "redis_restart": lambda common: redis_restart(**common),
    "postgres_restart": lambda common: postgres_restart(**common),
    "thingsboard_restart": lambda common: thingsboard_restart(outbox_max_items=1000, **common),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=20)
    parser.add_argument("--per-well", type=int, default=500, help="events per well in the stream")
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second")
    parser.add_argument("--down-s", type=float, default=2.0, help="seconds the killed part stays down")
    parser.add_argument("--kill-fraction", type=float, default=0.3, help="share of the stream sent before the kill")
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), help="run only these scenarios")
    args = parser.parse_args()
    if args.per_well * args.wells > 60_000:
        parser.error("at most 60,000 events per scenario (MQTT message ids repeat after 65,535 in flight)")
    # the outages log a warning per failed attempt (tb-rest-client resets urllib3's level, so disable globally)
    # and uvicorn an error per request a killed ThingsBoard left unanswered
    logging.disable(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    common = {"wells": args.wells, "per_well": args.per_well, "rate_per_s": args.rate, "down_s": args.down_s,
              "kill_fraction": args.kill_fraction, "drain_timeout_s": 60.0}
    reports: list[FaultReport] = []
    for name in args.only or list(RUNS):
        started = time.perf_counter()
        report = RUNS[name](common)
        reports.append(report)
        print(f"{name}: {time.perf_counter() - started:.1f} s wall; {report.details}", flush=True)
    print()
    print(format_table(list(FaultReport.HEADERS), [r.row() for r in reports], float_format="{:.2f}"))


if __name__ == "__main__":
    main()
