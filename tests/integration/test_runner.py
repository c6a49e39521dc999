"""`atilax run`'s assembly against the stand-in over real protocols: inventory over REST, telemetry
over the gRPC Edge stream, results back over REST; configuration errors are clear."""
from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import httpx
import pytest

from tb_bridge.cli.main import main
from tb_bridge.config import load_settings
from tb_bridge.runner import build_service, run_service
from tb_bridge.standin import StandIn
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD
from tb_bridge.tbsetup.service_user import SERVICE_USER_FLAG
from tb_bridge.transport.mqtt_envelope import build_envelope
from tb_bridge.transport.rest_ingress import EVENTS_PATH, HEALTH_PATH
from tests.polling import wait_for

CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}
SERVICE_EMAIL, SERVICE_PASSWORD = "atilax-service@thingsboard.org", "service-secret-1"


def add_service_user(tb, password=SERVICE_PASSWORD, user_id=None):
    """The service user as `atilax tb setup` leaves it (marked, activated)."""
    return tb.auth.add_user(SERVICE_EMAIL, password, user_id=user_id, additional_info={SERVICE_USER_FLAG: True})


@pytest.fixture
def standin():
    tb = StandIn()
    url = tb.start_http()
    edge = tb.create_edge("atilax")
    grpc_port = tb.start_edge_server("127.0.0.1", 0)
    yield tb, url, edge, grpc_port
    tb.stop()


def test_inventory_edge_stream_and_rest_writeback(standin, tmp_path):
    tb, url, edge, grpc_port = standin
    good, token = tb.create_device("ESP-01", "ESP")
    bad, _ = tb.create_device("ESP-02", "ESP")
    tb.save_attributes(good, "SERVER_SCOPE", CONFIG)
    tb.save_attributes(bad, "SHARED_SCOPE", {**CONFIG, "pump_depth_ft": 9000})
    for device in (good, bad):
        tb.assign_device_to_edge(device, edge.id)
    add_service_user(tb)
    settings = load_settings(transport="grpc", writeback="rest", database_url=f"sqlite:///{tmp_path}/h.db",
                             tb={"url": url, "username": SERVICE_EMAIL, "password": SERVICE_PASSWORD,
                                 "edge_port": grpc_port, "edge_routing_key": edge.routing_key,
                                 "edge_secret": edge.secret})
    service, transport = build_service(settings)
    try:
        assert [w.name for w in service.registry.valid_wells()] == ["ESP-01"]
        assert "pump_depth_ft must not be below the perforations" in str(service.registry.get(bad).error)
        service.attach(transport)
        transport.wait_connected()
        now_ms = int(datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp() * 1000)
        for step in range(3):
            tb.post_device_telemetry(token, {"ts": now_ms + step * 300_000, "values": {"flow_rate_bpd": 800.0 + step}})
        deadline = time.monotonic() + 10
        while len(service.buffer.window(good)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.buffer.window(good).values["flow_rate_bpd"].tolist() == [800.0, 801.0, 802.0]
        service.run_tier("fast", now_ms + 600_000)
        attributes = tb.get_attributes(good, "SERVER_SCOPE")
        assert attributes["opt_monitor_points"] == 3
        assert attributes["opt_monitor_stats"]["flow_rate_bpd"]["mean"] == pytest.approx(801.0)
        # The writes came back through the stand-in's pipeline, as ATTRIBUTES_UPDATED; none was taken
        # for configuration (loop protection), so the well's configuration is unchanged.
        assert service.registry.config(good).pump_depth_ft == 7500
    finally:
        service.close()


def test_run_without_edge_credentials_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("ATILAX_TRANSPORT", "grpc")
    monkeypatch.setenv("ATILAX_TB__EDGE_ROUTING_KEY", "")
    assert main(["run", "--allow-shared-user"]) == 2
    assert "edge_routing_key" in capsys.readouterr().err


# --- starting while ThingsBoard is down or rejects the password (issue 17, defect 14) -----------------------
INGRESS_TOKEN = "ingress-token-runner"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def running():
    """``start(settings)`` runs `run_service` in a thread (fast retries); the fixture stops it and checks it
    returned ``rc`` (0: it did not exit on its own before)."""
    runs = []

    def start(settings, rc=0):
        stop, started, result = threading.Event(), {}, {}

        def target():
            result["rc"] = run_service(settings, stop, backoff_s=(0.05, 0.4),
                                       on_start=lambda service, transport, state: started.update(
                                           service=service, transport=transport, state=state))

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        runs.append((stop, thread, result, rc))
        assert wait_for(lambda: started or not thread.is_alive(), 30) and started, "run_service did not start"
        return SimpleNamespace(thread=thread, result=result, **started)

    yield start
    for stop, thread, result, rc in runs:
        stop.set()
        thread.join(60)
        assert not thread.is_alive() and result.get("rc") == rc


def _rest_settings(tmp_path, tb_url, port=0, **tb):
    tb = {"username": SERVICE_EMAIL, "password": SERVICE_PASSWORD, **tb}
    return load_settings(transport="rest", writeback="rest", database_url=f"sqlite:///{tmp_path}/h.db",
                         rest_ingress={"port": port, "token": INGRESS_TOKEN}, tb={"url": tb_url, **tb})


def _post(ingress, msg_type, well, name, ts_ms, data, **metadata):
    body = build_envelope(msg_type, well, {"deviceName": name, "deviceType": "ESP", "ts": str(ts_ms), **metadata}, data)
    return httpx.post(ingress.base_url + EVENTS_PATH, json=body, timeout=10,
                      headers={"Authorization": f"Bearer {INGRESS_TOKEN}"})


def test_thingsboard_down_at_start_serves_ingress_then_loads_inventory_and_writes(running, tmp_path):
    tb = StandIn()
    port = _free_port()  # nothing listens there yet: ThingsBoard is down
    good, _ = tb.create_device("ESP-01", "ESP")
    late, _ = tb.create_device("ESP-02", "ESP")  # configured in ThingsBoard only: reaches us with the inventory
    tb.save_attributes(late, "SERVER_SCOPE", CONFIG)
    add_service_user(tb)
    try:
        run = running(_rest_settings(tmp_path, f"http://127.0.0.1:{port}"))
        assert wait_for(lambda: run.state.attempts >= 2, 10)  # retried, still running
        assert run.thread.is_alive()
        health = httpx.get(run.transport.base_url + HEALTH_PATH, timeout=10).json()
        assert health["status"] == "ok" and health["thingsboard"]["state"] == "connecting"
        assert "ConnectError" in health["thingsboard"]["last_error"]
        # ingress works while ThingsBoard is down: a configuration change and telemetry are routed
        now_ms = int(datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp() * 1000)
        answer = _post(run.transport, "ATTRIBUTES_UPDATED", good, "ESP-01", now_ms, CONFIG, scope="SERVER_SCOPE",
                       userId=tb.tenant_admin.id)
        assert answer.json()["status"] == "accepted"
        for step in range(3):
            answer = _post(run.transport, "POST_TELEMETRY_REQUEST", good, "ESP-01", now_ms + step * 300_000,
                           {"flow_rate_bpd": 800.0 + step})
            assert answer.status_code == 200 and answer.json()["status"] == "accepted"
        assert run.service.registry.config(good) is not None and len(run.service.buffer.window(good)) == 3
        run.service.run_tier("fast", now_ms + 600_000)  # results wait in the writeback's outbox
        assert run.service.writeback.pending_items() > 0
        tb.start_http(port=port)  # ThingsBoard comes up
        assert wait_for(lambda: run.state.state == "ready", 20)
        assert run.service.registry.config(late) is not None  # the inventory was loaded
        assert httpx.get(run.transport.base_url + HEALTH_PATH, timeout=10).json()["thingsboard"]["state"] == "ready"
        assert wait_for(lambda: tb.get_attributes(good, "SERVER_SCOPE").get("opt_monitor_points") == 3, 30)
        stats = tb.get_attributes(good, "SERVER_SCOPE")["opt_monitor_stats"]
        assert stats["flow_rate_bpd"]["mean"] == pytest.approx(801.0)
    finally:
        tb.stop()


def test_wrong_password_keeps_running_reports_auth_failed_without_traceback(running, tmp_path, caplog):
    tb = StandIn()
    url = tb.start_http()
    service_user = add_service_user(tb)
    try:
        with caplog.at_level(logging.INFO):
            run = running(_rest_settings(tmp_path, url, password="not-the-password"))
            assert wait_for(lambda: run.state.attempts >= 3, 10)
            assert run.thread.is_alive()
            health = httpx.get(run.transport.base_url + HEALTH_PATH, timeout=10).json()
            assert health["thingsboard"]["state"] == "auth_failed"
            assert "HTTP 401" in health["thingsboard"]["last_error"]
            # an operator fixes the password in ThingsBoard: the next attempt logs in
            add_service_user(tb, "not-the-password", user_id=service_user.id)
            assert wait_for(lambda: run.state.state == "ready", 20)
        rejected = [r for r in caplog.records if "rejected the credentials" in r.getMessage()]
        assert len(rejected) >= 3 and all(r.levelno == logging.ERROR for r in rejected)
        assert all(r.getMessage().count("\n") == 0 for r in rejected)
        assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    finally:
        tb.stop()


# --- the dedicated service user (issue 17, defect 15) -------------------------------------------------------
def test_a_human_admins_edit_is_routed_and_the_service_users_echo_dropped(running, tmp_path):
    """`atilax tb setup` creates the service user; `atilax run` writes as it, so the tenant administrator's edit of a
    well reaches the registry while the service user's own save of the same key comes back and is dropped."""
    from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
    from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
    from tb_bridge.tbsetup.client import TbClient
    from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, run_setup

    tb = StandIn()
    url = tb.start_http()
    well, _ = tb.create_device("ESP-01", "ESP")
    tb.save_attributes(well, "SERVER_SCOPE", CONFIG)
    port = _free_port()
    with TbClient(url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as admin:
        actions = run_setup(admin, SetupOptions(transport="rest", make_root=True, service_token=INGRESS_TOKEN,
                                                service_url=f"http://127.0.0.1:{port}",
                                                service_user_password=SERVICE_PASSWORD))
        assert [(a.kind, a.name, a.change) for a in actions if a.kind == "service_user"] == [
            ("service_user", SERVICE_EMAIL, "create")]
        chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(admin).items()}
    bridge = StandInRuleEngine(tb, RuleEngine(chains, StandInOutputs(tb)))  # the REST node posts over HTTP
    try:
        run = running(_rest_settings(tmp_path, url, port=port))
        assert wait_for(lambda: run.state.state == "ready", 20), run.state.snapshot()
        assert run.service.registry.config(well).pump_depth_ft == 7500
        service_user = tb.auth.user_by_email(SERVICE_EMAIL)
        assert run.transport.loop_guard.own_user_ids == {service_user.id}  # keyed on the service user alone
        tb.save_attributes(well, "SERVER_SCOPE", {"pump_depth_ft": 7400})  # the tenant administrator, in the UI
        assert wait_for(lambda: run.service.registry.config(well).pump_depth_ft == 7400, 20)
        dropped = run.transport.loop_guard.dropped
        run.service.writeback.write_attributes(well, {"pump_depth_ft": 7300})  # saved by the service user
        assert run.service.writeback.flush(10)
        assert tb.get_attributes(well, "SERVER_SCOPE")["pump_depth_ft"] == 7300
        assert wait_for(lambda: run.transport.loop_guard.dropped > dropped, 20)  # its echo came back: dropped
        assert tb.wait_idle(10)
        assert run.service.registry.config(well).pump_depth_ft == 7400
    finally:
        bridge.stop()
        tb.stop()


def test_run_refuses_the_default_tenant_admin_with_one_clear_line(monkeypatch, capsys):
    monkeypatch.setenv("ATILAX_TRANSPORT", "rest")
    monkeypatch.setenv("ATILAX_REST_INGRESS__TOKEN", INGRESS_TOKEN)
    monkeypatch.delenv("ATILAX_TB__USERNAME", raising=False)
    monkeypatch.delenv("ATILAX_ALLOW_SHARED_USER", raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("atilax: error: refusing to run as 'tenant@thingsboard.org'") and err.count("\n") == 1
    assert "--allow-shared-user" in err and "Traceback" not in err


def test_run_refuses_a_user_not_marked_as_the_service_user_unless_allowed(running, tmp_path, caplog):
    tb = StandIn()
    url = tb.start_http()
    tb.create_user("ops@example.com", "ops-secret")  # a person's tenant administrator account
    try:
        with caplog.at_level(logging.INFO):
            run = running(_rest_settings(tmp_path, url, username="ops@example.com", password="ops-secret"), rc=2)
            run.thread.join(30)
            assert not run.thread.is_alive() and run.result["rc"] == 2  # stopped by itself
        assert run.state.state == "refused"
        (refusal,) = [r for r in caplog.records if "refusing to run as 'ops@example.com'" in r.getMessage()]
        assert refusal.levelno == logging.ERROR and "\n" not in refusal.getMessage() and not refusal.exc_info
        allowed = running(_rest_settings(tmp_path, url, username="ops@example.com", password="ops-secret")
                          .model_copy(update={"allow_shared_user": True}))
        assert wait_for(lambda: allowed.state.state == "ready", 20)
    finally:
        tb.stop()
