"""`atilax demo`: run a small synthetic field through the real service path on embedded defaults."""
from __future__ import annotations

import argparse
from pathlib import Path

from tb_bridge.cli.io import CliInputError, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the service end to end on a synthetic field (no ThingsBoard needed)")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--wells-per-type", type=int, default=3, help="wells per lift type (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--transport", choices=["grpc", "inprocess"], default="grpc",
                        help="how the stand-in delivers events to the service (default: the gRPC Edge protocol)")
    parser.add_argument("--json", action="store_true",
                        help="print the written attributes, and the data points of every dashboard widget, as JSON")
    parser.add_argument("--preview", metavar="OUT.html",
                        help="write every bundled dashboard, drawn from the stand-in's data at the demo's end, to OUT.html")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from tb_bridge.demo import format_result, run_demo

    if args.hours <= 0 or args.wells_per_type < 1:
        raise CliInputError("--hours must be positive and --wells-per-type at least 1")
    result = run_demo(hours=args.hours, wells_per_lift_type=args.wells_per_type, seed=args.seed,
                      transport=args.transport, progress=not args.no_progress and not args.json,
                      preview=Path(args.preview) if args.preview else None)
    if args.json:
        print_json({"wells": result.wells, "attributes": result.attributes, "tier_runs": result.tier_runs,
                    "telemetry_events": result.telemetry_events, "dead_letters": result.dead_letters,
                    "what_if": result.what_if, "simulation": result.simulation, "placement": result.placement,
                    "lstm_ae": result.lstm_ae, "dashboards": result.dashboards})
    else:
        format_result(result)
    return 0
