"""The REST writeback's pipelined keep-alive connection: answer parsing and reconnects, against raw sockets."""
from __future__ import annotations

import io
import socket
import ssl
import threading

import pytest

from tb_bridge.writeback.http_pipeline import HttpProtocolError, KeepAliveConnection, read_response
from tests.certs import make_pki


def test_read_response_lengths_chunks_interim_answers_and_close():
    stream = io.BytesIO(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nfail\r\n2\r\ned\r\n0\r\nX-T: 1\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\nrest of the stream")
    assert read_response(stream) == (200, b"abc", False)
    assert read_response(stream) == (500, b"failed", False)
    assert read_response(stream) == (204, b"", False)
    assert read_response(stream) == (200, b"", True)  # HTTP/1.0 without keep-alive
    assert read_response(stream) == (401, b"rest of the stream", True)  # no length: up to the end
    with pytest.raises(HttpProtocolError, match="closed before an answer"):
        read_response(stream)
    with pytest.raises(HttpProtocolError, match="bad status line"):
        read_response(io.BytesIO(b"SSH-2.0-OpenSSH\r\n\r\n"))
    with pytest.raises(HttpProtocolError, match="ended after 2 of 5"):
        read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"))


class RawServer:
    """Accepts connections and answers each request with 200 and the request's path as body; every answer number ``close_after`` on a connection says
    ``Connection: close`` and ends it."""

    def __init__(self, close_after: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.tls = tls
        self.port = self.sock.getsockname()[1]
        self.close_after = close_after
        self.connections = 0
        self.paths: list[tuple[int, str]] = []  # (connection number, path)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):  # the client refused our certificate
                conn.close()
                return
        reader = conn.makefile("rb")
        answered = 0
        with conn:
            while True:
                line = reader.readline()
                if not line:
                    return
                length = 0
                while (header := reader.readline()) not in (b"\r\n", b""):
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":")[1])
                reader.read(length)
                path = line.split()[1].decode()
                self.paths.append((number, path))
                answered += 1
                close = answered == self.close_after
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(path)}\r\n"
                             f"{'Connection: close' if close else 'X-Keep: 1'}\r\n\r\n{path}".encode())
                if close:  # a graceful close, as servers do: stop writing, drain what the client sent meanwhile
                    conn.shutdown(socket.SHUT_WR)
                    reader.read()
                    return

    def stop(self) -> None:
        self.sock.close()


def test_pipelined_requests_answered_in_order_on_one_kept_connection():
    server = RawServer()
    conn = KeepAliveConnection(f"http://127.0.0.1:{server.port}/tb", timeout_s=5)
    try:
        first = conn.exchange([conn.request("GET", f"/a/{i}") for i in range(20)])
        second = conn.exchange([conn.request("GET", f"/b/{i}") for i in range(5)])
        assert first == [(200, f"/tb/a/{i}".encode()) for i in range(20)]
        assert second == [(200, f"/tb/b/{i}".encode()) for i in range(5)]
        assert conn.connects == 1 and server.connections == 1
        assert [p for _, p in server.paths] == [f"/tb/a/{i}" for i in range(20)] + [f"/tb/b/{i}" for i in range(5)]
    finally:
        conn.close()
        server.stop()


def test_connection_close_midway_sends_the_rest_on_a_new_connection():
    server = RawServer(close_after=3)
    conn = KeepAliveConnection(f"http://127.0.0.1:{server.port}", timeout_s=5)
    try:
        answers = conn.exchange([conn.request("POST", f"/w/{i}", b"{}") for i in range(7)])
        assert answers == [(200, f"/w/{i}".encode()) for i in range(7)]
        assert conn.connects == 3 and server.connections == 3
        # each path answered once, in order; what was sent after the close is sent again on the next connection
        answered = [p for _, p in server.paths]
        assert answered == [f"/w/{i}" for i in range(7)]
        assert [n for n, _ in server.paths] == [1, 1, 1, 2, 2, 2, 3]
    finally:
        conn.close()
        server.stop()


def test_refused_connection_is_reported_per_request_not_raised():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    conn = KeepAliveConnection(f"http://127.0.0.1:{port}", timeout_s=2)
    answers = conn.exchange([conn.request("POST", "/x"), conn.request("POST", "/y")])
    assert len(answers) == 2 and all(isinstance(a, ConnectionRefusedError) for a in answers)
    assert conn.connects == 0


def test_https_connection_is_verified_and_kept(tmp_path):
    pki = make_pki(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki.server_cert, pki.server_key)
    server = RawServer(tls=server_tls)
    trusting = ssl.create_default_context(cafile=str(pki.ca_cert))
    conn = KeepAliveConnection(f"https://127.0.0.1:{server.port}", timeout_s=5, ssl_context=trusting)
    default = KeepAliveConnection(f"https://127.0.0.1:{server.port}", timeout_s=5)  # certifi's roots only
    try:
        assert conn.exchange([conn.request("POST", f"/s/{i}", b"{}") for i in range(3)]) == [
            (200, f"/s/{i}".encode()) for i in range(3)]
        assert conn.exchange([conn.request("POST", "/t", b"{}")]) == [(200, b"/t")]
        assert conn.connects == 1
        refused = default.exchange([default.request("POST", "/u")])
        assert len(refused) == 1 and isinstance(refused[0], ssl.SSLCertVerificationError)
        assert [p for _, p in server.paths] == ["/s/0", "/s/1", "/s/2", "/t"]
    finally:
        conn.close()
        default.close()
        server.stop()
