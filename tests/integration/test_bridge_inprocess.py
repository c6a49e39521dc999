"""Stand-in -> in-process transport -> service -> REST writeback -> stand-in store.

Every check is a conservation count (events posted == events delivered, results computed == results
stored) or an exact value derived from the posted telemetry; outage tests inject ThingsBoard 500s,
timeouts, a REST server restart and bad credentials, and then require that nothing was lost.
"""
from __future__ import annotations

import threading
import time

import pytest

from tb_bridge.events import EventKind
from tb_bridge.standin import StandIn
from tb_bridge.transport.inprocess import InProcessTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.writeback.rest import RestWriteback, WritebackAuthError

SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
T0 = 1_700_000_000_000


class Service:
    """A minimal service: for each telemetry event, write opt_q_bpd = 0.9 * flow and a projection point."""

    def __init__(self, writeback):
        self.writeback = writeback
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
        if event.kind is EventKind.TELEMETRY:
            q = event.values["flow_rate_bpd"]
            self.writeback.write_attributes(event.well_id, {"opt_q_bpd": 0.9 * q, "opt_src_ts": event.ts_ms})
            self.writeback.write_timeseries(event.well_id, [(event.ts_ms + 86_400_000, {"opt_q_proj_bpd": 0.8 * q})])


@pytest.fixture()
def tb():
    standin = StandIn()
    standin.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    standin.start_http()
    yield standin
    standin.stop()


def _wells(tb, n):
    return [tb.create_device(f"W-{i:03d}", ("ESP", "SRP", "PCP", "GasLift")[i % 4]) for i in range(n)]


def _post(tb, wells, n_points, start=0):
    for k in range(start, start + n_points):
        for i, (_, token) in enumerate(wells):
            tb.post_device_telemetry(token, {"ts": T0 + k * 60_000, "values": {"flow_rate_bpd": 100.0 * (i + 1) + k}})


def _assert_results(tb, wells, n_points):
    last = n_points - 1
    for i, (device_id, _) in enumerate(wells):
        attrs = tb.get_attributes(device_id, "SERVER_SCOPE")
        assert attrs["opt_q_bpd"] == pytest.approx(0.9 * (100.0 * (i + 1) + last), rel=1e-12)
        assert attrs["opt_src_ts"] == T0 + last * 60_000
        proj = tb.get_timeseries(device_id, ["opt_q_proj_bpd"], 0, 2**62)["opt_q_proj_bpd"]
        assert len(proj) == n_points  # one future point per event, none lost, none doubled
        assert proj[-1] == (T0 + last * 60_000 + 86_400_000, pytest.approx(0.8 * (100.0 * (i + 1) + last)))


def _run(tb, wb, guard=None):
    service = Service(wb)
    transport = InProcessTransport(tb, loop_guard=guard)
    transport.start(service)
    return service, transport


def test_telemetry_reaches_service_and_results_land_on_devices(tb):
    wells = _wells(tb, 8)
    wb = RestWriteback(tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD)
    wb.login()
    guard = LoopGuard(own_user_ids={wb.user_id}, own_key_prefixes=())
    service, transport = _run(tb, wb, guard)
    _post(tb, wells, 25)
    assert tb.wait_idle()
    assert wb.flush()
    assert tb.wait_idle()
    telemetry = [e for e in service.events if e.kind is EventKind.TELEMETRY]
    assert len(telemetry) == 8 * 25
    assert {e.well_name for e in telemetry} == {f"W-{i:03d}" for i in range(8)}
    assert all(e.source == "inprocess" and e.device_type in ("ESP", "SRP", "PCP", "GasLift") for e in telemetry)
    _assert_results(tb, wells, 25)
    # every attribute save by the service user came back as ATTRIBUTES_UPDATED and was dropped
    assert [e for e in service.events if e.kind is not EventKind.TELEMETRY] == []
    assert guard.dropped >= 1
    transport.stop()
    wb.close()


def test_loop_protection_by_user_and_by_prefix(tb):
    (device_id, _), = _wells(tb, 1)
    service_user = tb.auth.user_by_email(SERVICE_EMAIL)
    guard = LoopGuard(own_user_ids={service_user.id})
    delivered = []
    transport = InProcessTransport(tb, loop_guard=guard)
    transport.start(delivered.append)
    tb.save_attributes(device_id, "SERVER_SCOPE", {"pump_depth_ft": 6000}, user=service_user)  # ours, by user id
    tb.save_attributes(device_id, "SERVER_SCOPE", {"opt_q_bpd": 1.0})  # ours, by key prefix (admin saved)
    tb.save_attributes(device_id, "SERVER_SCOPE", {"pump_depth_ft": 6100})  # operator's change: delivered
    tb.save_attributes(device_id, "SHARED_SCOPE", {"opt_x": 1, "sim_param_wc": 0.3})  # mixed keys: delivered
    assert tb.wait_idle()
    assert [(e.kind, dict(e.values), e.scope) for e in delivered] == [
        (EventKind.ATTRIBUTES_UPDATED, {"pump_depth_ft": 6100}, "SERVER_SCOPE"),
        (EventKind.ATTRIBUTES_UPDATED, {"opt_x": 1, "sim_param_wc": 0.3}, "SHARED_SCOPE")]
    assert guard.dropped == 2
    transport.stop()


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": None, "delay_s": 1.0}], ids=["http500", "timeout"])
def test_thingsboard_outage_loses_nothing(tb, fault):
    wells = _wells(tb, 5)
    wb = RestWriteback(tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD, timeout_s=0.3,
                       backoff_initial_s=0.05, backoff_max_s=0.4, seed=1)
    wb.login()
    service, transport = _run(tb, wb)
    _post(tb, wells, 4)
    assert tb.wait_idle() and wb.flush()
    tb.set_http_fault(path_prefix="/api/plugins/telemetry", **fault)
    _post(tb, wells, 6, start=4)  # results computed during the outage
    assert tb.wait_idle()
    time.sleep(2.5)  # the outage lasts; the writeback keeps retrying with capped backoff
    assert wb.stats()["failures"] >= 3 and wb.pending_items() > 0
    tb.clear_http_fault()
    assert wb.flush(timeout_s=10)
    _assert_results(tb, wells, 10)
    assert wb.stats()["dead_letters"] == 0
    transport.stop()
    wb.close()


def test_rest_server_restart_mid_stream(tb):
    wells = _wells(tb, 3)
    wb = RestWriteback(tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD, timeout_s=0.5,
                       backoff_initial_s=0.05, backoff_max_s=0.3)
    service, transport = _run(tb, wb)
    port = int(tb.base_url.rsplit(":", 1)[1])
    _post(tb, wells, 3)
    assert tb.wait_idle() and wb.flush()
    tb.stop_http()
    _post(tb, wells, 4, start=3)
    assert tb.wait_idle()
    assert not wb.flush(timeout_s=2)  # refused connections: kept in the outbox
    tb.start_http(port=port)
    assert wb.flush(timeout_s=10)
    _assert_results(tb, wells, 7)
    transport.stop()
    wb.close()


def test_bad_credentials_are_reported_and_nothing_is_dropped(tb):
    (device_id, _), = _wells(tb, 1)
    wb = RestWriteback(tb.base_url, SERVICE_EMAIL, "wrong", backoff_initial_s=0.05, backoff_max_s=0.2)
    with pytest.raises(WritebackAuthError, match="rejected the credentials"):
        wb.login()
    wb.write_attributes(device_id, {"opt_q_bpd": 5.0})
    assert not wb.flush(timeout_s=2)
    assert wb.outbox.pending_items() == 1 and "rejected the credentials" in wb.stats()["last_error"]
    assert tb.get_attributes(device_id, "SERVER_SCOPE") == {}
    wb.set_credentials(SERVICE_EMAIL, SERVICE_PASSWORD)  # the operator fixes the credentials
    assert wb.flush(timeout_s=5)
    assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_q_bpd": 5.0}
    wb.close()


def test_jwt_refresh_before_expiry():
    tb = StandIn(access_ttl_s=2.0)
    tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    tb.start_http()
    try:
        (device_id, _), = _wells(tb, 1)
        wb = RestWriteback(tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD, refresh_margin_s=1.0)
        wb.write_attributes(device_id, {"opt_a": 1})
        assert wb.flush()
        first_token = wb._client.get_token()
        time.sleep(2.5)  # past the first token's exp
        wb.write_attributes(device_id, {"opt_a": 2})
        assert wb.flush()
        assert wb._client.get_token() != first_token and wb.stats()["failures"] == 0
        assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_a": 2}
        wb.close()
    finally:
        tb.stop()


def test_outbox_memory_bound_spills_and_restores(tb):
    wells = _wells(tb, 40)
    wb = RestWriteback(tb.base_url, SERVICE_EMAIL, SERVICE_PASSWORD, max_outbox_items=30,
                       backoff_initial_s=0.05, backoff_max_s=0.2)
    tb.set_http_fault(500, path_prefix="/api/plugins/telemetry")
    for k in range(3):
        for i, (device_id, _) in enumerate(wells):
            wb.write_attributes(device_id, {"opt_q_bpd": float(i * 10 + k), "opt_k": k})
        assert wb.outbox.memory_items <= 30
    # 3 rounds x 40 wells x 2 keys were written; spilled batches are not merged until restored
    assert 40 * 2 <= wb.pending_items() <= 3 * 40 * 2
    assert wb.outbox.spilled_batches > 0
    tb.clear_http_fault()
    assert wb.flush(timeout_s=10)
    for i, (device_id, _) in enumerate(wells):
        assert tb.get_attributes(device_id, "SERVER_SCOPE") == {"opt_q_bpd": float(i * 10 + 2), "opt_k": 2}
    wb.close()
