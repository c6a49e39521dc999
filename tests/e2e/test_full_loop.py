"""The whole loop the product promises, on the stand-in, a real Mosquitto and a real Kafka broker: a device posts
telemetry -> ThingsBoard runs our rule chain (as installed by `atilax tb setup`) -> gRPC push-to-edge,
the MQTT node or the Kafka node -> the service (as `atilax run` assembles it) -> opt_* attributes back over REST ->
visible in the dashboard preview; a sim_param_* slider write travels the same way and opens a
simulation session; the service's own writes never come back to it."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from tb_bridge.adapters.whatif import original_parameters, parameters_for, simulate
from tb_bridge.config import load_settings
from tb_bridge.preview.data import RestData
from tb_bridge.preview.render import render_page
from tb_bridge.rulechain_runner import RuleEngine, load_rule_chain
from tb_bridge.rulechain_runner.standin_bridge import StandInOutputs, StandInRuleEngine
from tb_bridge.runner import build_service
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD, StandIn
from tb_bridge.tbsetup.bundle import bundled_dashboards
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, run_setup
from tests.polling import wait_for

CONFIG = {"lift_type": "esp", "reservoir_pressure_psi": 3000, "bubble_point_psi": 2000,
          "productivity_index_bpd_psi": 1.0, "perforation_depth_ft": 8000, "pump_depth_ft": 7500}
ROUTING_KEY, EDGE_SECRET = "b7e2c1a0-routing", "edge-secret-1"
NOW = int(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)


def wait_until(check, what, timeout_s=15.0):
    if not wait_for(check, timeout_s, interval_s=0.05):
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(params=["grpc", "mqtt", "kafka"])
def loop(request, mosquitto_port, tmp_path):
    transport = request.param
    mqtt_host, mqtt_port = mosquitto_port
    # Kafka: this run's own topics and consumer groups on the session's broker; the chain's Kafka node publishes to
    # them with the stand-in's producer (confluent-kafka, murmur2 partitioner as ThingsBoard's Java producer)
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    kafka = {"bootstrap_servers": request.getfixturevalue("kafka_bootstrap"), "group_id": prefix,
             "instance_name": prefix, "partitions": 3, "events_topic": f"{prefix}.events",
             "telemetry_topics": {lift: f"{prefix}.telemetry.{lift}" for lift in ("esp", "srp", "pcp", "gas_lift",
                                                                                   "natural_flow")}
             } if transport == "kafka" else {}
    tb = StandIn(clock_ms=lambda: NOW)
    url = tb.start_http()
    well, token = tb.create_device(f"ESP-{uuid.uuid4().hex[:6]}", "ESP")  # unique: MQTT topics are shared
    with TbClient(url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        run_setup(client, SetupOptions(transport=transport, mqtt_host=mqtt_host, mqtt_port=mqtt_port, make_root=True,
                                       kafka_bootstrap=kafka.get("bootstrap_servers"),
                                       kafka_telemetry_topics=kafka.get("telemetry_topics"),
                                       kafka_events_topic=kafka.get("events_topic"),
                                       edge_routing_key=ROUTING_KEY, edge_secret=EDGE_SECRET,
                                       service_user_password="service-secret"))  # the user the service writes as
        chains = {cid: load_rule_chain(export) for cid, export in installed_rule_chains(client).items()}
    grpc_port = tb.start_edge_server("127.0.0.1", 0)  # serves the Edge that setup created
    tb.edges.auto_push = False  # only what the rule chain pushes reaches the edge
    bridge = StandInRuleEngine(tb, RuleEngine(chains, StandInOutputs(tb, edge_sink=tb.edges.push_to_edge)))
    settings = load_settings(
        transport=transport, writeback="rest", database_url=f"sqlite:///{tmp_path}/history.db",
        tb={"url": url, "username": "atilax-service@thingsboard.org", "password": "service-secret",
            "edge_port": grpc_port, "edge_routing_key": ROUTING_KEY, "edge_secret": EDGE_SECRET},
        # a persistent session per run on the shared broker, ended when the service stops
        mqtt={"host": mqtt_host, "port": mqtt_port, "shared_group": f"g{uuid.uuid4().hex[:8]}",
              "instance_name": f"e2e-{uuid.uuid4().hex[:8]}", "end_session_on_stop": True},
        **({"kafka": kafka} if kafka else {}))
    service, inbound = build_service(settings)
    service.attach(inbound)
    if transport == "grpc":
        inbound.wait_connected()
    elif transport == "kafka":
        assert inbound.wait_assigned(60)
    else:
        assert inbound.wait_subscribed()
    # the well is configured in ThingsBoard while the service runs: the chain forwards the change live
    tb.save_attributes(well, "SERVER_SCOPE", CONFIG)
    wait_until(lambda: service.registry.config(well) is not None, "the configuration to reach the registry")
    try:
        yield transport, tb, url, well, token, service, bridge, inbound
    finally:
        service.close()
        bridge.stop()
        tb.stop()


def test_telemetry_and_slider_travel_the_whole_loop(loop):
    transport, tb, url, well, token, service, bridge, inbound = loop
    for step in range(3):
        tb.post_device_telemetry(token, {"ts": NOW - (2 - step) * 300_000, "values": {"flow_rate_bpd": 700.0 + step,
                                                                                   "frequency_hz": 55.0}})
    wait_until(lambda: len(service.buffer.window(well)) == 3, "telemetry to reach the service")
    assert service.buffer.window(well).values["flow_rate_bpd"].tolist() == [700.0, 701.0, 702.0]

    service.run_tier("fast", NOW)
    service.run_tier("hourly", NOW)
    attributes = tb.get_attributes(well, "SERVER_SCOPE")
    assert attributes["opt_monitor_points"] == 3
    assert attributes["opt_monitor_stats"]["flow_rate_bpd"]["mean"] == pytest.approx(701.0)
    assert attributes["opt_esp_freq_recommended_hz"] > 0 and attributes["opt_nodal_aof_bpd"] > 0

    service.sessions.clock_ms = lambda: NOW  # the service's clock is ThingsBoard's (the projection starts after NOW)
    tb.save_attributes(well, "SERVER_SCOPE", {"sim_param_water_cut_pct": 55})  # a dashboard slider
    wait_until(lambda: tb.get_attributes(well, "SERVER_SCOPE").get("sim_status") == "done", "the slider's what-if",
               timeout_s=60.0)
    assert service.writeback.flush(10)
    attributes = tb.get_attributes(well, "SERVER_SCOPE")
    assert attributes["sim_original_water_cut_pct"] == 30.0  # the configured value (model default)
    assert attributes["sim_original_freq_hz"] == 55.0  # the well's latest telemetry
    # the modified well at the well's frequency, as the lift engine computes it directly
    config = service.registry.config(well)
    original = original_parameters(config, {"frequency_hz": 55.0})
    expected = simulate(config, original, {**original, "water_cut_pct": 55.0})
    assert attributes["sim_opt_production_bpd"] == round(expected.modified.liquid_bpd, 4)
    assert attributes["sim_compare_production_delta_bpd"] == round(expected.delta_bpd, 4)
    projected = tb.get_timeseries(well, ["sim_flow_rate_bpd"], NOW, NOW + 13 * 3_600_000)["sim_flow_rate_bpd"]
    assert len(projected) == 144 and all(ts > NOW for ts, _ in projected)
    (session,) = service.history.sessions(well_id=well)
    assert session.modified_params == {"water_cut_pct": 55.0}

    # No loop: the chain forwarded exactly the configuration, the 3 telemetry messages and the one slider write
    # to the transport; none of the service's own opt_*/sim_* writes (several per tier run) reached it.
    assert tb.wait_idle(10)
    transport_node = {"grpc": "Push to Atilax edge (gRPC)", "mqtt": "Publish to Atilax (MQTT)",
                      "kafka": "Publish to Atilax (Kafka)"}[transport]
    forwarded = [msg for msg, trace in bridge.traces if any(step.node == transport_node for step in trace)]
    # The opening of the session publishes sim_param_* (inputs, which the chain forwards): the service drops that
    # echo of its own write by its user id.
    assert sorted(m.type for m in forwarded) == ["ATTRIBUTES_UPDATED"] * 3 + ["POST_TELEMETRY_REQUEST"] * 3
    echo = [m for m in forwarded if m.type == "ATTRIBUTES_UPDATED" and "sim_active" in m.data]
    assert len(echo) == 1 and {f"sim_param_{p}" for p in parameters_for("esp")} <= set(json.loads(echo[0].data))
    own_writes = [msg for msg, _ in bridge.traces if msg.type == "ATTRIBUTES_UPDATED" and "opt_status" in msg.data]
    assert len(own_writes) >= 2  # the fast and hourly tiers wrote back, and the chain saw them
    assert all(not any(step.error for step in trace) for _msg, trace in bridge.traces)
    # the slider, and the echo of the opening's sim_param_*: dropped by the service's user id where the transport
    # carries it (MQTT, Kafka: the envelope's metadata), else the values in force reach the session and run nothing
    # (gRPC)
    echo_dropped = {"grpc": 0, "mqtt": 1, "kafka": 1}[transport]
    assert service.router.stats.telemetry == 3 and service.router.stats.simulation_updates == 2 - echo_dropped
    assert service.sessions.by_well(well)["modified"] == {"water_cut_pct": 55.0}
    # the start-up snapshot of the well (it had no attributes yet), and the echo above where its user id dropped it:
    # by the router, or already by the transport's own loop guard (Kafka)
    assert service.router.stats.own_writes_dropped == {"grpc": 1, "mqtt": 1 + echo_dropped, "kafka": 1}[transport]
    if transport == "kafka":
        assert inbound.loop_guard.dropped == echo_dropped
    assert service.registry.config(well).water_cut_frac == 0.3  # simulation never touches the real config

    # What operators see: the ESP detail and simulation dashboards render the service's numbers.
    dashboards = {k: v for k, v in bundled_dashboards().items() if k in ("well_detail_esp", "simulation")}
    with TbClient(url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        page = render_page(dashboards, RestData(client), NOW)
    assert f"{attributes['opt_esp_freq_recommended_hz']:g}" in page or str(attributes["opt_esp_freq_recommended_hz"]) in page
    assert "0.55" in page  # the slider's value in the original-vs-modified table
