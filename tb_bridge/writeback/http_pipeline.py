"""One keep-alive HTTP/1.1 connection that pipelines requests: the REST writeback's transport.

:meth:`KeepAliveConnection.exchange` writes a list of requests in one ``sendall`` and reads the answers in
order (RFC 9112, section 9.3.2: a server answers pipelined requests in the order received). The TCP (or TLS)
connection stays open between calls, so a writeback round costs no connect, no TLS handshake and one write
for up to ``len(requests)`` requests. Only idempotent requests may be pipelined: when the connection breaks
midway, the unanswered requests are sent again on a fresh connection (once, when the broken connection had
already answered before, as a server closes idle keep-alive connections), otherwise reported as failed.
"""
from __future__ import annotations

import socket
import ssl
import urllib.parse
from typing import BinaryIO, Mapping

import certifi

_MAX_LINE = 65536
_MAX_HEADERS = 100


class HttpProtocolError(OSError):
    """The server's answer is not valid HTTP/1.x (or the connection closed before an answer)."""


def _read_line(reader: BinaryIO) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise HttpProtocolError("header line too long")
    return line


def read_response(reader: BinaryIO) -> tuple[int, bytes, bool]:
    """Read one answer: ``(status, body, close)``; ``close``: the server ends the connection after it.

    Handles ``Content-Length``, ``Transfer-Encoding: chunked`` and (for an answer with neither) a body up to
    the end of the connection; skips interim 1xx answers."""
    while True:
        line = _read_line(reader)
        if not line:
            raise HttpProtocolError("connection closed before an answer")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpProtocolError(f"bad status line {line[:80]!r}")
        version, status = parts[0], int(parts[1])
        length: int | None = None
        chunked = False
        connection = b""
        for _ in range(_MAX_HEADERS + 1):
            header = _read_line(reader)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding":
                chunked = value.strip().lower().endswith(b"chunked")
            elif name == b"connection":
                connection = value.strip().lower()
        else:
            raise HttpProtocolError("too many headers")
        if 100 <= status < 200:  # interim answer (100 Continue, 103 Early Hints): the real one follows
            continue
        close = connection == b"close" or (version == b"HTTP/1.0" and connection != b"keep-alive")
        if status in (204, 304):
            return status, b"", close
        if chunked:
            return status, _read_chunked(reader), close
        if length is not None:
            body = reader.read(length)
            if len(body) != length:
                raise HttpProtocolError(f"body ended after {len(body)} of {length} bytes")
            return status, body, close
        return status, reader.read(), True  # delimited by the end of the connection


def _read_chunked(reader: BinaryIO) -> bytes:
    out = bytearray()
    while True:
        size_line = _read_line(reader)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpProtocolError(f"bad chunk size {size_line[:40]!r}") from None
        if size == 0:
            while _read_line(reader) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return bytes(out)
        chunk = reader.read(size)
        if len(chunk) != size:
            raise HttpProtocolError("connection closed inside a chunk")
        out += chunk
        reader.read(2)  # CRLF after the chunk


class KeepAliveConnection:
    """A persistent connection to ``base_url`` (``http://`` or ``https://``, with an optional path prefix);
    ``timeout_s`` bounds the connect and each send and read (s); an ``https`` server's certificate is checked
    against certifi's roots unless ``ssl_context`` says otherwise.

    Not thread-safe: one caller at a time. :attr:`connects` counts the TCP connections opened."""

    def __init__(self, base_url: str, timeout_s: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"need an http:// or https:// URL, got {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self._host_header = url.netloc.rsplit("@", 1)[-1]
        self._tls = url.scheme == "https"
        if ssl_context is None and self._tls:  # the public roots of certifi, as httpx and tb-rest-client use
            ssl_context = ssl.create_default_context(cafile=certifi.where())
        self._ssl_context = ssl_context
        self.timeout_s = float(timeout_s)
        self.connects = 0
        self._sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._answered = 0  # answers read on the current socket

    def request(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> bytes:
        """One request as bytes for :meth:`exchange` (``path`` below the base URL's path)."""
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self._host_header}",
                 f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def exchange(self, requests: list[bytes]) -> list[tuple[int, bytes] | Exception]:
        """Send ``requests`` pipelined and return, in order, ``(status, body)`` of each or the exception that
        left it unanswered (a timeout, a refused or broken connection). Never raises for network errors."""
        answers: list[tuple[int, bytes] | Exception] = []
        retried = False
        while len(answers) < len(requests):
            pending = requests[len(answers):]
            reused = self._sock is not None and self._answered > 0
            progress = len(answers)
            try:
                self._connect()
                self._sock.sendall(b"".join(pending))
                for _ in pending:
                    status, body, close = read_response(self._reader)
                    self._answered += 1
                    answers.append((status, body))
                    if close:  # the server ends the connection: the rest go on a new one
                        self.close()
                        break
            except (OSError, ValueError) as exc:  # ValueError: a malformed length from the server
                self.close()
                timed_out = isinstance(exc, (socket.timeout, TimeoutError))
                if timed_out or retried or not (reused or len(answers) > progress):
                    answers.extend([exc] * (len(requests) - len(answers)))
                    break
                retried = True  # a stale keep-alive connection: once more on a fresh one
        return answers

    def close(self) -> None:
        """Close the socket (the next :meth:`exchange` connects again)."""
        sock, reader = self._sock, self._reader
        self._sock = self._reader = None
        self._answered = 0
        if reader is not None:
            try:
                reader.close()
            except OSError:
                pass
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.connects += 1
        self._sock = sock
        self._reader = sock.makefile("rb", buffering=65536)
        self._answered = 0
