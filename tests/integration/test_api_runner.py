"""`atilax run` with ``api.enabled``: the HTTP API serves the running service (wells from ThingsBoard's inventory,
events counted by transport)."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from pydantic import SecretStr

from tb_bridge.standin import StandIn
from tests.integration.test_runner import (CONFIG, _free_port, _post, _rest_settings, add_service_user,  # noqa: F401
                                           running)
from tests.polling import wait_for

pytestmark = pytest.mark.integration


def test_run_serves_the_api_beside_the_service(running, tmp_path):  # noqa: F811
    tb = StandIn()
    url = tb.start_http()
    well, _ = tb.create_device("ESP-01", "ESP")
    tb.save_attributes(well, "SERVER_SCOPE", CONFIG)
    add_service_user(tb)
    api_port = _free_port()
    try:
        settings = _rest_settings(tmp_path, url)
        settings = settings.model_copy(update={"api": settings.api.model_copy(
            update={"enabled": True, "port": api_port, "keys": [SecretStr("k")]})})
        run = running(settings)
        api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": "k"}, timeout=10)
        assert wait_for(lambda: run.state.state == "ready", 20)
        assert [w["id"] for w in api.get("/wells").json()] == [well]
        now_ms = int(datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp() * 1000)
        for step in range(2):
            assert _post(run.transport, "POST_TELEMETRY_REQUEST", well, "ESP-01", now_ms + step * 300_000,
                         {"flow_rate_bpd": 800.0}).status_code == 200
        detail = api.get(f"/wells/{well}").json()
        assert detail["buffered_points"] == 2 and detail["latest_telemetry"] == {"flow_rate_bpd": 800.0}
        metrics = api.get("/metrics").text
        assert 'atilax_events_total{transport="rest"} 2.0' in metrics
        assert 'atilax_events_total{transport="inventory"} 1.0' in metrics
        assert httpx.get(f"http://127.0.0.1:{api_port}/wells", timeout=10).status_code == 401
    finally:
        tb.stop()


def test_api_serve_alone_loads_the_wells_from_thingsboard(tmp_path):
    import threading

    from tb_bridge.api.server import serve_alone

    tb = StandIn()
    url = tb.start_http()
    well, _ = tb.create_device("ESP-01", "ESP")
    tb.save_attributes(well, "SERVER_SCOPE", CONFIG)
    add_service_user(tb)
    api_port = _free_port()
    settings = _rest_settings(tmp_path, url)
    settings = settings.model_copy(update={"api": settings.api.model_copy(
        update={"port": api_port, "keys": [SecretStr("k")]})})
    stop, result = threading.Event(), {}
    thread = threading.Thread(target=lambda: result.update(rc=serve_alone(settings, stop)), daemon=True)
    thread.start()
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": "k"}, timeout=10)

        def wells():
            try:
                return [w["id"] for w in api.get("/wells").json()]
            except httpx.HTTPError:
                return None

        assert wait_for(lambda: wells() == [well], 30)
        assert api.get(f"/wells/{well}").json()["config"]["lift_type"] == "esp"
    finally:
        stop.set()
        thread.join(30)
        tb.stop()
    assert result == {"rc": 0}
    with pytest.raises(httpx.ConnectError):  # stopped with the service
        httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2)
