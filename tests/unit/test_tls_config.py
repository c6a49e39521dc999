"""TLS and slow-client settings: validation, one-line errors naming the setting and the path, and their wiring
into each transport by ``runner.build_transport`` (no network: the transports are built, not started)."""
from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from tb_bridge.config import load_settings
from tb_bridge.runner import build_transport
from tb_bridge.transport.http_guard import HttpLimits
from tb_bridge.transport.tls import TlsConfigError, client_context, read_pem, server_context
from tests.certs import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_read_pem_errors_name_setting_and_path(tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(TlsConfigError) as info:
        read_pem("mqtt.tls_ca_file", missing)
    assert str(info.value) == f"mqtt.tls_ca_file: no such file: {missing}"
    not_pem = tmp_path / "der.bin"
    not_pem.write_bytes(b"\x30\x82\x01\x0a")
    with pytest.raises(TlsConfigError, match=r"^tb.edge_tls_ca_file: .*der.bin is not a PEM file"):
        read_pem("tb.edge_tls_ca_file", not_pem)


def test_client_context(pki, tmp_path):
    context = client_context("mqtt.", ca_file=pki.ca_cert, cert_file=pki.client_cert, key_file=pki.client_key)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    # the configured CA replaces the system roots
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("organizationName", "Atilax tests"),), (("commonName", f"Atilax test CA {pki.ca_cert.parent.name}"),))]
    assert len(client_context("mqtt.").get_ca_certs()) > 1 or not ssl.get_default_verify_paths().cafile
    with pytest.raises(TlsConfigError, match="^mqtt.tls_cert_file / mqtt.tls_key_file: .* not a matching"):
        client_context("mqtt.", cert_file=pki.client_cert, key_file=pki.server_key)
    with pytest.raises(TlsConfigError, match="^mqtt.tls_key_file is set without mqtt.tls_cert_file$"):
        client_context("mqtt.", key_file=pki.client_key)
    with pytest.raises(TlsConfigError, match="^mqtt.tls_ca_file: .* holds no usable CA certificate"):
        client_context("mqtt.", ca_file=pki.client_key)
    insecure = client_context("mqtt.", insecure_skip_verify=True)
    assert insecure.verify_mode is ssl.CERT_NONE and not insecure.check_hostname


def test_server_context_requires_client_certificates_with_a_ca(pki):
    assert server_context("rest_ingress.", cert_file=pki.server_cert, key_file=pki.server_key).verify_mode is ssl.CERT_NONE
    mutual = server_context("rest_ingress.", cert_file=pki.server_cert, key_file=pki.server_key, ca_file=pki.ca_cert)
    assert mutual.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize("section, values, message", [
    ("mqtt", {"tls_ca_file": "/ca.pem"}, "mqtt.tls_ca_file is set but mqtt.tls is false: set mqtt.tls = true"),
    ("mqtt", {"tls_insecure_skip_verify": True}, "mqtt.tls_insecure_skip_verify is set but mqtt.tls is false"),
    ("mqtt", {"tls": True, "tls_key_file": "/k.pem"}, "mqtt.tls_key_file is set without mqtt.tls_cert_file"),
    ("tb", {"edge_tls_cert_file": "/c.pem", "edge_tls_key_file": "/k.pem"},
     "tb.edge_tls_cert_file is set but tb.edge_tls is false"),
    ("tb", {"edge_tls": True, "edge_tls_cert_file": "/c.pem"}, "tb.edge_tls_cert_file is set without tb.edge_tls_key_file"),
    ("rest_ingress", {"tls_ca_file": "/ca.pem"}, "rest_ingress.tls_key_file / rest_ingress.tls_ca_file need "
     "rest_ingress.tls_cert_file"),
    ("rest_ingress", {"header_timeout_s": 0}, "greater than 0"),
    ("rest_ingress", {"max_connections": 0}, "greater than or equal to 1"),
])
def test_inconsistent_settings_are_refused(section, values, message):
    with pytest.raises(ValidationError, match=message):
        load_settings(**{section: values})


def test_environment_variables_reach_the_tls_settings(monkeypatch, pki):
    monkeypatch.setenv("ATILAX_MQTT__TLS", "true")
    monkeypatch.setenv("ATILAX_MQTT__TLS_CA_FILE", str(pki.ca_cert))
    monkeypatch.setenv("ATILAX_REST_INGRESS__HEADER_TIMEOUT_S", "2.5")
    settings = load_settings()
    assert (settings.mqtt.tls, settings.mqtt.tls_ca_file, settings.rest_ingress.header_timeout_s) == (
        True, str(pki.ca_cert), 2.5)


def test_build_transport_mqtt(pki, tmp_path):
    mqtt = {"tls": True, "tls_ca_file": str(pki.ca_cert), "tls_cert_file": str(pki.client_cert),
            "tls_key_file": str(pki.client_key)}
    transport = build_transport(load_settings(transport="mqtt", mqtt=mqtt))
    assert transport._tls.verify_mode is ssl.CERT_REQUIRED and len(transport._tls.get_ca_certs()) == 1
    assert build_transport(load_settings(transport="mqtt"))._tls is None
    missing = tmp_path / "gone.pem"
    with pytest.raises(TlsConfigError, match=f"^mqtt.tls_cert_file: no such file: {missing}$"):
        build_transport(load_settings(transport="mqtt", mqtt={**mqtt, "tls_cert_file": str(missing)}))


def test_build_transport_edge(pki, tmp_path):
    tb = {"edge_routing_key": "rk", "edge_secret": "s", "edge_tls": True, "edge_tls_ca_file": str(pki.ca_cert),
          "edge_tls_cert_file": str(pki.client_cert), "edge_tls_key_file": str(pki.client_key),
          "edge_tls_server_name": "edge.example"}
    tls = build_transport(load_settings(transport="grpc", tb=tb))._tls
    assert (tls.root_certificates, tls.certificate_chain, tls.private_key, tls.server_name) == (
        pki.ca_cert.read_bytes(), pki.client_cert.read_bytes(), pki.client_key.read_bytes(), "edge.example")
    system_roots = build_transport(load_settings(transport="grpc", tb={"edge_routing_key": "rk", "edge_tls": True}))
    assert system_roots._tls.root_certificates is None and system_roots._tls.private_key is None
    missing = tmp_path / "gone.key"
    with pytest.raises(TlsConfigError, match=f"^tb.edge_tls_key_file: no such file: {missing}$"):
        build_transport(load_settings(transport="grpc", tb={**tb, "edge_tls_key_file": str(missing)}))


def test_build_transport_rest_limits_and_tls(pki):
    rest = {"token": "t", "header_timeout_s": 3.0, "body_timeout_s": 7.0, "max_connections": 64,
            "keep_alive_timeout_s": 4.0, "max_header_bytes": 8192, "tls_cert_file": str(pki.server_cert),
            "tls_key_file": str(pki.server_key)}
    transport = build_transport(load_settings(transport="rest", rest_ingress=rest))
    assert transport.limits == HttpLimits(header_timeout_s=3.0, body_timeout_s=7.0, max_connections=64)
    assert (transport._keep_alive_timeout_s, transport._max_header_bytes) == (4.0, 8192)
    assert transport.base_url == "https://127.0.0.1:8090"
    defaults = build_transport(load_settings(transport="rest", rest_ingress={"token": "t"}))
    assert defaults.limits == HttpLimits(header_timeout_s=10.0, body_timeout_s=30.0, max_connections=512)
    assert defaults.base_url == "http://127.0.0.1:8090"
