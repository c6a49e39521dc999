"""`atilax run`'s assembly against the stand-in over real protocols: inventory over REST, telemetry
over the gRPC Edge stream, results back over REST; configuration errors are clear."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tb_bridge.cli.main import main
from tb_bridge.config import load_settings
from tb_bridge.runner import build_service
from tb_bridge.standin import StandIn

CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}


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
    settings = load_settings(transport="grpc", writeback="rest", database_url=f"sqlite:///{tmp_path}/h.db",
                             tb={"url": url, "edge_port": grpc_port, "edge_routing_key": edge.routing_key,
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
    assert main(["run"]) == 2
    assert "edge_routing_key" in capsys.readouterr().err
