"""``atilax standin``: run the ThingsBoard stand-in on given ports (REST, Edge gRPC, MQTT on a broker).

    atilax standin serve --http-port 8080 --grpc-port 7070 --wells 8 [--mqtt-host localhost --mqtt-port 1883]

prints the connection details (REST base URL and tenant login, edge routing key and secret, device ids
and access tokens) and serves until interrupted (or for ``--run-for`` seconds).
"""
from __future__ import annotations

import argparse
import threading

from tb_bridge.cli.io import CliInputError, format_table, print_json, print_key_values
from tb_bridge.standin import DEVICE_PROFILES, StandIn
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _device(text: str) -> tuple[str, str]:
    name, _, profile = text.partition(":")
    if not name or profile not in DEVICE_PROFILES:
        raise argparse.ArgumentTypeError(f"expected NAME:PROFILE with PROFILE in {', '.join(DEVICE_PROFILES)}: {text!r}")
    return name, profile


def register(subparsers) -> None:
    parser = subparsers.add_parser("standin", help="ThingsBoard stand-in (REST, Edge gRPC, MQTT) for demos and tests")
    sub = parser.add_subparsers(dest="standin_command", required=True)
    p = sub.add_parser("serve", help="serve the stand-in until interrupted")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--http-port", type=_port, default=8080, help="REST port (ThingsBoard's default 8080; 0 = free port)")
    p.add_argument("--grpc-port", type=_port, default=7070,
                   help="Edge gRPC port (ThingsBoard's edges.rpc.port default 7070; 0 = free port)")
    p.add_argument("--no-grpc", action="store_true", help="do not serve the Edge gRPC service")
    p.add_argument("--mqtt-host", help="MQTT broker for the rule chain's publish step and the gateway device API")
    p.add_argument("--mqtt-port", type=_port, default=1883, help="MQTT broker port (default 1883)")
    p.add_argument("--mqtt-topic-pattern", default="atilax/v1/${deviceType}/${deviceName}",
                   help="topic pattern of the MQTT publish step (${metadataKey} substitution)")
    p.add_argument("--edge-name", default="atilax", help="name of the edge the service connects as")
    p.add_argument("--edge-routing-key", help="edge routing key (default: random UUID)")
    p.add_argument("--edge-secret", help="edge secret (default: random)")
    p.add_argument("--wells", type=int, default=0, help="create N demo wells cycling ESP, SRP, PCP, GasLift, NaturalFlow")
    p.add_argument("--device", type=_device, action="append", default=[], metavar="NAME:PROFILE",
                   help="create a device (repeatable)")
    p.add_argument("--run-for", type=float, default=None, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="print the connection details as JSON")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    if args.wells < 0:
        raise CliInputError("--wells must be >= 0")
    tb = StandIn()
    try:
        base_url = tb.start_http(args.host, args.http_port)
        edge, grpc_port = None, None
        if not args.no_grpc:
            edge = tb.create_edge(args.edge_name, args.edge_routing_key, args.edge_secret)
            grpc_port = tb.start_edge_server(args.host, args.grpc_port)
        devices = [(f"WELL-{i + 1:03d}", DEVICE_PROFILES[i % len(DEVICE_PROFILES)]) for i in range(args.wells)]
        devices += list(args.device)
        created = []
        for name, profile in devices:
            try:
                device_id, token = tb.create_device(name, profile)
            except ValueError as exc:
                raise CliInputError(str(exc)) from None
            if edge is not None:
                tb.assign_device_to_edge(device_id, edge.id)
            created.append({"name": name, "profile": profile, "id": device_id, "token": token})
        if args.mqtt_host:
            tb.start_mqtt_publisher(args.mqtt_host, args.mqtt_port, topic_pattern=args.mqtt_topic_pattern)
            tb.start_mqtt_device_api(args.mqtt_host, args.mqtt_port)
        info = {"rest_base_url": base_url, "username": TENANT_ADMIN_EMAIL, "password": TENANT_ADMIN_PASSWORD,
                "edge_rpc": f"{args.host}:{grpc_port}" if grpc_port else None,
                "edge_routing_key": edge.routing_key if edge else None, "edge_secret": edge.secret if edge else None,
                "mqtt": f"{args.mqtt_host}:{args.mqtt_port}" if args.mqtt_host else None, "devices": created}
        if args.json:
            print_json(info)
        else:
            print_key_values([(k, v) for k, v in info.items() if k != "devices"], title="ThingsBoard stand-in")
            if created:
                print(format_table(["name", "profile", "id", "token"],
                                   [[d["name"], d["profile"], d["id"], d["token"]] for d in created]))
        stop = threading.Event()
        try:
            stop.wait(args.run_for)
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        tb.stop()
