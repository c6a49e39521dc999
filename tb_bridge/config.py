"""Service configuration (pydantic-settings): environment variables and an optional TOML file.

Precedence, highest first: keyword arguments, environment variables (``ATILAX_`` prefix, nested with
``__``, e.g. ``ATILAX_TB__URL``), the TOML file named by ``ATILAX_CONFIG`` (or ``--config``), defaults.
Secrets are :class:`pydantic.SecretStr`: never printed, never logged.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

TransportName = Literal["grpc", "mqtt", "rest", "kafka", "inprocess"]
WritebackName = Literal["rest", "grpc"]


def _check_tls_files(prefix: str, switch: str, enabled: bool, **options: Any) -> None:
    """TLS options only make sense with TLS on; a key needs its certificate."""
    given = [name for name, value in options.items() if value]
    if given and not enabled:
        raise ValueError(f"{prefix}{given[0]} is set but {prefix}{switch} is false: set {prefix}{switch} = true")
    cert = next((n for n in options if n.endswith("_cert_file")), None)
    key = next((n for n in options if n.endswith("_key_file")), None)
    if key in given and cert not in given:
        raise ValueError(f"{prefix}{key} is set without {prefix}{cert}")


class ThingsBoardSettings(BaseModel):
    """Where ThingsBoard is and how we authenticate (REST user; Edge routing key/secret for gRPC)."""

    url: str = Field(default="http://127.0.0.1:8080", description="ThingsBoard base URL (REST)")
    username: str = Field(default="tenant@thingsboard.org", description="tenant administrator used for writeback")
    password: SecretStr = Field(default=SecretStr("tenant"), description="password of `username`")
    edge_host: str = Field(default="127.0.0.1", description="Edge gRPC server host (edges.rpc.host)")
    edge_port: int = Field(default=7070, ge=1, le=65535, description="Edge gRPC port (edges.rpc.port)")
    edge_routing_key: str = Field(default="", description="routing key of our Edge entity")
    edge_secret: SecretStr = Field(default=SecretStr(""), description="secret of our Edge entity")
    edge_tls: bool = Field(default=False, description="use TLS on the gRPC channel")
    edge_tls_ca_file: str | None = Field(default=None, description="PEM CA that signed the Edge server's certificate "
                                         "(None: the system roots)")
    edge_tls_cert_file: str | None = Field(default=None, description="PEM client certificate (chain) for mutual TLS")
    edge_tls_key_file: str | None = Field(default=None, description="PEM private key of `edge_tls_cert_file`")
    edge_tls_server_name: str | None = Field(default=None, description="name checked against the server certificate "
                                             "instead of `edge_host`")
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _check_tls(self) -> "ThingsBoardSettings":
        _check_tls_files("tb.", "edge_tls", self.edge_tls, edge_tls_ca_file=self.edge_tls_ca_file,
                         edge_tls_cert_file=self.edge_tls_cert_file, edge_tls_key_file=self.edge_tls_key_file,
                         edge_tls_server_name=self.edge_tls_server_name)
        if self.edge_tls_cert_file and not self.edge_tls_key_file:  # gRPC takes the key and the chain apart
            raise ValueError("tb.edge_tls_cert_file is set without tb.edge_tls_key_file")
        return self


class MqttSettings(BaseModel):
    """External MQTT broker that our rule chain's MQTT node publishes to."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topic: str = Field(default="atilax/v1/+/+", description="topic filter: atilax/v1/<deviceType>/<deviceName> (our rule chain)")
    shared_group: str | None = Field(
        default=None, description="MQTT 5 shared-subscription group (replicas split the messages); None = plain "
        "subscription. Mosquitto 2.0 does not save shared subscriptions across its own restart: with a group, what "
        "is published between the broker's restart and the replicas' resubscription is lost")
    client_id: str | None = Field(
        default=None, description="MQTT client id: the key of the broker's session for this service; None = "
        "`atilax-<instance_name>-<hostname>`. Must stay the same across restarts and differ between replicas")
    instance_name: str = Field(default="main", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                               description="names this service instance in the default client id (replicas on one "
                               "host need different names)")
    session_expiry_s: int = Field(default=86_400, ge=0, le=4_294_967_295,
                                  description="how long the broker keeps the session (subscription, queued QoS 1 "
                                  "messages) while the service is away; 0 = the session ends with the connection")
    end_session_on_stop: bool = Field(default=False, description="end the session on a clean stop: a shared group's "
                                      "other members take over this replica's share at once, but what is published "
                                      "while no member is subscribed is dropped")
    tls: bool = Field(default=False, description="connect with TLS (MQTT over TLS, usually port 8883)")
    tls_ca_file: str | None = Field(default=None, description="PEM CA that signed the broker's certificate (None: the "
                                    "system roots)")
    tls_cert_file: str | None = Field(default=None, description="PEM client certificate for mutual TLS")
    tls_key_file: str | None = Field(default=None, description="PEM private key of `tls_cert_file`")
    tls_insecure_skip_verify: bool = Field(default=False, description="do not verify the broker's certificate "
                                           "(discouraged: testing only)")

    @model_validator(mode="after")
    def _check_tls(self) -> "MqttSettings":
        _check_tls_files("mqtt.", "tls", self.tls, tls_ca_file=self.tls_ca_file, tls_cert_file=self.tls_cert_file,
                         tls_key_file=self.tls_key_file, tls_insecure_skip_verify=self.tls_insecure_skip_verify or None)
        return self

    def session_client_id(self) -> str:
        """``client_id``, or the stable default ``atilax-<instance_name>-<hostname>``."""
        return self.client_id or f"atilax-{self.instance_name}-{socket.gethostname()}"


class RestIngressSettings(BaseModel):
    """The service's REST ingress (transport ``rest``): what our rule chain's REST node posts to."""

    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0: every interface)")
    port: int = Field(default=8090, ge=0, le=65535, description="listen port (the chain's default URL uses 8090)")
    token: SecretStr = Field(default=SecretStr(""), description="bearer token the REST node sends (`atilax tb setup "
                             "--service-token`)")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="larger request bodies are refused (413)")
    header_timeout_s: float = Field(default=10.0, gt=0, le=300, description="a request head (line and headers) not "
                                    "complete this long after the connection opened is answered 408 and closed")
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600, description="a request body not complete this long "
                                  "after its head is answered 408 and closed")
    keep_alive_timeout_s: float = Field(default=30.0, gt=0, le=3600, description="an idle kept-alive connection is "
                                        "closed after this long")
    max_connections: int = Field(default=512, ge=1, le=100_000, description="connections beyond this many open ones "
                                 "are answered 503 and closed")
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576, description="a larger request head is "
                                  "refused (400)")
    tls_cert_file: str | None = Field(default=None, description="PEM server certificate: serve HTTPS (the key may "
                                      "be in the same file)")
    tls_key_file: str | None = Field(default=None, description="PEM private key of `tls_cert_file`")
    tls_ca_file: str | None = Field(default=None, description="PEM CA: require client certificates it signed "
                                    "(mutual TLS)")

    @model_validator(mode="after")
    def _check_tls(self) -> "RestIngressSettings":
        if (self.tls_key_file or self.tls_ca_file) and not self.tls_cert_file:
            raise ValueError("rest_ingress.tls_key_file / rest_ingress.tls_ca_file need rest_ingress.tls_cert_file")
        return self


class ApiSettings(BaseModel):
    """The HTTP API (:mod:`tb_bridge.api`): served by `atilax run` when `enabled`, alone by `atilax api serve`."""

    enabled: bool = Field(default=False, description="`atilax run` also serves the API (off by default: it needs "
                          "`keys`, and an operator turns on what listens)")
    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0: every interface)")
    port: int = Field(default=8000, ge=0, le=65535, description="listen port")
    keys: list[SecretStr] = Field(default_factory=list, description="API keys: a client sends one as `X-API-Key` or "
                                  "`Authorization: Bearer` on every route but /health and /version")
    allow_no_auth: bool = Field(default=False, description="serve without `keys` (every route open): testing only")
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000, description="requests per client (API key, "
                                       "else address) per minute; beyond it 429 with Retry-After")
    header_timeout_s: float = Field(default=10.0, gt=0, le=300, description="a request head not complete this long "
                                    "after the connection opened is answered 408 and closed")
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600, description="a request body not complete this long "
                                  "after its head is answered 408 and closed")
    keep_alive_timeout_s: float = Field(default=5.0, gt=0, le=3600, description="an idle kept-alive connection is "
                                        "closed after this long")
    max_connections: int = Field(default=256, ge=1, le=100_000, description="connections beyond this many are "
                                 "answered 503 and closed")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=100_000_000, description="larger request bodies are "
                                "refused (413)")
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576, description="a larger request head is "
                                  "refused (400)")
    tls_cert_file: str | None = Field(default=None, description="PEM server certificate: serve HTTPS")
    tls_key_file: str | None = Field(default=None, description="PEM private key of `tls_cert_file`")
    tls_ca_file: str | None = Field(default=None, description="PEM CA: require client certificates it signed")

    @model_validator(mode="after")
    def _check(self) -> "ApiSettings":
        if (self.tls_key_file or self.tls_ca_file) and not self.tls_cert_file:
            raise ValueError("api.tls_key_file / api.tls_ca_file need api.tls_cert_file")
        if any(not key.get_secret_value().strip() for key in self.keys):
            raise ValueError("api.keys holds an empty key")
        return self

    def key_values(self) -> list[str]:
        """The API keys in clear (for the constant-time comparison; never log them)."""
        return [key.get_secret_value() for key in self.keys]


#: Lift types of the telemetry topics (one Kafka topic each) in the order of the rule chain's device profiles.
KAFKA_LIFT_TYPES = ("esp", "srp", "pcp", "gas_lift", "natural_flow")


class KafkaSettings(BaseModel):
    """Kafka ingestion (transport ``kafka``): the rule chain's Kafka node publishes each well's telemetry to the
    topic of its lift type, keyed by the device id, and attribute and alarm events to ``events_topic``. The
    consumer group's partition assignment is the ownership of wells: each replica runs the tiers for the wells of
    its partitions (docs/scale-out.md)."""

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="comma-separated host:port list of the "
                                   "brokers")
    group_id: str = Field(default="atilax", min_length=1, max_length=200, description="consumer group of the service "
                          "replicas (one group per field or deployment)")
    instance_name: str = Field(default="main", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                               description="names this replica (client id, its events consumer group); replicas need "
                               "different names")
    telemetry_topics: dict[Literal["esp", "srp", "pcp", "gas_lift", "natural_flow"], str] = Field(
        default_factory=lambda: {t: f"atilax.telemetry.{t}" for t in KAFKA_LIFT_TYPES},
        description="telemetry topic per lift type (esp, srp, pcp, gas_lift, natural_flow)")
    events_topic: str = Field(default="atilax.events", description="attribute and alarm events of every well; every "
                              "replica reads all of it (each keeps the whole well inventory)")
    partitions: int = Field(default=12, ge=1, le=10_000, description="partitions of the topics the service creates "
                            "when they are missing (the most replicas that share a lift type's wells)")
    create_topics: bool = Field(default=True, description="create missing topics at start (`partitions`, replication "
                                "1 unless `replication_factor`)")
    replication_factor: int = Field(default=1, ge=1, le=16, description="replication of the topics the service creates")
    batch_max_events: int = Field(default=5_000, ge=1, le=1_000_000, description="most events one poll hands to the "
                                  "buffer before the offsets are committed")
    poll_timeout_s: float = Field(default=0.05, gt=0, le=10, description="longest wait of one poll for a batch")
    session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000, description="a replica silent this long "
                                    "leaves the group: its partitions (its wells) move to the others")
    auto_offset_reset: Literal["earliest", "latest"] = Field(default="earliest", description="where a group with no "
                                                             "committed offset starts")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(default="PLAINTEXT")
    sasl_mechanism: str | None = Field(default=None, description="e.g. PLAIN, SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: str | None = Field(default=None, description="PEM CA of the brokers' certificates")
    ssl_cert_file: str | None = Field(default=None, description="PEM client certificate (mutual TLS)")
    ssl_key_file: str | None = Field(default=None, description="PEM private key of `ssl_cert_file`")
    state_secret: SecretStr | None = Field(default=None, description="secret (>= 16 characters) the replicas share "
                                           "to sign the well states they hand over through Redis; None: no "
                                           "handover, a well moved to another replica starts its state afresh")

    @model_validator(mode="after")
    def _check_secret(self) -> "KafkaSettings":
        if self.state_secret is not None and len(self.state_secret.get_secret_value()) < 16:
            raise ValueError("kafka.state_secret must be at least 16 characters")
        return self

    def topic_of_lift_type(self, lift_type: str) -> str:
        """The telemetry topic of a lift type (``esp``, ``srp``, ``pcp``, ``gas_lift``)."""
        return self.telemetry_topics[lift_type]


class DaskSettings(BaseModel):
    """Batch tiers on a Dask cluster: with `scheduler_address` set, the hourly tier and placement runs go to it in
    chunks; without, they run in this process."""

    scheduler_address: str | None = Field(default=None, description="e.g. tcp://dask-scheduler:8786; None: the "
                                          "in-process executor")
    chunk_wells: int = Field(default=64, ge=1, le=100_000, description="wells per Dask task of the hourly tier")
    timeout_s: float = Field(default=600.0, gt=0, le=86_400, description="longest wait for the cluster's results of "
                             "one tier run; then the wells left run in this process")


class SchedulerSettings(BaseModel):
    """Tier schedule (UTC unless `timezone` says otherwise)."""

    timezone: str = "UTC"
    fast_interval_s: int = Field(default=300, ge=10, le=3600, description="the '5-minute' tier period")
    hourly_minute: int = Field(default=5, ge=0, le=59, description="minute past each hour for the hourly tier")
    daily_hour: int = Field(default=6, ge=0, le=23, description="hour of the daily tier (06:00 in the design)")
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    monthly_day: int = Field(default=1, ge=1, le=28)
    enabled_tiers: list[Literal["fast", "hourly", "daily", "weekly", "monthly"]] = Field(
        default_factory=lambda: ["fast", "hourly", "daily", "weekly", "monthly"]
    )


class PlacementSettings(BaseModel):
    """Rationing of field-development planner runs (tb_bridge.placement_jobs); the sizes inside a case
    have their own limits (engines/reservoir/cases/README.md)."""

    cooldown_s: float = Field(default=60.0, ge=0, le=86_400, description="seconds from the end of a field's run "
                              "until its next run may start (a request sooner is refused, saying when to retry)")
    max_run_s: float = Field(default=1_800.0, gt=0, le=86_400, description="wall-clock seconds a run may take; then "
                             "it stops at its next generation and writes its best plan so far (status stopped)")
    max_parallel_runs: int = Field(default=2, ge=1, le=64, description="runs under way at once over all fields")


class LimitSettings(BaseModel):
    """Bounds that keep the service's memory and work bounded."""

    buffer_points: int = Field(default=288, ge=2, le=100_000, description="points kept per well (288 = 24 h at 5 min)")
    buffer_window_s: int = Field(default=86_400, ge=60, description="age bound of the buffer window")
    outbox_max_items: int = Field(default=100_000, ge=100, description="pending writebacks kept in memory")
    max_wells: int = Field(default=100_000, ge=1)
    tier_workers: int = Field(default=2, ge=1, le=64, description="threads used by one tier run")
    min_points_for_stats: int = Field(default=3, ge=1)
    event_max_age_s: float = Field(default=10 * 365.25 * 86_400, gt=0, description="events stamped further in the "
                                   "past are refused (dead letter + opt_error); catches seconds sent as milliseconds")
    event_max_future_s: float = Field(default=3_600.0, ge=0, description="events stamped further ahead of the "
                                      "service clock are refused (one far-future point would empty a well's buffer)")


class MlSettings(BaseModel):
    """Learned models (``engines/ml``): where their files live and how the service trains and scores them. The
    registry of the trained versions is the history store's ``model_registry`` table (`atilax ml list`)."""

    model_dir: str = Field(default="atilax-models", description="directory of the model files (<kind>/<well id>/"
                           "v<version>.npz; relative paths from the working directory)")
    lstm_ae_epochs: int = Field(default=10, ge=1, le=500, description="training epochs of the LSTM autoencoder")
    lstm_ae_history_days: int = Field(default=30, ge=2, le=365, description="days of telemetry one training reads "
                                      "(ThingsBoard history; the buffered day without ThingsBoard)")
    lstm_ae_retrain_days: float = Field(default=30.0, gt=0, le=365, description="the monthly tier retrains a well's "
                                        "model this old")
    lstm_ae_psi_retrain: float = Field(default=0.25, gt=0, le=10, description="... or whose largest input population "
                                       "stability index over the last 7 days reaches this")
    lstm_ae_score_every_ticks: int = Field(default=12, ge=1, le=288, description="the 5-minute tier scores a well "
                                           "every this many ticks, staggered over the wells (12: hourly, 1/12 of the "
                                           "wells per tick; the score's newest hour then covers every sample once)")
    lstm_ae_backend: Literal["auto", "torch", "numpy"] = Field(default="auto", description="inference: PyTorch when "
                                                               "installed (auto), or NumPy with the same weights")
    lstm_ae_auto_train: bool = Field(default=False, description="the monthly tier also trains wells that have no "
                                     "model yet (off: first models come from `atilax ml train-lstm-ae` or POST "
                                     "/train-lstm-ae; the monthly tier retrains those when due)")
    lstm_ae_max_trainings_per_run: int = Field(default=100, ge=0, le=100_000, description="most models one monthly "
                                               "run (or one training request) trains; the rest wait for the next")
    torch_threads: int = Field(default=1, ge=1, le=256, description="PyTorch CPU threads while training (1: the "
                               "fastest on a small shared machine)")
    forecast_retrain_days: float = Field(default=7.0, gt=0, le=365, description="the daily tier retrains a lift type's "
                                         "learned production forecast (opt_ml_forecast) when its model is this old")
    forecast_trees: int = Field(default=300, ge=1, le=2_000, description="boosting rounds of the learned forecast")
    esp_failure_train_wells: int = Field(default=30, ge=5, le=2_000, description="synthetic run-to-failure ESP wells "
                                         "the failure model is trained on when the registry has none")
    esp_failure_train_days: int = Field(default=1095, ge=365, le=20_000, description="days of each of those wells")


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _upper(value: Any) -> Any:
    """Log levels are accepted in any case (``debug``, ``Info``)."""
    return value.upper() if isinstance(value, str) else value


def _sources(settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
             env_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
    """Keyword arguments, then the environment, then the TOML file named by ``ATILAX_CONFIG``."""
    sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
    config_file = os.environ.get("ATILAX_CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"ATILAX_CONFIG points to a missing file: {config_file}")
        sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
    return tuple(sources)


class Settings(BaseSettings):
    """Effective configuration of the Atilax service."""

    model_config = SettingsConfigDict(env_prefix="ATILAX_", env_nested_delimiter="__", extra="forbid")

    transport: TransportName = Field(default="grpc", description="inbound transport from ThingsBoard")
    writeback: WritebackName = Field(default="rest", description="how results go back to ThingsBoard")
    tb: ThingsBoardSettings = Field(default_factory=ThingsBoardSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    rest_ingress: RestIngressSettings = Field(default_factory=RestIngressSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    dask: DaskSettings = Field(default_factory=DaskSettings)
    redis_url: str | None = Field(default=None, description="Redis URL for the buffer; None = in-process buffer")
    redis_buffer_count: int = Field(default=288, ge=2, le=100_000, description="telemetry points kept per well in the "
                                    "buffer (288 = 24 h at 5 min); setting it sets limits.buffer_points")
    dca_history_days: float = Field(default=180.0, gt=0, le=3_650, description="days of flow_rate_bpd history read "
                                    "from ThingsBoard for a decline fit (the buffer when it has fewer than 30 points)")
    dca_tb_limit: int = Field(default=10_000, ge=30, le=1_000_000, description="most history points read per key")
    rl_policy_dir: str | None = Field(default=None, description="directory of the RL advisor's trained policies "
                                      "(`atilax rl train --out`: <well name>.zip or <lift type>.zip with its .json); None: "
                                      "no RL advice, the lift optimizer's recommendation still passes the safety layer")
    sim_projection_points: int = Field(default=144, ge=2, le=2_016, description="points of a what-if projection "
                                       "(144 x 5 min = the next 12 h; at most 2016)")
    sim_projection_interval_ms: int = Field(default=300_000, ge=60_000, le=3_600_000,
                                            description="spacing of the what-if projection points (ms)")
    sim_max_sessions: int = Field(default=10, ge=1, le=1_000, description="simulation sessions open at once")
    sim_session_ttl_s: int = Field(default=7_200, ge=60, le=604_800, description="a simulation session closes this "
                                   "long after its last activity (s)")
    database_url: str = Field(default="sqlite:///atilax.db", description="history store (SQLAlchemy URL)")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    ml: MlSettings = Field(default_factory=MlSettings)
    service_user_id: str | None = Field(
        default=None, description="ThingsBoard user id of the writeback user (loop protection); learned at login when unset"
    )
    allow_shared_user: bool = Field(
        default=False, description="let `atilax run` write back as a user other than the service user `atilax tb "
        "setup` creates (e.g. tenant@thingsboard.org): that user's own attribute edits are then dropped as echoes"
    )
    log_level: LogLevel = Field(default="INFO", description="logging level of every `atilax` command "
                                "(case-insensitive); `-v` / `-vv` override it with INFO / DEBUG")
    lift_gas_available_mscfd: float | None = Field(
        default=None, ge=0, description="lift gas the gas-lift wells share (Mscf/d), split by the hourly equal-slope "
        "allocation; None = unconstrained (each well gets its own optimum)"
    )
    pareto_weights: tuple[float, float, float] | None = Field(
        default=None, description="field-wide preference weights (oil, energy, life) of the hourly Pareto choice "
        "(opt_pareto_choice) for wells without their own pareto_weights attribute; None = equal weights"
    )
    field_asset_id: str | None = Field(
        default=None, description="ThingsBoard id of the field asset (profile Field) that receives the weekly field "
        "summary and the monthly model audit (opt_field_*); None = the history store only (table field_summary)"
    )
    alarm_operators: int = Field(default=1, ge=1, le=1_000, description="operators sharing the field's alarms: the "
                                 "per-operator rates of the weekly ISA-18.2 / EEMUA 191 alarm KPIs")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return _sources(settings_cls, init_settings, env_settings)

    _upper_log_level = field_validator("log_level", mode="before")(_upper)

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.database_url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; make the plain scheme use it.
            object.__setattr__(self, "database_url", "postgresql+psycopg://" + self.database_url[len("postgresql://"):])
        # one effective buffer size: redis_buffer_count when given, else limits.buffer_points
        if "redis_buffer_count" in self.model_fields_set:
            object.__setattr__(self.limits, "buffer_points", self.redis_buffer_count)
        else:
            object.__setattr__(self, "redis_buffer_count", self.limits.buffer_points)
        return self

    def masked(self) -> dict[str, Any]:
        """The effective configuration as a plain dict with every secret masked (safe to print or log)."""
        data = self.model_dump(mode="json")

        def mask(node: Any, model: Any) -> Any:
            if isinstance(model, BaseModel):
                out = {}
                for name, value in node.items():
                    field_value = getattr(model, name)
                    if isinstance(field_value, SecretStr):
                        out[name] = "********" if field_value.get_secret_value() else ""
                    else:
                        out[name] = mask(value, field_value)
                return out
            if isinstance(node, str):  # every URL-valued setting: userinfo password, secret query parameters
                return mask_url_password(node)
            if isinstance(node, list):
                return [mask(item, None) for item in node]
            return node

        return mask(data, self)


MASK = "********"
#: Query parameters whose value is a secret (matched case-insensitively anywhere in the name: ``password``,
#: ``sslpassword``, ``pass``, ``passwd``, ``pwd``, ``secret``, ``token``, ``access_token``, ``key``, ``api_key``,
#: ``sslkey``, ``credentials``, ``authorization``, ``signature``).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|credential|authorization|signature", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def mask_url_password(url: str) -> str:
    """``url`` with its secrets replaced by ``********``: the password of ``scheme://user:password@host``
    and the value of every query parameter named like a secret (``?password=``, ``&token=``, ...).
    Text that is not a URL is returned unchanged."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    fragment = ""
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
        fragment = "#" + fragment
    head, has_query, query = rest.partition("?")
    if "@" in head:  # userinfo: everything before the last '@' (a password may hold an unencoded '/')
        credentials, host = head.rsplit("@", 1)
        if ":" in credentials:
            head = f"{credentials.split(':', 1)[0]}:{MASK}@{host}"
    if has_query:
        params = []
        for param in query.split("&"):
            name, eq, value = param.partition("=")
            params.append(f"{name}={MASK}" if eq and value and _SECRET_PARAM.search(name) else param)
        head += "?" + "&".join(params)
    return f"{scheme}://{head}{fragment}"


def mask_urls_in_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`mask_url_password` (log lines, error messages)."""
    return _URL_IN_TEXT.sub(lambda m: mask_url_password(m.group(0)), text) if "://" in text else text


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and the optional TOML file."""
    return Settings(**overrides)


class _LogLevelOnly(BaseSettings):
    """``log_level`` alone, from the same sources as :class:`Settings` (other keys are ignored)."""

    model_config = SettingsConfigDict(env_prefix="ATILAX_", extra="ignore")

    log_level: LogLevel = Settings.model_fields["log_level"].default

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return _sources(settings_cls, init_settings, env_settings)

    _upper_log_level = field_validator("log_level", mode="before")(_upper)


def load_log_level() -> str:
    """The configured ``log_level`` (environment > TOML file > default) without validating the rest of the
    configuration, so a command that needs no configuration still logs as configured. Raises pydantic's
    ``ValidationError`` for a level that is not DEBUG, INFO, WARNING or ERROR."""
    return _LogLevelOnly().log_level
