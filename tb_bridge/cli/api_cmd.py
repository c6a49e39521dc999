"""`atilax api`: serve the HTTP API alone (`serve`), or print its OpenAPI document (`openapi`)."""
from __future__ import annotations

import argparse
import json

from pydantic import ValidationError

from tb_bridge.cli.io import CliInputError, format_validation_error
from tb_bridge.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("api", help="the HTTP API: serve it alone, or print its OpenAPI document")
    commands = parser.add_subparsers(dest="api_command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="serve the API (api.host:api.port) over the configured buffer, history "
                                "store and ThingsBoard, without transport or scheduler (Ctrl-C stops it)")
    serve.add_argument("--host", help="listen address (default api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default api.port, 8000)")
    serve.set_defaults(func=_serve)
    openapi = commands.add_parser("openapi", help="print the OpenAPI document (JSON)")
    openapi.add_argument("--indent", type=int, default=2, help="JSON indentation (0: one line)")
    openapi.set_defaults(func=_openapi)


def _settings(**api: object):
    try:
        settings = load_settings()
        if api:
            settings = settings.model_copy(update={"api": settings.api.model_copy(update=api)})
        return settings
    except ValidationError as exc:
        raise CliInputError("invalid configuration:\n" + format_validation_error(exc)) from exc


def _serve(args: argparse.Namespace) -> int:
    from tb_bridge.api.server import serve_alone

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CliInputError(f"--port must be 0..65535, got {args.port}")
    try:
        return serve_alone(_settings(**overrides))
    except ValueError as exc:
        raise CliInputError(str(exc)) from exc


def _openapi(args: argparse.Namespace) -> int:
    from tb_bridge.api.app import openapi_document

    print(json.dumps(openapi_document(_settings()), indent=args.indent or None))
    return 0
