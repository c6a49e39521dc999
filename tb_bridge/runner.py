"""Assemble and run the service against a real ThingsBoard (or a stand-in started with
``atilax standin``) from the configuration: transport in, writeback out, the well inventory loaded
over REST (once ThingsBoard answers: :mod:`tb_bridge.startup`), the scheduler on the real clock, a clean
stop on SIGINT/SIGTERM."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

from tb_bridge.config import Settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.startup import StartupState
from tb_bridge.transport.tls import client_context, read_pem
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
        tb = settings.tb

        def pem(name: str) -> bytes | None:
            path = getattr(tb, name)
            return read_pem(f"tb.{name}", path) if path else None

        tls = None
        if tb.edge_tls:
            tls = EdgeTls(root_certificates=pem("edge_tls_ca_file"), certificate_chain=pem("edge_tls_cert_file"),
                          private_key=pem("edge_tls_key_file"), server_name=tb.edge_tls_server_name)
        return EdgeTransport(tb.edge_host, tb.edge_port, tb.edge_routing_key, tb.edge_secret.get_secret_value(),
                             tls=tls)
    if settings.transport == "mqtt":
        from tb_bridge.transport.mqtt import MqttTransport

        mqtt = settings.mqtt
        context = client_context("mqtt.", ca_file=mqtt.tls_ca_file, cert_file=mqtt.tls_cert_file,
                                 key_file=mqtt.tls_key_file,
                                 insecure_skip_verify=mqtt.tls_insecure_skip_verify) if mqtt.tls else None
        return MqttTransport(mqtt.host, mqtt.port, topic_filters=(mqtt.topic,), shared_group=mqtt.shared_group,
                             client_id=mqtt.session_client_id(), session_expiry_s=mqtt.session_expiry_s,
                             end_session_on_stop=mqtt.end_session_on_stop, username=mqtt.username,
                             password=mqtt.password.get_secret_value() if mqtt.password else None, tls=context)
    if settings.transport == "rest":
        from tb_bridge.transport.http_guard import HttpLimits
        from tb_bridge.transport.loop_guard import LoopGuard
        from tb_bridge.transport.rest_ingress import RestIngressTransport
        from tb_bridge.writeback.keys import OWN_PREFIXES

        rest = settings.rest_ingress
        if not rest.token.get_secret_value():
            raise ValueError("transport rest needs rest_ingress.token (the bearer token `atilax tb setup "
                             "--service-token` puts into the chain's REST node)")
        limits = HttpLimits(header_timeout_s=rest.header_timeout_s, body_timeout_s=rest.body_timeout_s,
                            max_connections=rest.max_connections)
        return RestIngressTransport(rest.host, rest.port, token=rest.token.get_secret_value(),
                                    loop_guard=LoopGuard(own_key_prefixes=OWN_PREFIXES),
                                    max_body_bytes=rest.max_body_bytes, limits=limits,
                                    keep_alive_timeout_s=rest.keep_alive_timeout_s,
                                    max_header_bytes=rest.max_header_bytes, tls_cert_file=rest.tls_cert_file,
                                    tls_key_file=rest.tls_key_file, tls_ca_file=rest.tls_ca_file)
    if settings.transport == "kafka":
        return build_kafka_transport(settings)
    raise ValueError(f"transport {settings.transport!r} is only for the in-process stand-in (demo, tests)")


def kafka_partitions_by_topic(settings: Settings) -> dict[str, int]:
    """Partitions of the topics the service creates: ``kafka.partitions`` each, but one for the gas-lift topic when
    the field's lift gas is limited (``lift_gas_available_mscfd``): the equal-slope allocation needs every gas-lift
    well on one replica to stay field-wide and exact."""
    kafka = settings.kafka
    counts = {topic: kafka.partitions for topic in kafka.telemetry_topics.values()}
    if settings.lift_gas_available_mscfd is not None and "gas_lift" in kafka.telemetry_topics:
        counts[kafka.telemetry_topics["gas_lift"]] = 1
    counts[kafka.events_topic] = kafka.partitions
    return counts


def build_kafka_transport(settings: Settings):
    """The Kafka transport of the configuration (:mod:`tb_bridge.transport.kafka`)."""
    from tb_bridge.transport.kafka import KafkaTransport, kafka_client_config
    from tb_bridge.transport.loop_guard import LoopGuard
    from tb_bridge.writeback.keys import OWN_PREFIXES

    kafka = settings.kafka
    client = kafka_client_config(kafka.bootstrap_servers, security_protocol=kafka.security_protocol,
                                 sasl_mechanism=kafka.sasl_mechanism, sasl_username=kafka.sasl_username,
                                 sasl_password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
                                 ssl_ca_file=kafka.ssl_ca_file, ssl_cert_file=kafka.ssl_cert_file,
                                 ssl_key_file=kafka.ssl_key_file)
    return KafkaTransport(client, group_id=kafka.group_id, instance_name=kafka.instance_name,
                          telemetry_topics=kafka.telemetry_topics, events_topic=kafka.events_topic,
                          partitions_by_topic=kafka_partitions_by_topic(settings), create_topics=kafka.create_topics,
                          replication_factor=kafka.replication_factor, batch_max_events=kafka.batch_max_events,
                          poll_timeout_s=kafka.poll_timeout_s, session_timeout_ms=kafka.session_timeout_ms,
                          auto_offset_reset=kafka.auto_offset_reset, loop_guard=LoopGuard(own_key_prefixes=OWN_PREFIXES))


def build_state_store(settings: Settings):
    """The signed well-state store of replicas sharing a field (Redis + ``kafka.state_secret``), or None."""
    secret = settings.kafka.state_secret
    if settings.transport != "kafka" or not settings.redis_url or secret is None:
        if settings.transport == "kafka":
            log.info("no well-state handover between replicas (needs redis_url and kafka.state_secret): a well "
                     "that moves to another replica starts its state afresh")
        return None
    from tb_bridge.well_state_store import RedisWellStateStore

    return RedisWellStateStore.from_url(settings.redis_url, secret.get_secret_value().encode("utf-8"))


def build_writeback(settings: Settings, transport: Any):
    """The configured writeback, not yet logged in (a REST writeback logs in when it first sends, and keeps
    what it cannot send yet in its outbox)."""
    if settings.writeback == "grpc":
        from tb_bridge.transport.edge import EdgeTransport
        from tb_bridge.writeback.edge import EdgeWriteback

        if not isinstance(transport, EdgeTransport):
            raise ValueError("writeback grpc needs transport grpc (it uplinks over the Edge stream)")
        return EdgeWriteback(transport)
    from tb_bridge.writeback.rest import RestWriteback

    return RestWriteback(settings.tb.url, settings.tb.username, settings.tb.password.get_secret_value(),
                         timeout_s=settings.tb.request_timeout_s, max_outbox_items=settings.limits.outbox_max_items)


def assemble_service(settings: Settings):
    """The service and its transport wired from the configuration, without contacting ThingsBoard (no login,
    no inventory: see :func:`connect_thingsboard`). Returns ``(service, transport)``."""
    from tb_bridge.service import Service
    from tb_bridge.tb_history import ThingsBoardHistory

    transport = build_transport(settings)
    writeback = build_writeback(settings, transport)
    guard = getattr(transport, "loop_guard", None)
    if guard is not None:  # the writeback user's own saves are echoes too
        guard.add_user_id(settings.service_user_id)
    password = settings.tb.password.get_secret_value()
    service = Service(settings, writeback, history_reader=ThingsBoardHistory(settings.tb.url, settings.tb.username,
                                                                               password),
                      asset_writeback=build_asset_writeback(settings))
    service.state_store = build_state_store(settings)
    return service, transport


def build_asset_writeback(settings: Settings):
    """The REST writeback addressing assets that writes the weekly field summary and the monthly model audit to
    the field asset (``field_asset_id``), as the placement jobs write theirs; None when no field asset is set."""
    if not settings.field_asset_id:
        return None
    from tb_bridge.writeback.rest import RestWriteback

    return RestWriteback(settings.tb.url, settings.tb.username, settings.tb.password.get_secret_value(),
                         entity_type="ASSET", timeout_s=settings.tb.request_timeout_s,
                         max_outbox_items=settings.limits.outbox_max_items)


def connect_thingsboard(settings: Settings, service: Any, transport: Any, stop: threading.Event | None = None) -> str:
    """Log in as the configured user (and the REST writeback), give the loop guards its user id, load the well
    inventory into the service; returns a summary line. Raises :class:`~tb_bridge.startup.CredentialsRejected`
    when ThingsBoard answers 401, :class:`~tb_bridge.startup.SharedUserRefused` when the REST writeback would write
    as a user that is not the service user (:mod:`tb_bridge.tbsetup.service_user`) and ``allow_shared_user`` is
    off, and whatever the HTTP clients raise when ThingsBoard is not reachable."""
    from tb_bridge.config import mask_url_password
    from tb_bridge.startup import CredentialsRejected, SharedUserRefused
    from tb_bridge.tbsetup.client import TbApiError, TbClient
    from tb_bridge.tbsetup.service_user import is_service_user, shared_user_refusal
    from tb_bridge.writeback.rest import RestWriteback, WritebackAuthError

    tb = settings.tb
    password = tb.password.get_secret_value()
    try:
        with TbClient(tb.url, tb.username, password, timeout_s=tb.request_timeout_s) as client:
            user = client.get("/api/auth/user")
    except TbApiError as exc:
        if exc.status == 401:
            raise CredentialsRejected(f"user {tb.username!r} at {mask_url_password(tb.url)}: {exc}") from None
        raise
    if isinstance(service.writeback, RestWriteback) and not settings.allow_shared_user and not is_service_user(user):
        raise SharedUserRefused(shared_user_refusal(tb.username))
    user_id = None
    if isinstance(service.writeback, RestWriteback):
        try:
            user_id = service.writeback.login()
        except WritebackAuthError as exc:
            raise CredentialsRejected(str(exc)) from None
    for guard in (getattr(transport, "loop_guard", None), service.router.loop_guard):
        if guard is not None:
            guard.add_user_id(user_id)
    events = load_inventory(tb.url, tb.username, password, tb.request_timeout_s)
    if stop is not None and stop.is_set():
        return "stopped before the inventory was applied"
    for event in events:
        service.handle(event)
    return (f"logged in as {tb.username!r}; inventory: {len(service.registry.valid_wells())} valid wells, "
            f"{len(service.registry.invalid_wells())} invalid")


def build_service(settings: Settings):
    """The service wired from the configuration, logged in, with the inventory loaded (transport not yet
    attached); raises when ThingsBoard is not reachable or rejects the credentials. Returns
    ``(service, transport)``."""
    service, transport = assemble_service(settings)
    try:
        log.info("%s", connect_thingsboard(settings, service, transport))
    except Exception:
        service.close()
        raise
    return service, transport


def run_service(settings: Settings, stop: threading.Event | None = None, *,
                backoff_s: tuple[float, float] = (1.0, 60.0),
                on_start: Callable[[Any, Any, StartupState], None] | None = None) -> int:
    """Run until ``stop`` is set (or SIGINT/SIGTERM); returns an exit code.

    The transport and the scheduler start at once; a background thread logs in and loads the inventory when
    ThingsBoard answers (:func:`tb_bridge.startup.connect_until_ready`, retried every ``backoff_s[0]`` doubling to
    ``backoff_s[1]`` seconds), while the writeback's outbox keeps the results. The :class:`StartupState` is logged
    and shown by the REST ingress's health answer. ``on_start(service, transport, state)`` is called once serving.
    Writing back as a shared user (not the service user of `atilax tb setup`) without ``allow_shared_user`` is a
    ``ValueError`` for the default tenant administrator, else found at login: state ``refused``, exit code 2."""
    from tb_bridge.config import mask_url_password
    from tb_bridge.placement_jobs import build_placement_jobs
    from tb_bridge.startup import connect_until_ready
    from tb_bridge.tbsetup.service_user import SHARED_DEFAULT_USERNAME, shared_user_refusal

    if (settings.writeback == "rest" and not settings.allow_shared_user
            and settings.tb.username.strip().lower() == SHARED_DEFAULT_USERNAME):
        raise ValueError(shared_user_refusal(settings.tb.username))  # known before ThingsBoard answers
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    state = StartupState()
    service, transport = assemble_service(settings)
    if hasattr(transport, "health_details"):
        transport.health_details = lambda: {"thingsboard": state.snapshot()}
    placement = build_placement_jobs(settings)  # field assets: placement_run_requested -> planner run
    service.router.asset_hook = placement.on_asset_event
    connector = threading.Thread(target=connect_until_ready, name="atilax-tb-connect", daemon=True,
                                 args=(lambda: connect_thingsboard(settings, service, transport, stop), state, stop,
                                       backoff_s))
    api_server = None
    try:
        if settings.api.enabled:  # the HTTP API beside the service (refused without keys: ValueError)
            from tb_bridge.api.server import start_api

            api_server = start_api(service, settings)
        service.attach(transport)
        service.start_scheduler()
        log.info("atilax running: transport %s, writeback %s; connecting to ThingsBoard at %s as %r",
                 settings.transport, settings.writeback, mask_url_password(settings.tb.url), settings.tb.username)
        connector.start()
        if on_start is not None:
            on_start(service, transport, state)
        stop.wait()
    finally:
        stop.set()
        if api_server is not None:
            api_server.stop()
        if connector.is_alive():  # an attempt in flight ends within its request timeouts
            connector.join(timeout=2 * settings.tb.request_timeout_s + 5.0)
        placement.close()
        service.close()
    return 2 if state.state == "refused" else 0
