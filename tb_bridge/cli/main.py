"""The `atilax` command line.

Each command family lives in its own module ``tb_bridge.cli.<family>`` that defines
``register(subparsers)``: it adds one sub-parser (with its own sub-commands) and sets
``func=callable(args) -> int`` on every leaf.  To add a family, write the module and add its
name to ``COMMAND_FAMILIES``; nothing else changes.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pydantic import ValidationError

from tb_bridge.cli.io import CliInputError, format_validation_error
from tb_bridge.config import load_log_level, mask_urls_in_text
from tb_bridge.log_setup import configure_logging

COMMAND_FAMILIES: tuple[str, ...] = (
    "config_cmd",
    "run_cmd",
    "demo_cmd",
    "wells_cmd",
    "db_cmd",
    "nodal",
    "dca",
    "lift",
    "srp",
    "pcp",
    "diagnose",
    "alarms",
    "placement",
    "standin",
    "tb_cmd",
    "preview_cmd",
    "api_cmd",
    "optimize",
    "ml",
    "rl",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atilax",
        description="Atilax production-optimization service for artificially lifted wells (ThingsBoard integration).",
    )
    parser.add_argument("--config", metavar="TOML", help="configuration file (default: $ATILAX_CONFIG or none)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v INFO, -vv DEBUG logging (overrides log_level / $ATILAX_LOG_LEVEL, default INFO)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for family in COMMAND_FAMILIES:
        try:
            module = importlib.import_module(f"tb_bridge.cli.{family}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tb_bridge.cli.{family}":
                continue  # family not installed in this build
            raise
        module.register(subparsers)
    return parser


def log_level(verbose: int) -> int:
    """The logging level: ``-vv`` DEBUG, ``-v`` INFO, else the configured ``log_level`` (``ATILAX_LOG_LEVEL`` >
    the TOML file > INFO); a bad value or configuration file is a :class:`CliInputError`."""
    if verbose:
        return logging.DEBUG if verbose >= 2 else logging.INFO
    try:
        return logging.getLevelName(load_log_level())
    except ValidationError as exc:
        raise CliInputError("invalid configuration:\n" + format_validation_error(exc)) from None
    except (OSError, ValueError) as exc:  # missing or unparsable TOML file
        raise CliInputError(f"invalid configuration: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        import os

        os.environ["ATILAX_CONFIG"] = args.config
    try:
        configure_logging(log_level(args.verbose))
    except CliInputError as exc:
        print(f"atilax: error: {exc}", file=sys.stderr)
        return 2
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except CliInputError as exc:
        print(f"atilax: error: {mask_urls_in_text(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `atilax config | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("atilax: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
