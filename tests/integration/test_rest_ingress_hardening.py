"""The REST ingress against slow and hostile clients, and over HTTPS (with and without client certificates).

Slow clients: raw sockets that send half a request head (slowloris) or nothing at all, a body trickled a byte
at a time, more connections than ``max_connections``, a head larger than ``max_header_bytes``. Each is answered
(408, 503 or 400) and closed by the server within its deadline, and a well-behaved request still succeeds.
TLS: certificates from tests/certs.py, the transport built by ``runner.build_transport`` from the
``rest_ingress.*`` settings.
"""
from __future__ import annotations

import json
import socket
import ssl
import time

import httpx
import pytest

from tb_bridge.config import load_settings
from tb_bridge.runner import build_transport
from tb_bridge.transport.rest_ingress import EVENTS_PATH
from tb_bridge.transport.tls import TlsConfigError
from tests.certs import make_pki

pytestmark = pytest.mark.integration
TOKEN = "hardening-token"
DEVICE_ID = "6d1a3c5e-8f0b-4d2a-9c7e-1b3f5a7d9e20"
BODY = json.dumps({"msgType": "POST_TELEMETRY_REQUEST", "entityId": DEVICE_ID, "deviceName": "W-1",
                   "deviceType": "ESP", "ts": "1700000000000", "data": {"flow_rate_bpd": 512.0}}).encode()
HALF_HEAD = b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def _ingress(**rest):
    settings = load_settings(transport="rest", rest_ingress={"port": 0, "token": TOKEN, **rest})
    transport = build_transport(settings)
    events = []
    transport.start(events.append)
    return transport, events


def _post_ok(transport, events, **client) -> None:
    before = len(events)
    with httpx.Client(timeout=10, **client) as http:
        r = http.post(transport.base_url + EVENTS_PATH, content=BODY, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert len(events) == before + 1 and dict(events[-1].values) == {"flow_rate_bpd": 512.0}


def _read_until_closed(sock: socket.socket, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection; raises socket.timeout if it does not."""
    sock.settimeout(timeout_s)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def test_half_heads_and_silent_sockets_are_closed_after_the_header_timeout():
    transport, events = _ingress(header_timeout_s=1.0, max_connections=1000)
    try:
        sockets = []
        for i in range(200):
            sock = socket.create_connection(("127.0.0.1", transport.port), timeout=5)
            if i % 4:  # three in four send half a head, the rest nothing at all
                sock.sendall(HALF_HEAD)
            sockets.append(sock)
        opened = time.monotonic()
        _post_ok(transport, events)  # served while the 200 slow sockets are open
        closed_after = []
        for sock in sockets:
            answer = _read_until_closed(sock, 5.0)  # the server closes it (recv returns b'')
            closed_after.append(time.monotonic() - opened)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:60]
            sock.close()
        assert max(closed_after) < 1.0 + 2.0  # the deadline plus scheduling slack, not the 5 s read timeout
        assert transport.guard.head_timeouts == 200
        _post_ok(transport, events)
    finally:
        transport.stop()


def test_half_head_on_a_kept_alive_connection_is_closed():
    transport, events = _ingress(header_timeout_s=0.5, keep_alive_timeout_s=30)
    try:
        sock = socket.create_connection(("127.0.0.1", transport.port), timeout=5)
        request = (b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                   + b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        sock.sendall(request)
        first = b""
        while not first.endswith(b"}"):  # the JSON answer: headers, then the body
            first += sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ") and len(events) == 1
        time.sleep(0.8)  # idle under keep-alive (30 s): longer than the header timeout, still open
        sock.sendall(HALF_HEAD)
        started = time.monotonic()
        assert _read_until_closed(sock, 5.0).startswith(b"HTTP/1.1 408 ")
        assert 0.4 < time.monotonic() - started < 2.5
        sock.close()
    finally:
        transport.stop()


def test_trickled_body_is_cut_off_at_the_body_timeout():
    transport, events = _ingress(body_timeout_s=1.0)
    try:
        sock = socket.create_connection(("127.0.0.1", transport.port), timeout=5)
        sock.sendall(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                     + b"\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        sock.settimeout(0.25)
        answer, cut_after = b"", None
        for _ in range(40):  # one byte every 0.25 s: never idle for long, but 100 bytes would take 25 s
            try:
                sock.sendall(b"{")
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:  # reset: the server closed while we were still sending
                cut_after = time.monotonic() - started
                break
            answer += chunk
            if not chunk:
                cut_after = time.monotonic() - started
                break
        sock.close()
        assert cut_after is not None and 0.9 < cut_after < 3.0, cut_after
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
        assert transport.guard.body_timeouts == 1 and events == []
        _post_ok(transport, events)
    finally:
        transport.stop()


def test_connections_beyond_max_connections_are_refused():
    transport, events = _ingress(max_connections=5, header_timeout_s=30)
    try:
        held = [socket.create_connection(("127.0.0.1", transport.port), timeout=5) for _ in range(5)]
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", transport.port), timeout=5)
        assert _read_until_closed(extra, 2.0).startswith(b"HTTP/1.1 503 ")
        extra.close()
        assert transport.guard.rejected_connections == 1
        for sock in held:
            sock.close()
        time.sleep(0.2)
        _post_ok(transport, events)
    finally:
        transport.stop()


def test_growing_head_over_max_header_bytes_is_refused_at_once():
    transport, events = _ingress(max_header_bytes=4096, header_timeout_s=30)
    try:
        sock = socket.create_connection(("127.0.0.1", transport.port), timeout=5)
        sock.sendall(HALF_HEAD)
        for _ in range(10):  # 10 x 1 KB of header lines that never end: buffered memory stays bounded
            try:
                sock.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")
            except OSError:
                break
            time.sleep(0.02)
        assert _read_until_closed(sock, 2.0).startswith(b"HTTP/1.1 400 ")  # not after the 30 s header timeout
        sock.close()
        _post_ok(transport, events)
    finally:
        transport.stop()


def test_https_post_verified_against_the_ca(tmp_path):
    pki = make_pki(tmp_path)
    transport, events = _ingress(tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key))
    try:
        assert transport.base_url.startswith("https://127.0.0.1:")
        _post_ok(transport, events, verify=ssl.create_default_context(cafile=str(pki.ca_cert)))
        with pytest.raises(httpx.ConnectError):  # the system roots do not know the test CA
            httpx.post(transport.base_url + EVENTS_PATH, content=BODY, headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.post(transport.base_url.replace("https", "http") + EVENTS_PATH, content=BODY, timeout=5)
    finally:
        transport.stop()


def test_https_with_client_certificates(tmp_path):
    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other")
    transport, events = _ingress(tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key),
                                 tls_ca_file=str(pki.ca_cert))
    try:
        def client(cert, key):
            context = ssl.create_default_context(cafile=str(pki.ca_cert))
            if cert is not None:
                context.load_cert_chain(str(cert), str(key))
            return context

        _post_ok(transport, events, verify=client(pki.client_cert, pki.client_key))
        for cert, key in ((None, None), (other.client_cert, other.client_key)):  # none, or from another CA
            with pytest.raises(httpx.HTTPError):
                with httpx.Client(timeout=5, verify=client(cert, key)) as http:
                    http.post(transport.base_url + EVENTS_PATH, content=BODY,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert len(events) == 1
    finally:
        transport.stop()


def test_missing_or_bad_certificate_files_name_the_setting(tmp_path):
    pki = make_pki(tmp_path)
    missing = tmp_path / "nope.pem"
    with pytest.raises(TlsConfigError, match=f"^rest_ingress.tls_cert_file: no such file: {missing}$"):
        build_transport(load_settings(transport="rest", rest_ingress={"token": TOKEN, "tls_cert_file": str(missing)}))
    with pytest.raises(TlsConfigError, match="^rest_ingress.tls_ca_file: no such file"):
        build_transport(load_settings(transport="rest", rest_ingress={
            "token": TOKEN, "tls_cert_file": str(pki.server_cert), "tls_key_file": str(pki.server_key),
            "tls_ca_file": str(missing)}))
    with pytest.raises(TlsConfigError, match="not a matching certificate and private key"):
        build_transport(load_settings(transport="rest", rest_ingress={
            "token": TOKEN, "tls_cert_file": str(pki.server_cert), "tls_key_file": str(pki.client_key)}))
