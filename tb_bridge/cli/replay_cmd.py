"""`atilax diagnose replay RECORDING.csv`: stream a long recording through the service's stateful diagnostics.

The CSV has a time column (``ts``: epoch milliseconds, or ISO 8601; also accepted as ``timestamp`` / ``time``)
and one column per telemetry key in oilfield units (``downhole_pressure_psi``, ...); an empty cell is a key not
reported in that sample, a row with no value is no sample. The samples enter the service's buffer at their
native sampling, the fast tier's diagnostics runs every ``--every-s`` seconds of recording time (CUSUM / EWMA
state, first baseline after one day of samples, daily baseline refresh: ``tb_bridge.replay``), and the events
(an anomaly type that starts, changes or ends) are printed with their timestamps, as a table, CSV or JSON;
``--runs`` prints every run's verdict instead.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime, timezone

import numpy as np

from tb_bridge.cli.io import CliInputError, format_table, read_json, read_text, to_jsonable

#: A natural-flow well's configuration when ``--attributes`` is not given (the replay reads only the sensor
#: resolution and nameplates from it; these values only satisfy the model's validation).
DEFAULT_NATURAL_FLOW_ATTRIBUTES = {"reservoir_pressure_psi": 5000.0, "bubble_point_psi": 1000.0,
                                   "perforation_depth_ft": 10000.0, "productivity_index_bpd_psi": 1.0}
TIME_COLUMNS = ("ts", "timestamp", "time")


def add_arguments(parser) -> None:
    parser.add_argument("recording", nargs="?", help="with `replay`: the recording CSV (or - for stdin)")
    parser.add_argument("--lift-type", default="natural_flow", help="replay: lift type of the well (default natural_flow)")
    parser.add_argument("--attributes", help="replay: JSON file of the well's flat attributes (required but for natural_flow)")
    parser.add_argument("--every-s", type=int, default=300, help="replay: seconds of recording between fast-tier runs (300)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default=None, help="replay: output format")
    parser.add_argument("--runs", action="store_true", help="replay: print every run's verdict instead of the events")


def parse_recording(text: str, source: str = "recording") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(ts_ms ascending, {key: values}) from the CSV text; raises CliInputError with the line of a bad cell."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CliInputError(f"{source}: empty recording") from None
    time_col = next((i for i, h in enumerate(header) if h.lower() in TIME_COLUMNS), None)
    if time_col is None:
        raise CliInputError(f"{source}: no time column (one of {', '.join(TIME_COLUMNS)})")
    keys = [h for i, h in enumerate(header) if i != time_col]
    if not keys:
        raise CliInputError(f"{source}: no telemetry column")
    ts: list[int] = []
    cols: list[list[float]] = [[] for _ in keys]
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise CliInputError(f"{source}:{line}: {len(row)} cells, the header has {len(header)}")
        ts.append(_parse_time(row[time_col].strip(), f"{source}:{line}"))
        j = 0
        for i, cell in enumerate(row):
            if i == time_col:
                continue
            cell = cell.strip()
            try:
                cols[j].append(float(cell) if cell else np.nan)
            except ValueError:
                raise CliInputError(f"{source}:{line}: {header[i]} is not a number: {cell!r}") from None
            j += 1
    t = np.asarray(ts, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    if t.size > 1 and np.any(np.diff(t) == 0):
        raise CliInputError(f"{source}: repeated timestamps")
    return t, {k: np.asarray(c, dtype=float)[order] for k, c in zip(keys, cols)}


def _parse_time(cell: str, where: str) -> int:
    """Epoch milliseconds from epoch ms or ISO 8601 (UTC when no offset is given)."""
    try:
        return int(float(cell))
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(cell.replace("Z", "+00:00"))
    except ValueError:
        raise CliInputError(f"{where}: bad time {cell!r} (epoch ms or ISO 8601)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(round(stamp.timestamp() * 1000))


def run(args) -> int:
    from tb_bridge.replay import ReplayWell, replay
    from tb_bridge.wells.model import WellConfigError, normalize_lift_type, parse_well_config

    if not args.recording:
        raise CliInputError("usage: atilax diagnose replay RECORDING.csv [--lift-type ...] [--format table|csv|json]")
    if args.every_s <= 0 or args.every_s > 86_400:
        raise CliInputError(f"--every-s must be in 1..86400, got {args.every_s}")
    lift = normalize_lift_type(args.lift_type)
    if args.attributes:
        attrs = read_json(args.attributes)
        if not isinstance(attrs, dict):
            raise CliInputError(f"{args.attributes}: expected a JSON object of well attributes")
    elif lift == "natural_flow":
        attrs = dict(DEFAULT_NATURAL_FLOW_ATTRIBUTES)
    else:
        raise CliInputError(f"--attributes is required for lift type {lift}")
    try:
        config = parse_well_config("replay", str(attrs.get("name", "replay")), {**attrs, "lift_type": lift})
    except WellConfigError as exc:
        raise CliInputError(str(exc)) from exc
    ts, values = parse_recording(read_text(args.recording), args.recording)
    try:
        runs, events = replay([ReplayWell(config, ts, values)], every_s=args.every_s)
    except ValueError as exc:
        raise CliInputError(f"{args.recording}: {exc}") from exc
    fmt = args.format or ("json" if getattr(args, "json", False) else "table")
    if args.runs:
        headers = ["time", "status", "anomaly_type", "severity", "score", "health", "detail"]
        rows = [[_iso(r.ts_ms), r.status, r.anomaly_type, r.severity, r.score, r.health, r.detail] for r in runs]
    else:
        headers = ["time", "event", "anomaly_type", "previous", "severity", "score", "evidence"]
        rows = [[_iso(e.ts_ms), e.kind, e.anomaly_type, e.previous, e.severity, e.score, json.dumps(to_jsonable(e.evidence))]
                for e in events]
    if fmt == "json":
        items = runs if args.runs else events
        records = [dict(zip(["ts_ms"] + headers, [x.ts_ms] + row)) for x, row in zip(items, rows)]
        if not args.runs:
            for record, e in zip(records, events):
                record["evidence"] = to_jsonable(e.evidence)
        json.dump(to_jsonable(records), sys.stdout, indent=2)
        print()
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
    else:
        print(f"Replay ({lift}): {ts.size} samples, {len(runs)} runs, {len(events)} events")
        print(format_table(headers, rows) if rows else "(no events)")
    return 0


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000.0, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
