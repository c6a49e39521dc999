"""`atilax db`: create/upgrade the history schema and inspect dead-lettered events."""
from __future__ import annotations

import argparse

from tb_bridge.cli.io import format_table, print_json
from tb_bridge.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="history store: migrate the schema, list dead letters")
    sub = parser.add_subparsers(dest="db_command", required=True)
    migrate = sub.add_parser("migrate", help="create or upgrade the schema (Alembic) at database_url")
    migrate.add_argument("--url", help="SQLAlchemy URL (default: the configured database_url)")
    migrate.set_defaults(func=_migrate)
    letters = sub.add_parser("dead-letters", help="events that could not be processed, oldest first")
    letters.add_argument("--url", help="SQLAlchemy URL (default: the configured database_url)")
    letters.add_argument("--limit", type=int, default=50)
    letters.add_argument("--json", action="store_true")
    letters.set_defaults(func=_dead_letters)


def _store(url: str | None):
    from tb_bridge.history.store import HistoryStore

    return HistoryStore(url or load_settings().database_url)


def _migrate(args: argparse.Namespace) -> int:
    with _store(args.url) as store:
        store.migrate()
        print(f"schema at revision {store.schema_revision()}")
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    with _store(args.url) as store:
        store.migrate()
        letters = store.dead_letters(limit=args.limit)
    if args.json:
        print_json([letter.__dict__ for letter in letters])
        return 0
    rows = [(d.id, d.received_at.isoformat(timespec="seconds"), d.source, d.well_id or "-", d.error[:80]) for d in letters]
    print(format_table(["id", "received", "source", "well", "error"], rows))
    return 0
