"""MQTT over TLS with a client certificate: a private Mosquitto with a TLS listener that requires client
certificates (``require_certificate true``), certificates from tests/certs.py, the transport built from the
settings by ``runner.build_transport`` (``mqtt.tls_*``). A client that does not trust the broker's CA, or that
has no client certificate, never connects, and the transport keeps retrying without crashing."""
from __future__ import annotations

import json
import logging
import shutil
import ssl
import subprocess
import tempfile
import uuid
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from tb_bridge.config import load_settings
from tb_bridge.events import EventKind
from tb_bridge.runner import build_transport
from tests.certs import make_pki
from tests.conftest import HOST, _free_port, _port_open, _terminate
from tests.polling import wait_for

pytestmark = pytest.mark.integration
DEVICE_ID = "0b8f4a52-3f57-4c8e-9a0e-2d1f6c0e7a11"


@pytest.fixture()
def tls_broker():
    """Mosquitto with one TLS listener (TLS 1.2+, client certificate required) on a free port."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    # started as root, mosquitto reads its files as the `mosquitto` user: a world-readable directory under /tmp
    workdir = Path(tempfile.mkdtemp(prefix="atilax-mqtt-tls-"))
    workdir.chmod(0o755)
    pki = make_pki(workdir)
    for path in (pki.server_key, pki.client_key):
        path.chmod(0o644)
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n"
                    f"cafile {pki.ca_cert}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
                    f"require_certificate true\ntls_version tlsv1.2\n", encoding="utf-8")
    log_path = workdir / "mosquitto.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        assert wait_for(lambda: _port_open(HOST, port, 0.2) or proc.poll() is not None, 30)
        assert proc.poll() is None, log_path.read_text()
        yield pki, port
    finally:
        _terminate(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _envelope(flow: float) -> str:
    return json.dumps({"msgType": "POST_TELEMETRY_REQUEST", "entityId": DEVICE_ID, "deviceName": "W-1",
                       "deviceType": "ESP", "ts": "1700000000000", "data": {"flow_rate_bpd": flow}})


def _mqtt_settings(port, root, **tls):
    return load_settings(transport="mqtt", mqtt={"host": HOST, "port": port, "topic": f"{root}/v1/+/+",
                                                  "shared_group": None, "tls": True, **tls})


def test_transport_connects_with_client_certificate_and_receives(tls_broker):
    pki, port = tls_broker
    root = f"tls-{uuid.uuid4().hex[:8]}"
    transport = build_transport(_mqtt_settings(port, root, tls_ca_file=str(pki.ca_cert),
                                               tls_cert_file=str(pki.client_cert), tls_key_file=str(pki.client_key)))
    events = []
    transport.start(events.append)
    try:
        assert transport.wait_subscribed(15)
        publish.single(f"{root}/v1/ESP/W-1", _envelope(321.5), qos=1, hostname=HOST, port=port,
                       tls={"ca_certs": str(pki.ca_cert), "certfile": str(pki.client_cert),
                            "keyfile": str(pki.client_key)})
        assert wait_for(lambda: len(events) == 1, 10)
        assert (events[0].kind, events[0].well_id, dict(events[0].values)) == (
            EventKind.TELEMETRY, DEVICE_ID, {"flow_rate_bpd": 321.5})
        assert transport.connect_failures == 0
    finally:
        transport.stop()


def test_wrong_ca_never_connects_and_keeps_retrying(tls_broker, tmp_path, caplog):
    pki, port = tls_broker
    other = make_pki(tmp_path / "other")  # trusts another CA: the broker's certificate does not verify
    transport = build_transport(_mqtt_settings(port, "wrong-ca", tls_ca_file=str(other.ca_cert),
                                               tls_cert_file=str(pki.client_cert), tls_key_file=str(pki.client_key)))
    transport._client.reconnect_delay_set(0.05, 0.2)
    caplog.set_level(logging.WARNING, logger="tb_bridge.transport.mqtt")
    transport.start(lambda e: None)
    try:
        assert wait_for(lambda: transport.connect_failures >= 3, 15)  # still retrying: the loop did not die
        assert transport.connects == 0 and not transport.wait_subscribed(0.1)
        warnings = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert len(warnings) == 1 and "certificate verify failed" in warnings[0], warnings
    finally:
        transport.stop()


def test_no_client_certificate_is_refused(tls_broker):
    pki, port = tls_broker
    transport = build_transport(_mqtt_settings(port, "no-cert", tls_ca_file=str(pki.ca_cert)))
    transport._client.reconnect_delay_set(0.05, 0.2)
    transport.start(lambda e: None)
    try:
        assert not transport.wait_subscribed(3)
        assert transport.connects == 0
    finally:
        transport.stop()


def test_insecure_skip_verify_connects_without_the_ca(tls_broker, caplog):
    pki, port = tls_broker
    caplog.set_level(logging.WARNING, logger="tb_bridge.transport.tls")
    transport = build_transport(_mqtt_settings(port, "skip", tls_insecure_skip_verify=True,
                                               tls_cert_file=str(pki.client_cert), tls_key_file=str(pki.client_key)))
    assert any("NOT verified" in r.getMessage() for r in caplog.records)
    assert transport._tls.verify_mode is ssl.CERT_NONE
    transport.start(lambda e: None)
    try:
        assert transport.wait_subscribed(15)
    finally:
        transport.stop()
