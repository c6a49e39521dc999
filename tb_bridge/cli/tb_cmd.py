"""``atilax tb setup`` and ``atilax tb export``: install the bundled rule chains, dashboards, device
profiles and Edge into ThingsBoard (or the stand-in), or export what is installed."""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from tb_bridge.cli.io import CliInputError, format_table, print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser("tb", help="install into / export from ThingsBoard")
    sub = parser.add_subparsers(dest="tb_command", required=True)

    def connection(p) -> None:
        p.add_argument("--url", required=True, help="ThingsBoard base URL, e.g. http://localhost:8080")
        p.add_argument("--username", required=True, help="tenant administrator e-mail")
        p.add_argument("--password", help="password (default: $ATILAX_TB__PASSWORD)")

    p = sub.add_parser("setup", help="create device profiles, rule chains, dashboards and the Edge (idempotent)")
    connection(p)
    p.add_argument("--transport", choices=("grpc", "mqtt", "rest", "kafka"), default="grpc",
                   help="how the rule chain forwards to the service (default grpc: push to the Atilax Edge)")
    p.add_argument("--mqtt-host", help="broker host for the MQTT node")
    p.add_argument("--mqtt-port", type=int, help="broker port for the MQTT node")
    p.add_argument("--kafka-bootstrap", metavar="HOST:PORT[,...]", help="brokers for the Kafka node, as ThingsBoard "
                   "reaches them (default: the service's kafka.bootstrap_servers); with --transport kafka the topics "
                   "are the service's kafka.telemetry_topics and kafka.events_topic")
    p.add_argument("--service-url", help="service base URL for the REST node, e.g. http://atilax:8090")
    p.add_argument("--service-token", help="bearer token of the service's REST ingress, needed with --transport rest "
                   "(default: $ATILAX_REST_INGRESS__TOKEN)")
    p.add_argument("--simulation-api", metavar="URL", help="send slider writes (sim_param_* only) to the service's "
                   "HTTP API at this base URL, e.g. http://atilax:8000 (POST /simulation/reactive), not the transport")
    p.add_argument("--api-key", help="one of the service's api.keys for --simulation-api (default: the first of "
                   "$ATILAX_API__KEYS)")
    p.add_argument("--no-field-assignment", action="store_true",
                   help="do not assign the assets of the Field profile to the Edge (gRPC transport)")
    p.add_argument("--edge-name", default="Atilax Edge", help="Edge entity name (gRPC transport)")
    p.add_argument("--edge-routing-key", help="Edge routing key (default: generated on creation)")
    p.add_argument("--edge-secret", help="Edge secret (default: generated on creation)")
    p.add_argument("--make-root", action="store_true", help="make the bundled root chain the tenant's root rule chain")
    p.add_argument("--service-user-email", help="e-mail of the tenant administrator the service writes as "
                   "(default: atilax-service@<your domain>); created and activated once, its credentials printed")
    p.add_argument("--service-user-password", help="password for a service user created now (default: generated)")
    p.add_argument("--no-service-user", action="store_true", help="do not create the service user")
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_setup)

    p = sub.add_parser("export", help="write the installed rule chains and dashboards back to JSON")
    connection(p)
    p.add_argument("--out", required=True, help="output directory (rulechains/ and dashboards/ are created)")
    p.set_defaults(func=_export)


def _client(args):
    from tb_bridge.tbsetup.client import TbApiError, TbClient

    password = args.password or os.environ.get("ATILAX_TB__PASSWORD")
    if not password:
        raise CliInputError("no password: pass --password or set ATILAX_TB__PASSWORD")
    try:
        return TbClient(args.url, args.username, password)
    except TbApiError as exc:
        raise CliInputError(f"login failed: {exc}") from None
    except OSError as exc:
        from tb_bridge.config import mask_url_password

        raise CliInputError(f"cannot reach {mask_url_password(args.url)}: {exc}") from None


def _first_api_key() -> str | None:
    """The first key of ``$ATILAX_API__KEYS`` (a JSON list), if any."""
    import json

    try:
        keys = json.loads(os.environ.get("ATILAX_API__KEYS") or "[]")
    except ValueError:
        return None
    return str(keys[0]) if isinstance(keys, list) and keys else None


def _kafka_settings():
    """The service's ``kafka.*`` settings (environment, TOML file): the chain publishes where the service reads."""
    from pydantic import ValidationError

    from tb_bridge.cli.io import format_validation_error
    from tb_bridge.config import load_settings

    try:
        return load_settings().kafka
    except ValidationError as exc:
        raise CliInputError("invalid configuration:\n" + format_validation_error(exc)) from None
    except (OSError, ValueError) as exc:
        raise CliInputError(f"invalid configuration: {exc}") from None


def _setup(args) -> int:
    import secrets

    from tb_bridge.tbsetup.client import TbApiError
    from tb_bridge.tbsetup.installer import SetupOptions, run_setup

    kafka = _kafka_settings() if args.transport == "kafka" else None
    options = SetupOptions(service_user=not args.no_service_user, service_user_email=args.service_user_email,
                           service_user_password=args.service_user_password or secrets.token_urlsafe(18),
                           transport=args.transport, mqtt_host=args.mqtt_host, mqtt_port=args.mqtt_port,
                           service_url=args.service_url, edge_name=args.edge_name,
                           edge_routing_key=args.edge_routing_key, edge_secret=args.edge_secret,
                           make_root=args.make_root, assign_fields=not args.no_field_assignment,
                           service_token=args.service_token or os.environ.get("ATILAX_REST_INGRESS__TOKEN") or None,
                           simulation_api_url=args.simulation_api, api_key=args.api_key or _first_api_key(),
                           kafka_bootstrap=args.kafka_bootstrap or (kafka.bootstrap_servers if kafka else None),
                           kafka_telemetry_topics=dict(kafka.telemetry_topics) if kafka else None,
                           kafka_events_topic=kafka.events_topic if kafka else None)
    if options.simulation_api_url and not options.api_key:
        raise CliInputError("--simulation-api needs --api-key (or $ATILAX_API__KEYS): one of the service's api.keys")
    if options.transport == "rest" and not options.service_token:
        raise CliInputError("--transport rest needs --service-token (or $ATILAX_REST_INGRESS__TOKEN): the service's "
                            "rest_ingress.token")
    with _client(args) as client:
        try:
            actions = run_setup(client, options, dry_run=args.dry_run)
        except ValueError as exc:
            raise CliInputError(str(exc)) from None
        except TbApiError as exc:
            raise CliInputError(f"ThingsBoard refused a setup step: {exc}") from None
    service_user = next((a.name for a in actions if a.kind == "service_user" and a.change != "unchanged"), None)
    credentials = None if args.dry_run or service_user is None else {"username": service_user,
                                                                      "password": options.service_user_password}
    if args.json:
        print_json({"dry_run": args.dry_run, "actions": actions,
                    **({"service_user": credentials} if credentials else {})})
        return 0
    print(format_table(["kind", "name", "change", "detail"], [[a.kind, a.name, a.change, a.detail] for a in actions]))
    changed = sum(a.change != "unchanged" for a in actions)
    verb = "would change" if args.dry_run else "changed"
    print(f"{verb} {changed} of {len(actions)} items" if changed else f"nothing to change ({len(actions)} items up to date)")
    if credentials:
        print(f"service user {service_user} is ready: run the service as it (shown once), e.g.\n"
              f"  export ATILAX_TB__USERNAME={shlex.quote(service_user)} "
              f"ATILAX_TB__PASSWORD={shlex.quote(credentials['password'])}")
    return 0


def _export(args) -> int:
    from tb_bridge.tbsetup.installer import export_installed

    with _client(args) as client:
        paths = export_installed(client, Path(args.out))
    for path in paths:
        print(path)
    return 0
