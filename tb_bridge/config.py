"""Service configuration (pydantic-settings): environment variables and an optional TOML file.

Precedence, highest first: keyword arguments, environment variables (``ATILAX_`` prefix, nested with
``__``, e.g. ``ATILAX_TB__URL``), the TOML file named by ``ATILAX_CONFIG`` (or ``--config``), defaults.
Secrets are :class:`pydantic.SecretStr`: never printed, never logged.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

TransportName = Literal["grpc", "mqtt", "rest", "inprocess"]
WritebackName = Literal["rest", "grpc"]


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
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)


class MqttSettings(BaseModel):
    """External MQTT broker that our rule chain's MQTT node publishes to."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topic: str = Field(default="atilax/v1/+/+", description="topic filter: atilax/v1/<deviceType>/<deviceName> (our rule chain)")
    shared_group: str | None = Field(default="atilax", description="MQTT 5 shared-subscription group; None = plain")
    client_id: str | None = None
    tls: bool = False


class RestIngressSettings(BaseModel):
    """The service's REST ingress (transport ``rest``): what our rule chain's REST node posts to."""

    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0: every interface)")
    port: int = Field(default=8090, ge=0, le=65535, description="listen port (the chain's default URL uses 8090)")
    token: SecretStr = Field(default=SecretStr(""), description="bearer token the REST node sends (`atilax tb setup "
                             "--service-token`)")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="larger request bodies are refused (413)")


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


class LimitSettings(BaseModel):
    """Bounds that keep the service's memory and work bounded."""

    buffer_points: int = Field(default=288, ge=2, le=100_000, description="points kept per well (288 = 24 h at 5 min)")
    buffer_window_s: int = Field(default=86_400, ge=60, description="age bound of the buffer window")
    outbox_max_items: int = Field(default=100_000, ge=100, description="pending writebacks kept in memory")
    max_wells: int = Field(default=100_000, ge=1)
    tier_workers: int = Field(default=2, ge=1, le=64, description="threads used by one tier run")
    min_points_for_stats: int = Field(default=3, ge=1)


class Settings(BaseSettings):
    """Effective configuration of the Atilax service."""

    model_config = SettingsConfigDict(env_prefix="ATILAX_", env_nested_delimiter="__", extra="forbid")

    transport: TransportName = Field(default="grpc", description="inbound transport from ThingsBoard")
    writeback: WritebackName = Field(default="rest", description="how results go back to ThingsBoard")
    tb: ThingsBoardSettings = Field(default_factory=ThingsBoardSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    rest_ingress: RestIngressSettings = Field(default_factory=RestIngressSettings)
    redis_url: str | None = Field(default=None, description="Redis URL for the buffer; None = in-process buffer")
    database_url: str = Field(default="sqlite:///atilax.db", description="history store (SQLAlchemy URL)")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    service_user_id: str | None = Field(
        default=None, description="ThingsBoard user id of the writeback user (loop protection); learned at login when unset"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    lift_gas_available_mscfd: float | None = Field(
        default=None, ge=0, description="lift gas the gas-lift wells share (Mscf/d), split by the hourly equal-slope "
        "allocation; None = unconstrained (each well gets its own optimum)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("ATILAX_CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"ATILAX_CONFIG points to a missing file: {config_file}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.database_url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; make the plain scheme use it.
            object.__setattr__(self, "database_url", "postgresql+psycopg://" + self.database_url[len("postgresql://"):])
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
            return node

        masked = mask(data, self)
        for key in ("redis_url", "database_url"):
            if masked.get(key):
                masked[key] = mask_url_password(masked[key])
        return masked


def mask_url_password(url: str) -> str:
    """Hide the password in ``scheme://user:password@host`` URLs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    if ":" in credentials:
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:********@{host}"
    return url


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and the optional TOML file."""
    return Settings(**overrides)
