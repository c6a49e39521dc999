"""Serving the API: uvicorn behind the slow-client guard (408 for a head not complete in time), keys required to
start, and `atilax api openapi`."""
from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from pydantic import ValidationError

from tb_bridge.api.server import start_api
from tb_bridge.cli.main import main
from tb_bridge.config import load_settings
from tb_bridge.service import Service
from tests.doubles import RecordingWriteback


@pytest.fixture
def served(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}",
                             api={"keys": ["k"], "port": 0, "header_timeout_s": 0.5})
    service = Service(settings, RecordingWriteback())
    server = start_api(service, settings)
    yield server
    server.stop()
    service.close()


def test_served_on_loopback_with_keys(served):
    assert served.host == "127.0.0.1" and served.port > 0
    with httpx.Client(base_url=served.base_url) as client:
        assert client.get("/health").json() == {"status": "ok", "wells": 0}
        assert client.get("/wells").status_code == 401
        assert client.get("/wells", headers={"Authorization": "Bearer k"}).json() == []


def test_a_slow_head_is_answered_408_and_closed(served):
    started = time.monotonic()
    with socket.create_connection((served.host, served.port), timeout=5) as sock:
        sock.sendall(b"GET /wells HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and sock.recv(4096) == b""  # closed
    assert time.monotonic() - started < 3.0
    assert served.guard.head_timeouts == 1


def test_no_keys_refuses_to_start(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", api={"port": 0})
    service = Service(settings, RecordingWriteback())
    try:
        with pytest.raises(ValueError, match="api.keys is empty"):
            start_api(service, settings)
    finally:
        service.close()
    with pytest.raises(ValidationError, match="empty key"):
        load_settings(api={"keys": [" "]})


def test_cli_prints_the_openapi_document(capsys):
    assert main(["api", "openapi", "--indent", "0"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["info"]["title"] == "Atilax API"
    assert {"/health", "/wells/{id}", "/simulation/reactive", "/metrics"} <= set(document["paths"])
    assert set(document["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}


def test_https_and_client_certificates(tmp_path):
    import ssl

    from tests.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}",
                             api={"keys": ["k"], "port": 0, "tls_cert_file": str(pki.server_cert),
                                  "tls_key_file": str(pki.server_key), "tls_ca_file": str(pki.ca_cert)})
    service = Service(settings, RecordingWriteback())
    server = start_api(service, settings)
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        with httpx.Client(base_url=server.base_url, verify=context, timeout=5) as client:
            assert client.get("/wells", headers={"X-API-Key": "k"}).json() == []
        with pytest.raises(httpx.HTTPError):  # no client certificate
            httpx.get(server.base_url + "/health", verify=ssl.create_default_context(cafile=str(pki.ca_cert)),
                      timeout=5)
    finally:
        server.stop()
        service.close()


def test_a_taken_port_is_a_clear_error(served, tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h2.db'}", api={"keys": ["k"], "port": served.port})
    service = Service(settings, RecordingWriteback())
    try:
        with pytest.raises(ValueError, match="could not listen on 127.0.0.1:.*api.port"):
            start_api(service, settings)
    finally:
        service.close()


def test_connections_have_nagle_off(served):
    """An answer's head and body are two writes: with Nagle on, the body waits for the client's delayed ACK."""
    with httpx.Client(base_url=served.base_url) as client:
        assert client.get("/health").status_code == 200
        connections = list(served._server.server_state.connections)
        assert connections
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
