"""`atilax config`: print the effective configuration, secrets masked."""
from __future__ import annotations

import argparse
import json

from pydantic import ValidationError

from tb_bridge.cli.io import CliInputError, format_validation_error
from tb_bridge.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="print the effective configuration (secrets masked)")
    parser.add_argument("--json", action="store_true", help="JSON instead of KEY = value lines")
    parser.set_defaults(func=_show)


def _flatten(prefix: str, node: object, out: list[tuple[str, object]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else key, value, out)
    else:
        out.append((prefix, node))


def _show(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ValidationError as exc:
        raise CliInputError("invalid configuration:\n" + format_validation_error(exc)) from exc
    except FileNotFoundError as exc:
        raise CliInputError(str(exc)) from exc
    masked = settings.masked()
    if args.json:
        print(json.dumps(masked, indent=2))
        return 0
    rows: list[tuple[str, object]] = []
    _flatten("", masked, rows)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        env = "ATILAX_" + key.upper().replace(".", "__")
        print(f"{key.ljust(width)} = {json.dumps(value)}    ({env})")
    return 0
