"""Assemble and run the service against a real ThingsBoard (or a stand-in started with
``atilax standin``) from the configuration: transport in, writeback out, the well inventory loaded
over REST, the scheduler on the real clock, a clean stop on SIGINT/SIGTERM."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from tb_bridge.config import Settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.wells.model import DEVICE_PROFILE_BY_LIFT_TYPE

log = logging.getLogger(__name__)

#: Attribute scopes a well's configuration may live in (server: set by admins; shared: by dashboards).
CONFIG_SCOPES = ("SERVER_SCOPE", "SHARED_SCOPE")


def load_inventory(base_url: str, username: str, password: str, timeout_s: float = 10.0) -> list[WellEvent]:
    """One ATTRIBUTES_SNAPSHOT event per device of our profiles (ESP, SRP, PCP, GasLift), read over REST:
    ``GET /api/tenant/devices?type=`` (paged) and ``GET .../values/attributes/{scope}``. Our own keys
    are left out by the router, so a restart never feeds results back as configuration."""
    from tb_rest_client.models.entity_id import EntityId
    from tb_rest_client.rest_client import RestClient

    client = RestClient(base_url, timeout=(timeout_s, timeout_s))
    client.login(username, password)
    events: list[WellEvent] = []
    for profile in DEVICE_PROFILE_BY_LIFT_TYPE.values():
        page = 0
        while True:
            data = client.get_tenant_devices(page_size=500, page=page, type=profile)
            for device in data.data or []:
                device_id = device.id.id
                values: dict[str, Any] = {}
                for scope in CONFIG_SCOPES:
                    for item in client.get_attributes_by_scope(EntityId(device_id, "DEVICE"), scope) or []:
                        key, value = (item["key"], item["value"]) if isinstance(item, dict) else (item.key, item.value)
                        values[key] = value
                events.append(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, device_id, 0, values, well_name=device.name,
                                        device_type=profile, source="inventory"))
            if not data.has_next:
                break
            page += 1
    return events


def build_transport(settings: Settings):
    """The configured inbound transport (gRPC Edge, MQTT or the REST ingress)."""
    if settings.transport == "grpc":
        from tb_bridge.transport.edge import EdgeTls, EdgeTransport

        if not settings.tb.edge_routing_key:
            raise ValueError("transport grpc needs tb.edge_routing_key and tb.edge_secret (see `atilax tb setup`)")
        return EdgeTransport(settings.tb.edge_host, settings.tb.edge_port, settings.tb.edge_routing_key,
                             settings.tb.edge_secret.get_secret_value(),
                             tls=EdgeTls() if settings.tb.edge_tls else None)
    if settings.transport == "mqtt":
        import ssl

        from tb_bridge.transport.mqtt import MqttTransport

        mqtt = settings.mqtt
        return MqttTransport(mqtt.host, mqtt.port, topic_filters=(mqtt.topic,), shared_group=mqtt.shared_group,
                             client_id=mqtt.client_id, username=mqtt.username,
                             password=mqtt.password.get_secret_value() if mqtt.password else None,
                             tls=ssl.create_default_context() if mqtt.tls else None)
    if settings.transport == "rest":
        from tb_bridge.transport.loop_guard import LoopGuard
        from tb_bridge.transport.rest_ingress import RestIngressTransport
        from tb_bridge.writeback.keys import OWN_PREFIXES

        rest = settings.rest_ingress
        if not rest.token.get_secret_value():
            raise ValueError("transport rest needs rest_ingress.token (the bearer token `atilax tb setup "
                             "--service-token` puts into the chain's REST node)")
        return RestIngressTransport(rest.host, rest.port, token=rest.token.get_secret_value(),
                                    loop_guard=LoopGuard(own_key_prefixes=OWN_PREFIXES),
                                    max_body_bytes=rest.max_body_bytes)
    raise ValueError(f"transport {settings.transport!r} is only for the in-process stand-in (demo, tests)")


def build_writeback(settings: Settings, transport: Any):
    """The configured writeback; returns it and the ThingsBoard user id it writes as (REST) or None."""
    if settings.writeback == "grpc":
        from tb_bridge.transport.edge import EdgeTransport
        from tb_bridge.writeback.edge import EdgeWriteback

        if not isinstance(transport, EdgeTransport):
            raise ValueError("writeback grpc needs transport grpc (it uplinks over the Edge stream)")
        return EdgeWriteback(transport), None
    from tb_bridge.writeback.rest import RestWriteback

    writeback = RestWriteback(settings.tb.url, settings.tb.username, settings.tb.password.get_secret_value(),
                              timeout_s=settings.tb.request_timeout_s, max_outbox_items=settings.limits.outbox_max_items)
    return writeback, writeback.login()


def build_service(settings: Settings):
    """The service wired from the configuration, with the inventory loaded (transport not yet attached).
    Returns ``(service, transport)``."""
    from tb_bridge.service import Service
    from tb_bridge.tb_history import ThingsBoardHistory

    transport = build_transport(settings)
    writeback, user_id = build_writeback(settings, transport)
    guard = getattr(transport, "loop_guard", None)
    if guard is not None:  # the writeback user's own saves are echoes too
        guard.add_user_id(settings.service_user_id or user_id)
    password = settings.tb.password.get_secret_value()
    service = Service(settings, writeback, own_user_id=user_id,
                      history_reader=ThingsBoardHistory(settings.tb.url, settings.tb.username, password))
    try:
        for event in load_inventory(settings.tb.url, settings.tb.username, password, settings.tb.request_timeout_s):
            service.handle(event)
    except Exception:
        service.close()
        raise
    log.info("inventory: %d valid wells, %d invalid", len(service.registry.valid_wells()),
             len(service.registry.invalid_wells()))
    return service, transport


def run_service(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until ``stop`` is set (or SIGINT/SIGTERM); returns an exit code."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    service, transport = build_service(settings)
    from tb_bridge.placement_jobs import build_placement_jobs

    placement = build_placement_jobs(settings)  # field assets: placement_run_requested -> planner run
    service.router.asset_hook = placement.on_asset_event
    try:
        service.attach(transport)
        service.start_scheduler()
        log.info("atilax running: transport %s, writeback %s", settings.transport, settings.writeback)
        stop.wait()
    finally:
        placement.close()
        service.close()
    return 0
