"""`atilax run`: the service against the configured ThingsBoard."""
from __future__ import annotations

import argparse

from pydantic import ValidationError

from tb_bridge.cli.io import CliInputError, format_validation_error
from tb_bridge.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the service against the configured ThingsBoard (Ctrl-C stops it)")
    parser.add_argument("--allow-shared-user", action="store_true",
                        help="write back as a user other than the service user of `atilax tb setup` (that user's own "
                        "attribute edits are then ignored as echoes); same as allow_shared_user = true")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tb_bridge.runner import run_service

    try:
        settings = load_settings(**({"allow_shared_user": True} if args.allow_shared_user else {}))
    except ValidationError as exc:
        raise CliInputError("invalid configuration:\n" + format_validation_error(exc)) from exc
    try:
        return run_service(settings)
    except ValueError as exc:
        raise CliInputError(str(exc)) from exc
