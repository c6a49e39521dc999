"""Stand-in -> rule-chain MQTT publish step -> real Mosquitto -> MqttTransport -> service -> REST writeback.

Uses the session broker (``mosquitto_port`` from tests/conftest.py) with a topic root unique to each
test, and, for the broker-restart test, a private Mosquitto with persistence that the test stops and
starts. Checks are conservation counts (each posted point delivered at least once; shared-subscription
replicas split the messages without overlap or loss) and exact values derived from the telemetry.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from tb_bridge.events import EventKind
from tb_bridge.standin import StandIn
from tb_bridge.transport.mqtt import MqttTransport
from tb_bridge.writeback.rest import RestWriteback
from tests.polling import wait_for

pytestmark = pytest.mark.integration
T0 = 1_700_000_000_000


class Collector:
    def __init__(self, writeback=None):
        self.events, self.dead, self.writeback = [], [], writeback
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
        if self.writeback is not None and event.kind is EventKind.TELEMETRY:
            q = event.values["flow_rate_bpd"]
            self.writeback.write_attributes(event.well_id, {"opt_q_bpd": 0.9 * q, "opt_src_ts": event.ts_ms})

    def dead_letter(self, source, payload, reason):
        with self.lock:
            self.dead.append((source, payload, reason))

    def telemetry_keys(self):
        with self.lock:
            return [(e.well_id, e.ts_ms) for e in self.events if e.kind is EventKind.TELEMETRY]


@pytest.fixture()
def root():
    return f"atilax-test-{uuid.uuid4().hex[:10]}"


def _rig(host, port, root, n_wells=4):
    tb = StandIn()
    tb.start_mqtt_publisher(host, port, topic_pattern=f"{root}/v1/${{deviceType}}/${{deviceName}}")
    wells = [tb.create_device(f"W-{i}", ("ESP", "SRP", "PCP", "GasLift")[i % 4]) for i in range(n_wells)]
    return tb, wells


def _post(tb, wells, n, start=0):
    for k in range(start, start + n):
        for i, (_, token) in enumerate(wells):
            tb.post_device_telemetry(token, {"ts": T0 + k * 60_000, "values": {"flow_rate_bpd": 100.0 * (i + 1) + k}})


def test_telemetry_through_mosquitto_and_results_back(mosquitto_port, root):
    host, port = mosquitto_port
    tb, wells = _rig(host, port, root)
    base = tb.start_http()
    wb = RestWriteback(base, "tenant@thingsboard.org", "tenant")
    service = Collector(wb)
    transport = MqttTransport(host, port, topic_filters=[f"{root}/v1/+/+"], shared_group="atilax")
    transport.start(service, service.dead_letter)
    assert transport.wait_subscribed(10)
    _post(tb, wells, 10)
    assert wait_for(lambda: len(service.telemetry_keys()) >= 40)
    assert wb.flush(10)
    keys = service.telemetry_keys()
    assert len(set(keys)) == 40 and service.dead == []
    by_name = {e.well_name: e.device_type for e in service.events}
    assert by_name == {f"W-{i}": ("ESP", "SRP", "PCP", "GasLift")[i % 4] for i in range(4)}
    for i, (device_id, _) in enumerate(wells):
        assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_q_bpd": pytest.approx(0.9 * (100.0 * (i + 1) + 9)),
                                                               "opt_src_ts": T0 + 9 * 60_000}
    wb.close()
    transport.stop()
    tb.stop()


def test_gateway_device_api_ingress(mosquitto_port, root):
    host, port = mosquitto_port
    tb, _ = _rig(host, port, root, n_wells=0)
    ingress = tb.start_mqtt_device_api(host, port, topic_prefix=f"{root}/")
    assert ingress.subscribed.wait(10)
    service = Collector()
    transport = MqttTransport(host, port, topic_filters=[f"{root}/v1/+/+"], shared_group=None)
    transport.start(service, service.dead_letter)
    assert transport.wait_subscribed(10)
    publish.single(f"{root}/v1/gateway/connect", json.dumps({"device": "GL-7", "type": "GasLift"}), qos=1,
                   hostname=host, port=port)
    publish.single(f"{root}/v1/gateway/telemetry", json.dumps({"GL-7": [{"ts": T0, "values": {"injection_rate_mscfd": 450.0}}]}),
                   qos=1, hostname=host, port=port)
    assert wait_for(lambda: len(service.events) == 1)
    device = tb.store.device_by_name("GL-7")
    assert device.type == "GasLift"
    event = service.events[0]
    assert (event.well_id, event.ts_ms, dict(event.values), event.device_type) == (
        device.id, T0, {"injection_rate_mscfd": 450.0}, "GasLift")
    assert tb.get_timeseries(device.id, ["injection_rate_mscfd"], 0, 2**62) == {"injection_rate_mscfd": [(T0, 450.0)]}
    transport.stop()
    tb.stop()


def test_shared_subscription_splits_wells_between_replicas(mosquitto_port, root):
    host, port = mosquitto_port
    tb, wells = _rig(host, port, root, n_wells=5)
    replicas = [Collector(), Collector()]
    transports = [MqttTransport(host, port, topic_filters=[f"{root}/v1/+/+"], shared_group=f"g-{root}")
                  for _ in replicas]
    for transport, replica in zip(transports, replicas):
        transport.start(replica, replica.dead_letter)
        assert transport.wait_subscribed(10)
    assert transports[0].subscriptions() == [f"$share/g-{root}/{root}/v1/+/+"]
    _post(tb, wells, 40)
    assert wait_for(lambda: sum(len(r.telemetry_keys()) for r in replicas) >= 200)
    time.sleep(0.3)  # nothing more may arrive
    a, b = (Counter(r.telemetry_keys()) for r in replicas)
    assert sum(a.values()) + sum(b.values()) == 200  # each message to exactly one replica
    assert set(a) & set(b) == set() and len(set(a) | set(b)) == 200
    assert sum(a.values()) > 0 and sum(b.values()) > 0
    for transport in transports:
        transport.stop()
    tb.stop()


def test_replica_leaving_a_shared_group_hands_over_its_share(mosquitto_port, root):
    """Replicas with stable client ids have persistent sessions; a clean stop ends the session (MQTT 5
    DISCONNECT with SessionExpiryInterval 0), so the broker stops queueing a share for the departed
    replica and the remaining one receives every message."""
    host, port = mosquitto_port
    tb, wells = _rig(host, port, root, n_wells=5)
    stay, leave = Collector(), Collector()
    transports = [MqttTransport(host, port, topic_filters=[f"{root}/v1/+/+"], shared_group=f"g-{root}",
                                client_id=f"{name}-{root}") for name in ("stay", "leave")]
    for transport, replica in zip(transports, (stay, leave)):
        transport.start(replica, replica.dead_letter)
        assert transport.wait_subscribed(10)
    _post(tb, wells, 4)
    assert wait_for(lambda: len(stay.telemetry_keys()) + len(leave.telemetry_keys()) >= 20)
    transports[1].stop()
    time.sleep(0.3)
    _post(tb, wells, 20, start=4)
    later = {(d, T0 + k * 60_000) for d, _ in wells for k in range(4, 24)}
    assert wait_for(lambda: later <= set(stay.telemetry_keys()), 15)
    assert not later & set(leave.telemetry_keys())
    transports[0].stop()
    tb.stop()


def test_malformed_payloads_are_dead_lettered_and_the_stream_goes_on(mosquitto_port, root):
    host, port = mosquitto_port
    service = Collector()
    transport = MqttTransport(host, port, topic_filters=[f"{root}/v1/+/+"], shared_group=None)
    transport.start(service, service.dead_letter)
    assert transport.wait_subscribed(10)
    device_id = str(uuid.uuid4())
    good = {"msgType": "POST_TELEMETRY_REQUEST", "entityId": device_id, "deviceName": "W-1", "deviceType": "ESP",
            "ts": str(T0), "data": {"flow_rate_bpd": 12.5}}
    bad = [b"{not json", b"[1,2]", json.dumps({**good, "entityId": "nope"}).encode(),
           json.dumps({**good, "data": [1]}).encode(), json.dumps({**good, "ts": "yesterday"}).encode(),
           json.dumps({k: v for k, v in good.items() if k != "msgType"}).encode()]
    for payload in bad:
        publish.single(f"{root}/v1/ESP/W-1", payload, qos=1, hostname=host, port=port)
    publish.single(f"{root}/v1/ESP/W-1", json.dumps(good), qos=1, hostname=host, port=port)
    assert wait_for(lambda: len(service.events) == 1 and len(service.dead) == len(bad))
    assert [p for _, p, _ in service.dead] == bad
    assert (service.events[0].well_id, dict(service.events[0].values)) == (device_id, {"flow_rate_bpd": 12.5})
    assert transport.received == len(bad) + 1
    transport.stop()


# --- broker restart (private, persistent Mosquitto) ----------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PersistentBroker:
    def __init__(self, tmp_path):
        self.port = _free_port()
        self.dir = tmp_path
        (tmp_path / "m.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {tmp_path}/\nautosave_interval 1\nmax_queued_messages 100000\n")
        self.proc = None

    def start(self):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.dir / "m.conf")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_for(self._open, 10), "mosquitto did not start"

    def _open(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: mosquitto saves sessions and queued messages
            self.proc.wait(10)
            self.proc = None


@pytest.fixture()
def broker():
    # mosquitto started as root drops to user "mosquitto", which must reach and write its database: a
    # world-writable directory directly under the system temp dir (pytest's tmp_path parents are 0700)
    workdir = Path(tempfile.mkdtemp(prefix="atilax-mosquitto-"))
    workdir.chmod(0o777)
    b = PersistentBroker(workdir)
    b.start()
    yield b
    b.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_broker_restart_mid_stream_loses_nothing(broker, root):
    """Persistent MQTT 5 session (clean_start=False, session expiry): the broker keeps the subscription
    and the QoS 1 messages across its restart; the publisher queues what it could not send."""
    tb, wells = _rig("127.0.0.1", broker.port, root)
    service = Collector()
    transport = MqttTransport("127.0.0.1", broker.port, topic_filters=[f"{root}/v1/+/+"], shared_group=None,
                              client_id=f"svc-{root}", clean_start=False, session_expiry_s=600,
                              reconnect_min_s=0.1, reconnect_max_s=0.5)
    transport.start(service, service.dead_letter)
    assert transport.wait_subscribed(10)
    _post(tb, wells, 10)
    assert wait_for(lambda: len(set(service.telemetry_keys())) == 40)
    broker.stop()
    _post(tb, wells, 10, start=10)  # published while the broker is down: queued by the publisher
    time.sleep(0.5)
    broker.start()
    _post(tb, wells, 10, start=20)
    assert wait_for(lambda: len(set(service.telemetry_keys())) == 120, 20), len(set(service.telemetry_keys()))
    counts = Counter(service.telemetry_keys())
    assert len(counts) == 120 and service.dead == []  # nothing lost; duplicates allowed (at-least-once)
    assert transport.connects >= 2
    transport.stop()
    tb.stop()


def test_broker_restart_shared_group_resubscribes(broker, root, record_property):
    """Shared subscription: after the restart the transport reconnects and resubscribes, and everything
    published from then on arrives. (Mosquitto 2.0.11 does not reliably restore shared subscriptions
    of persisted sessions, so messages the publisher flushes before the resubscription can be lost;
    the count is recorded, not asserted: see the bridge report.)"""
    tb, wells = _rig("127.0.0.1", broker.port, root)
    service = Collector()
    transport = MqttTransport("127.0.0.1", broker.port, topic_filters=[f"{root}/v1/+/+"], shared_group=f"g-{root}",
                              client_id=f"svc-{root}", reconnect_min_s=0.1, reconnect_max_s=0.5)
    transport.start(service, service.dead_letter)
    assert transport.wait_subscribed(10)
    _post(tb, wells, 10)
    assert wait_for(lambda: len(set(service.telemetry_keys())) == 40)
    broker.stop()
    _post(tb, wells, 10, start=10)
    broker.start()
    assert wait_for(lambda: transport.connects >= 2 and transport.wait_subscribed(0.05), 20)
    _post(tb, wells, 10, start=20)
    after = {(d, T0 + k * 60_000) for d, _ in wells for k in range(20, 30)}
    assert wait_for(lambda: after <= set(service.telemetry_keys()), 20)
    during = {(d, T0 + k * 60_000) for d, _ in wells for k in range(10, 20)}
    record_property("shared_restart_lost", len(during - set(service.telemetry_keys())))
    assert service.dead == []
    transport.stop()
    tb.stop()
