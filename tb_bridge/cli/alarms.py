"""`atilax alarms kpi LOG.csv | --db URL`: ISA-18.2 / EEMUA 191 alarm-system metrics from an alarm log.

CSV columns (header required): ``timestamp`` (epoch seconds or ISO-8601), ``tag`` and ``event``
(ACTIVE, RTN; other events such as ACK or SHELVE are read and ignored by the metrics).

``--db URL`` reads the log from the history store instead: the ISA-18.2 state changes the service keeps
(``alarm_event`` rows; the event is the row's ``details.kind``, the tag ``<well id>/<alarm type>``), within
``--start`` / ``--end`` when given (which are then also the period of the metrics).
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from tb_bridge.cli.io import CliInputError, format_table, print_json, print_key_values, read_text


def register(subparsers) -> None:
    parser = subparsers.add_parser("alarms", help="alarm management (ISA-18.2 / EEMUA 191)")
    sub = parser.add_subparsers(dest="alarms_command", required=True)
    p = sub.add_parser("kpi", help="alarm-log performance metrics (rates, floods, bad actors, chattering, stale)")
    p.add_argument("input", nargs="?", help="CSV alarm log (timestamp,tag,event), or - for stdin")
    p.add_argument("--db", metavar="URL", help="read the alarm state changes from this history store instead "
                                               "(sqlite:///... or postgresql://...)")
    p.add_argument("--well", help="with --db: only this well's alarms (entity id)")
    p.add_argument("--operators", type=int, default=1, help="number of operators sharing the alarms (default 1)")
    p.add_argument("--start", help="period start (epoch s or ISO-8601); default first event")
    p.add_argument("--end", help="period end (epoch s or ISO-8601); default last event")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_kpi)


def _time(text: str, where: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise CliInputError(f"{where}: cannot read time {text!r} (epoch seconds or ISO-8601)") from exc


def read_log(source: str):
    """Parse the CSV alarm log into (ts_s, tags, events)."""
    reader = csv.DictReader(io.StringIO(read_text(source)))
    fields = {f.strip().lower() for f in (reader.fieldnames or [])}
    missing = {"timestamp", "tag", "event"} - fields
    if missing:
        raise CliInputError(f"{source}: missing column(s) {sorted(missing)}; need timestamp,tag,event")
    ts, tags, events = [], [], []
    for n, row in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("tag"):
            raise CliInputError(f"{source}: line {n}: empty tag")
        ts.append(_time(row["timestamp"], f"{source}: line {n}"))
        tags.append(row["tag"])
        events.append(row["event"].upper())
    if not ts:
        raise CliInputError(f"{source}: the log has no events")
    return ts, tags, events


def read_history_log(url: str, start_s: float | None = None, end_s: float | None = None, well_id: str | None = None):
    """(ts_s, tags, events) of the alarm state changes in the history store at ``url`` with
    ``start_s <= ts < end_s``, oldest first; a row without ``details.kind`` (not written by the service's
    alarm step) is read as ``ACTIVE`` when its state is UNACK and skipped otherwise."""
    from tb_bridge.config import mask_url_password
    from tb_bridge.history.period_log import kpi_log
    from tb_bridge.history.store import HistoryStore

    when = lambda s: None if s is None else datetime.fromtimestamp(s, timezone.utc)  # noqa: E731
    store = HistoryStore(url)
    try:
        if store.schema_revision() is None:
            raise CliInputError(f"{mask_url_password(url)}: not an Atilax history store (no schema; run `atilax db migrate`)")
        rows = store.alarm_log(when(start_s), when(end_s), well_id)
    finally:
        store.close()
    return kpi_log(rows)  # the same log the weekly field review reads (tb_bridge.field_review)


def _kpi(args) -> int:
    from engines.alarms.kpi import TARGETS, alarm_kpis
    from tb_bridge.config import mask_url_password

    start = _time(args.start, "--start") if args.start else None
    end = _time(args.end, "--end") if args.end else None
    if (args.input is None) == (args.db is None):
        raise CliInputError("give either an alarm log (LOG.csv or -) or --db URL")
    if args.well and not args.db:
        raise CliInputError("--well needs --db")
    if args.db:
        try:
            ts, tags, events = read_history_log(args.db, start, end, args.well)
        except CliInputError:
            raise
        except Exception as exc:  # unreachable server, bad URL: a clear message, not a traceback
            raise CliInputError(f"{mask_url_password(args.db)}: cannot read the alarm log: {type(exc).__name__}: "
                              f"{(str(exc).splitlines() or [''])[0]}") from exc
        if not ts:
            raise CliInputError(f"{mask_url_password(args.db)}: no alarm state changes in the period")
    else:
        ts, tags, events = read_log(args.input)
    if args.operators < 1:
        raise CliInputError("--operators must be >= 1")
    k = alarm_kpis(ts, tags, events, start, end, args.operators)
    if args.json:
        print_json({"kpi": k, "targets": TARGETS})
        return 0
    print_key_values([
        ("alarms", k.n_alarms), ("period (h)", k.duration_s / 3600.0),
        ("alarms / operator / 10 min", k.alarms_per_operator_per_10min),
        ("alarms / operator / hour", k.alarms_per_operator_per_hour),
        ("peak alarms in 10 min", k.peak_alarms_per_10min),
        ("flood periods (>10 in 10 min)", f"{k.flood_periods} of {k.n_periods}"),
        ("% time in flood", k.pct_time_in_flood), ("top-10 share %", k.top10_share_pct),
        ("chattering alarms", ", ".join(k.chattering_tags) or "none"),
        ("stale alarms (>24 h)", ", ".join(k.stale_tags) or "none"),
    ], title="ISA-18.2 / EEMUA 191 alarm KPIs")
    print()
    print(format_table(["bad actor", "alarms", "% of all"], [list(a) for a in k.top_bad_actors]))
    return 0
