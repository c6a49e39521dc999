"""TLS material from the configuration: PEM files read once, with errors that name the setting and the path.

Each channel has its own settings (``mqtt.tls_*``, ``tb.edge_tls_*``, ``rest_ingress.tls_*``, see
docs/security.md); this module turns them into what the client library takes: an :class:`ssl.SSLContext` for
paho-mqtt and uvicorn, PEM bytes for gRPC. A missing, unreadable or malformed file raises :class:`TlsConfigError`
at start-up, never a handshake failure later.
"""
from __future__ import annotations

import logging
import ssl
from pathlib import Path

log = logging.getLogger(__name__)


class TlsConfigError(ValueError):
    """A TLS setting points to a missing, unreadable or malformed file (one line: setting, path, reason)."""


def read_pem(setting: str, path: str | Path) -> bytes:
    """The bytes of the PEM file at ``path``; :class:`TlsConfigError` naming ``setting`` when it cannot be used."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise TlsConfigError(f"{setting}: no such file: {file}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"{setting}: cannot read {file}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TlsConfigError(f"{setting}: {file} is not a PEM file (no '-----BEGIN' line)")
    return data


def _load_ca(context: ssl.SSLContext, setting: str, path: str | Path) -> None:
    read_pem(setting, path)
    try:
        context.load_verify_locations(cafile=str(Path(path).expanduser()))
    except ssl.SSLError as exc:
        raise TlsConfigError(f"{setting}: {path} holds no usable CA certificate ({exc.reason or exc})") from None


def _load_chain(context: ssl.SSLContext, prefix: str, cert_file: str | Path, key_file: str | Path | None) -> None:
    read_pem(f"{prefix}tls_cert_file", cert_file)
    if key_file is not None:
        read_pem(f"{prefix}tls_key_file", key_file)
    try:
        context.load_cert_chain(str(Path(cert_file).expanduser()),
                                str(Path(key_file).expanduser()) if key_file is not None else None)
    except ssl.SSLError as exc:
        where = f"{cert_file}" + (f" / {key_file}" if key_file is not None else "")
        raise TlsConfigError(f"{prefix}tls_cert_file / {prefix}tls_key_file: {where} is not a matching certificate "
                             f"and private key ({exc.reason or exc})") from None


def client_context(prefix: str, *, ca_file: str | Path | None = None, cert_file: str | Path | None = None,
                   key_file: str | Path | None = None, insecure_skip_verify: bool = False) -> ssl.SSLContext:
    """A client context (TLS 1.2+): the server's certificate checked against ``ca_file`` only (None: the system
    roots) and its name against the host; ``cert_file``/``key_file``: our certificate for mutual TLS (the key may sit in
    ``cert_file``). ``insecure_skip_verify`` turns the server check off (logged as a warning). ``prefix`` names
    the settings in errors, e.g. ``"mqtt."``."""
    if key_file is not None and cert_file is None:
        raise TlsConfigError(f"{prefix}tls_key_file is set without {prefix}tls_cert_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        _load_ca(context, f"{prefix}tls_ca_file", ca_file)  # replaces the system roots, as curl's --cacert does
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_file is not None:
        _load_chain(context, prefix, cert_file, key_file)
    if insecure_skip_verify:
        log.warning("%stls_insecure_skip_verify is set: the server's certificate is NOT verified (anyone on the "
                    "path can impersonate the server)", prefix)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(prefix: str, *, cert_file: str | Path, key_file: str | Path | None = None,
                   ca_file: str | Path | None = None) -> ssl.SSLContext:
    """A server context (TLS 1.2+) with our certificate; with ``ca_file`` every client must present a certificate
    signed by that CA (mutual TLS). Used to check the files up front (uvicorn loads them again itself)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, prefix, cert_file, key_file)
    if ca_file is not None:
        _load_ca(context, f"{prefix}tls_ca_file", ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
