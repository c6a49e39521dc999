"""``atilax standin serve`` in-process: the printed connection details work (login over REST with the
printed credentials, Edge connect with the printed routing key and secret, device tokens accepted)."""
from __future__ import annotations

import argparse
import json
import threading
import time

import httpx
import pytest

from tb_bridge.cli import standin as standin_cli
from tb_bridge.transport.edge import EdgeTransport


def _parser():
    parser = argparse.ArgumentParser(prog="atilax")
    standin_cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_serve_prints_working_connection_details(capsys):
    args = _parser().parse_args(["standin", "serve", "--http-port", "0", "--grpc-port", "0", "--wells", "3",
                                 "--device", "X-9:GasLift", "--run-for", "4", "--json"])
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", args.func(args)))
    thread.start()
    deadline = time.monotonic() + 3
    out = ""
    while time.monotonic() < deadline and not out.strip().endswith("}"):
        time.sleep(0.05)
        out += capsys.readouterr().out
    info = json.loads(out)
    assert [(d["name"], d["profile"]) for d in info["devices"]] == [
        ("WELL-001", "ESP"), ("WELL-002", "SRP"), ("WELL-003", "PCP"), ("X-9", "GasLift")]
    r = httpx.post(info["rest_base_url"] + "/api/auth/login", json={"username": info["username"], "password": info["password"]})
    assert r.status_code == 200 and r.json()["token"].count(".") == 2
    token = info["devices"][0]["token"]
    assert httpx.post(f"{info['rest_base_url']}/api/v1/{token}/telemetry", json={"frequency_hz": 50}).status_code == 200
    host, port = info["edge_rpc"].rsplit(":", 1)
    transport = EdgeTransport(host, int(port), info["edge_routing_key"], info["edge_secret"])
    transport.start(lambda event: None)
    transport.wait_connected(5)
    assert transport.sync_completed.wait(5)
    assert sorted(name for name, _ in transport.devices.values()) == ["WELL-001", "WELL-002", "WELL-003", "X-9"]
    transport.stop()
    thread.join(10)
    assert result["rc"] == 0


def test_bad_device_spec_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["standin", "serve", "--device", "W-1:Jet"])
    assert exc.value.code == 2
    assert "NAME:PROFILE" in capsys.readouterr().err
