"""Stand-in Edge gRPC server <-> EdgeTransport (service side) <-> Edge uplink / REST writeback.

Checks are conservation counts (every posted telemetry point reaches the service at least once; every
computed result lands on its device, with the exact value derived from the telemetry) and protocol
outcomes (BAD_CREDENTIALS, acknowledged downlinks, TLS)."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from tb_bridge.config import load_settings
from tb_bridge.events import EventKind
from tb_bridge.runner import build_transport
from tb_bridge.standin import StandIn
from tb_bridge.transport.edge import EdgeAuthError, EdgeTls, EdgeTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.writeback.edge import EdgeWriteback
from tb_bridge.writeback.rest import RestWriteback
from tests.certs import make_pki
from tests.polling import wait_for

T0 = 1_700_000_000_000


class Service:
    def __init__(self):
        self.writeback = None
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
        if event.kind is EventKind.TELEMETRY and self.writeback is not None:
            q = event.values["flow_rate_bpd"]
            self.writeback.write_attributes(event.well_id, {"opt_q_bpd": 0.9 * q, "opt_src_ts": event.ts_ms})
            self.writeback.write_timeseries(event.well_id, [(event.ts_ms + 86_400_000, {"opt_q_proj_bpd": 0.8 * q})])

    def telemetry(self):
        with self.lock:
            return [e for e in self.events if e.kind is EventKind.TELEMETRY]


@pytest.fixture()
def rig():
    tb = StandIn()
    edge = tb.create_edge("atilax")
    port = tb.start_edge_server(ack_timeout_s=2.0)
    wells = [tb.create_device(f"W-{i}", ("ESP", "SRP", "PCP", "GasLift")[i % 4]) for i in range(6)]
    for device_id, _ in wells:
        tb.assign_device_to_edge(device_id, edge.id)
    yield tb, edge, port, wells
    tb.stop()


def _transport(edge, port, **kw):
    return EdgeTransport("127.0.0.1", port, edge.routing_key, edge.secret, backoff_initial_s=0.05,
                         backoff_max_s=0.3, seed=3, **kw)


def _post(tb, wells, n, start=0):
    for k in range(start, start + n):
        for i, (_, token) in enumerate(wells):
            tb.post_device_telemetry(token, {"ts": T0 + k * 60_000, "values": {"flow_rate_bpd": 100.0 * (i + 1) + k}})


def _assert_results(tb, wells, n):
    last = n - 1
    for i, (device_id, _) in enumerate(wells):
        attrs = tb.get_attributes(device_id, "SERVER_SCOPE")
        assert attrs["opt_q_bpd"] == pytest.approx(0.9 * (100.0 * (i + 1) + last), rel=1e-12)
        assert attrs["opt_src_ts"] == T0 + last * 60_000
        proj = tb.get_timeseries(device_id, ["opt_q_proj_bpd"], 0, 2**62)["opt_q_proj_bpd"]
        assert [ts for ts, _ in proj] == [T0 + k * 60_000 + 86_400_000 for k in range(n)]


@pytest.mark.parametrize("writeback_kind", ["grpc", "rest"])
def test_telemetry_in_over_edge_results_back(rig, writeback_kind):
    tb, edge, port, wells = rig
    service = Service()
    guard = LoopGuard()
    transport = _transport(edge, port, loop_guard=guard)
    if writeback_kind == "grpc":
        service.writeback = EdgeWriteback(transport, backoff_initial_s=0.05, backoff_max_s=0.3)
    else:
        base = tb.start_http()
        service.writeback = RestWriteback(base, "tenant@thingsboard.org", "tenant")
        guard.add_user_id(service.writeback.login())
    transport.start(service)
    transport.wait_connected(5)
    assert transport.sync_completed.wait(5)
    assert transport.devices == {d: (f"W-{i}", ("ESP", "SRP", "PCP", "GasLift")[i % 4]) for i, (d, _) in enumerate(wells)}
    _post(tb, wells, 10)
    assert wait_for(lambda: len(service.telemetry()) >= 60)
    assert service.writeback.flush(10)
    assert wait_for(lambda: len(edge.events) == 0)  # every downlink acknowledged, none pending
    telemetry = service.telemetry()
    assert len(telemetry) == 60 and len({(e.well_id, e.ts_ms) for e in telemetry}) == 60
    assert {e.well_name for e in telemetry} == {f"W-{i}" for i in range(6)}
    _assert_results(tb, wells, 10)
    # results written back were not delivered to the service again
    assert [e for e in service.events if any(k.startswith("opt_") for k in e.values)] == []
    service.writeback.close()
    transport.stop()


def test_bad_credentials_give_a_clear_error(rig):
    tb, edge, port, _ = rig
    transport = EdgeTransport("127.0.0.1", port, edge.routing_key, "not-the-secret", backoff_initial_s=0.05)
    transport.start(lambda event: None)
    with pytest.raises(EdgeAuthError, match="BAD_CREDENTIALS.*routing key and secret"):
        transport.wait_connected(5)
    assert not transport.connected
    transport.stop()


def test_ignored_downlink_kinds_are_acknowledged(rig):
    tb, edge, port, wells = rig
    delivered = []
    transport = _transport(edge, port)
    transport.start(delivered.append)
    transport.wait_connected(5)
    device_id = wells[0][0]
    tb.save_attributes(device_id, "SHARED_SCOPE", {"target_rate_bpd": 500})
    tb.delete_attributes(device_id, "SHARED_SCOPE", ["target_rate_bpd"])  # attributeDeleteMsg: acked, no event
    assert tb.wait_idle()
    assert wait_for(lambda: len(edge.events) == 0)
    updates = [e for e in delivered if e.kind is EventKind.ATTRIBUTES_UPDATED and "target_rate_bpd" in e.values]
    assert [(e.scope, e.values["target_rate_bpd"]) for e in updates] == [("SHARED_SCOPE", 500)]
    transport.stop()


def test_standin_restart_mid_stream_loses_nothing(rig):
    tb, edge, port, wells = rig
    service = Service()
    transport = _transport(edge, port)
    service.writeback = EdgeWriteback(transport, backoff_initial_s=0.05, backoff_max_s=0.3)
    transport.start(service)
    transport.wait_connected(5)
    _post(tb, wells, 5)
    assert wait_for(lambda: len(service.telemetry()) >= 30)
    tb.stop_edge_server()  # ThingsBoard goes away mid-stream
    _post(tb, wells, 5, start=5)  # queued as edge events meanwhile
    assert tb.wait_idle()
    assert wait_for(lambda: not transport.connected, 5)
    assert len(edge.events) >= 30  # the 30 new telemetry downlinks wait for the edge
    tb.start_edge_server(port=port, ack_timeout_s=2.0)
    assert wait_for(lambda: len({(e.well_id, e.ts_ms) for e in service.telemetry()}) == 60, 15)
    assert service.writeback.flush(10)
    seen = Counter((e.well_id, e.ts_ms) for e in service.telemetry())
    assert len(seen) == 60  # no event lost; duplicates (re-sent unacknowledged packs) are allowed
    assert transport.connects == 2
    _assert_results(tb, wells, 10)
    service.writeback.close()
    transport.stop()


def test_tls_channel(rig, tmp_path):
    tb, edge, _, wells = rig
    pki = make_pki(tmp_path)
    import grpc

    creds = grpc.ssl_server_credentials([(pki.server_key.read_bytes(), pki.server_cert.read_bytes())])
    port = tb.start_edge_server(server_credentials=creds)
    delivered = []
    transport = _transport(edge, port, tls=EdgeTls(root_certificates=pki.ca_cert.read_bytes()))
    transport.start(delivered.append)
    transport.wait_connected(10)
    tb.post_device_telemetry(wells[0][1], {"ts": T0, "values": {"flow_rate_bpd": 321.0}})
    assert wait_for(lambda: any(e.kind is EventKind.TELEMETRY for e in delivered))
    assert [dict(e.values) for e in delivered if e.kind is EventKind.TELEMETRY] == [{"flow_rate_bpd": 321.0}]
    transport.stop()


def test_mutual_tls_channel_from_settings(rig, tmp_path):
    """The Edge server requires a client certificate; the transport is built by runner.build_transport from the
    tb.edge_tls_* settings (CA, client certificate and key, server name); without a client certificate, or
    trusting another CA, no session is ever accepted."""
    import grpc

    tb, edge, _, wells = rig
    pki = make_pki(tmp_path / "pki", server_names=("edge.atilax.test",), server_ips=())  # no IP SAN: server_name
    creds = grpc.ssl_server_credentials([(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
                                        root_certificates=pki.ca_cert.read_bytes(), require_client_auth=True)
    port = tb.start_edge_server(server_credentials=creds)

    def settings(**tls):
        return load_settings(transport="grpc", tb={"edge_host": "127.0.0.1", "edge_port": port, "edge_tls": True,
                                                   "edge_routing_key": edge.routing_key, "edge_secret": edge.secret,
                                                   "edge_tls_server_name": "edge.atilax.test", **tls})

    delivered = []
    transport = build_transport(settings(edge_tls_ca_file=str(pki.ca_cert), edge_tls_cert_file=str(pki.client_cert),
                                         edge_tls_key_file=str(pki.client_key)))
    transport.start(delivered.append)
    try:
        transport.wait_connected(10)
        tb.post_device_telemetry(wells[0][1], {"ts": T0, "values": {"flow_rate_bpd": 123.0}})
        assert wait_for(lambda: any(e.kind is EventKind.TELEMETRY for e in delivered))
        assert [dict(e.values) for e in delivered if e.kind is EventKind.TELEMETRY] == [{"flow_rate_bpd": 123.0}]
    finally:
        transport.stop()

    other = make_pki(tmp_path / "other")
    for refused in (settings(edge_tls_ca_file=str(pki.ca_cert)),  # no client certificate
                    settings(edge_tls_ca_file=str(other.ca_cert), edge_tls_cert_file=str(pki.client_cert),
                             edge_tls_key_file=str(pki.client_key))):  # the server's CA is not trusted
        transport = build_transport(refused)
        transport.start(lambda e: None)
        try:
            with pytest.raises(TimeoutError):
                transport.wait_connected(2)
            assert transport.connects == 0
        finally:
            transport.stop()


@pytest.mark.parametrize("writeback_kind", ["grpc", "rest"])
def test_deletes_remove_attributes_and_future_points_after_earlier_writes(rig, writeback_kind):
    """delete_attributes / delete_timeseries (simulation sessions' cleanup): the writes made before a delete are
    delivered first; REST removes future points with an explicit range, the Edge uplink deletes attributes
    (AttributeDeleteMsg) and refuses a time-series delete, which the protocol lacks (dead-lettered)."""
    tb, edge, port, wells = rig
    device_id = wells[0][0]
    transport = _transport(edge, port)
    transport.start(Service())
    transport.wait_connected(5)
    assert transport.sync_completed.wait(5)
    if writeback_kind == "grpc":
        wb = EdgeWriteback(transport, backoff_initial_s=0.05, backoff_max_s=0.3)
    else:
        wb = RestWriteback(tb.start_http(), "tenant@thingsboard.org", "tenant")
    now = tb.clock_ms()
    future = [(now + k * 300_000, {"sim_flow_rate_bpd": 100.0 + k}) for k in range(1, 145)]
    tb.save_timeseries(device_id, future)  # a projection: the next 12 hours
    wb.write_attributes(device_id, {"sim_active": True, "sim_status": "done", "opt_keep": 1.0})
    assert wb.delete_attributes(device_id, ["sim_active", "sim_status", "sim_absent"]) is True  # after the write
    assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_keep": 1.0}
    deleted = wb.delete_timeseries(device_id, ["sim_flow_rate_bpd"], 0, now + 2 * 86_400_000)
    points = tb.get_timeseries(device_id, ["sim_flow_rate_bpd"], 0, 2**62).get("sim_flow_rate_bpd", [])
    if writeback_kind == "rest":
        assert deleted is True and points == []
    else:
        assert deleted is True and len(points) == 144  # refused, not retried: kept in delete_dead_letters
        (op, reason), = wb.delete_dead_letters
        assert op[0] == "timeseries" and "no time-series delete" in reason
    assert wb.flush(10) and wb.pending_items() == 0
    wb.close()
    transport.stop()
