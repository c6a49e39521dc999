"""Test PKI made with ``cryptography``: a CA, a server certificate for 127.0.0.1/localhost and a client certificate.

    pki = make_pki(tmp_path)            # PEM files under tmp_path
    pki.ca_cert, pki.server_cert, pki.server_key, pki.client_cert, pki.client_key   # paths
    other = make_pki(tmp_path / "other")   # an unrelated CA: its certificates must be refused

Keys are EC P-256 (fast to make); certificates are valid from one hour ago for one day.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files of one test PKI."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Atilax tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, cert: x509.Certificate | None = None, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        assert key is not None
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    return path


def _issue(subject: str, key, issuer: x509.Name, issuer_key, *, ca: bool = False,
           usage: x509.ObjectIdentifier | None = None, sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False,
                                                      encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=True,
                                                      encipher_only=False, decipher_only=False), critical=True)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, *, server_names: tuple[str, ...] = ("localhost",),
             server_ips: tuple[str, ...] = ("127.0.0.1",)) -> Pki:
    """Write a CA, a server certificate (SANs: ``server_names`` and ``server_ips``) and a client certificate
    (CN ``atilax-service``) with their keys into ``directory``; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Atilax test CA {directory.name}")
    ca_cert = _issue(f"Atilax test CA {directory.name}", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
    server_cert = _issue(server_names[0] if server_names else server_ips[0], server_key, ca_name, ca_key,
                         usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _issue("atilax-service", client_key, ca_name, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca_cert=_write(directory / "ca.pem", ca_cert), ca_key=_write(directory / "ca.key", key=ca_key),
               server_cert=_write(directory / "server.pem", server_cert),
               server_key=_write(directory / "server.key", key=server_key),
               client_cert=_write(directory / "client.pem", client_cert),
               client_key=_write(directory / "client.key", key=client_key))
