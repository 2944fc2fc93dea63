"""Layer 2 — schema: pydantic v2 models of the three source files.

Everything is ``extra="forbid"``: LiteLLM drops misspelled keys silently, this project
reports them (with the closest known key, see ``generator.load``). Provider models are
per type: each provider type module (``generator/providers/``) may add fields to
``ProviderBase``; the loader picks the class by the provider's ``type``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from generator.gateway_sections import AlertSettings, DeploySettings, MonitoringSettings, ObservabilityConfig
from generator.strict_model import StrictModel

__all__ = [
    "BackupSettings",
    "CacheSettings",
    "Capability",
    "ExactMatch",
    "FallbackChain",
    "GatewayFile",
    "MappingsFile",
    "ModelSpec",
    "ObservabilitySettings",
    "PatternRule",
    "ProviderBase",
    "ProvidersFile",
    "RateLimit",
    "ReliabilitySettings",
    "RoutingRules",
    "ServerSettings",
]

ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvVarName = Annotated[str, Field(pattern=ENV_VAR, description="name of an environment variable")]
NonEmptyStr = Annotated[str, Field(min_length=1)]
GroupName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="name of an exclusive group")]


# --- providers.yaml ---------------------------------------------------------------------------


class ModelSpec(StrictModel):
    """A model a provider serves. The plain string form ``- name`` means ``{name: name}``."""

    name: NonEmptyStr
    size: str | None = None
    quantization: str | None = None
    context_length: PositiveInt | None = None
    capabilities: list[NonEmptyStr] = Field(default_factory=list)
    description: str | None = None


def _model_from_string(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


ModelEntry = Annotated[ModelSpec, BeforeValidator(_model_from_string)]
ProviderStatus = Literal["active", "disabled", "template"]


class ProviderBase(StrictModel):
    """Fields every provider type has; type modules subclass it to add their own."""

    type: str
    base_url: NonEmptyStr
    status: ProviderStatus = "active"
    description: str | None = None
    health_endpoint: str | None = None
    api_key_env: EnvVarName | None = None
    models: list[ModelEntry] = Field(min_length=1)
    # Engines that cannot run at the same time (one GPU): at most one member of a group is active,
    # and `aibackend switch NAME` changes which (docs/operator.md).
    exclusive_group: GroupName | None = None
    # Shell commands that start and stop this provider's engine (`aibackend switch`); run by /bin/sh
    # in the config directory.
    start_command: NonEmptyStr | None = None
    stop_command: NonEmptyStr | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s:]+(:\d{1,5})?(/[^\s]*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL like http://127.0.0.1:11434")
        return value.rstrip("/")

    @field_validator("health_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} must be a path starting with '/', e.g. /health")
        return value

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def model_names(self) -> list[str]:
        return [m.name for m in self.models]


class ProvidersFile(StrictModel):
    providers: dict[NonEmptyStr, ProviderBase] = Field(min_length=1)


# --- model-mappings.yaml -----------------------------------------------------------------------


class ExactMatch(StrictModel):
    provider: NonEmptyStr
    backend_model: NonEmptyStr
    priority: Literal["primary", "secondary", "tertiary", "fallback"] | None = None
    description: str | None = None


class Capability(StrictModel):
    preferred_models: list[NonEmptyStr] = Field(min_length=1)
    routing_strategy: Literal["fallback", "load_balance"] = "fallback"
    description: str | None = None


class PatternRule(StrictModel):
    pattern: NonEmptyStr
    provider: NonEmptyStr
    description: str | None = None


class FallbackChain(StrictModel):
    chain: list[NonEmptyStr] = Field(min_length=1)
    description: str | None = None


class RateLimit(StrictModel):
    rpm: int | None = None
    tpm: int | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> RateLimit:
        if self.rpm is None and self.tpm is None:
            raise ValueError("give rpm, tpm or both")
        return self


class RoutingRules(StrictModel):
    default_provider: NonEmptyStr | None = None
    default_fallback_chain: list[NonEmptyStr] = Field(default_factory=list)
    description: str | None = None


class MappingsFile(StrictModel):
    exact_matches: dict[NonEmptyStr, ExactMatch] = Field(default_factory=dict)
    capabilities: dict[NonEmptyStr, Capability] = Field(default_factory=dict)
    patterns: list[PatternRule] = Field(default_factory=list)
    fallback_chains: dict[NonEmptyStr, FallbackChain] = Field(default_factory=dict)
    rate_limits: dict[NonEmptyStr, RateLimit] = Field(default_factory=dict)
    routing_rules: RoutingRules = Field(default_factory=RoutingRules)


# --- gateway.yaml (optional; defaults are the reference example's) -----------------------------


class ServerSettings(StrictModel):
    host: NonEmptyStr = "127.0.0.1"
    port: int = Field(default=4000, ge=1, le=65535)
    workers: PositiveInt = 1
    # LiteLLM processes behind the HAProxy front; more than one share their state in Redis (the
    # cache section's host/port/password_env name it): cooldowns, rpm/tpm usage, the cache.
    replicas: PositiveInt = 1
    master_key_env: EnvVarName = "LITELLM_MASTER_KEY"

    @property
    def processes(self) -> int:
        """LiteLLM processes serving at once: each replica runs ``workers`` of them."""
        return self.replicas * self.workers


class ReliabilitySettings(StrictModel):
    num_retries: int = Field(default=2, ge=0)
    allowed_fails: int = Field(default=5, ge=0)
    cooldown_time: int | float = 60
    timeout: int | float = 30
    stream_timeout: int | float = 120
    request_timeout: int | float = 60


class CacheSettings(StrictModel):
    enabled: bool = True
    type: Literal["redis", "local"] = "redis"
    host: NonEmptyStr = "127.0.0.1"
    port: int = Field(default=6379, ge=1, le=65535)
    password_env: EnvVarName | None = "REDIS_PASSWORD"
    ttl: int | float = 3600
    namespace: str | None = None


class ObservabilitySettings(StrictModel):
    prometheus: bool = True
    json_logs: bool = True


class BackupSettings(StrictModel):
    keep: PositiveInt = 10


class TypeRateLimit(StrictModel):
    rpm: PositiveInt | None = None
    tpm: PositiveInt | None = None


class GatewayFile(StrictModel):
    server: ServerSettings = Field(default_factory=ServerSettings)
    reliability: ReliabilitySettings = Field(default_factory=ReliabilitySettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    backups: BackupSettings = Field(default_factory=BackupSettings)
    # Per provider type rpm/tpm applied to every deployment of that type without its own limit.
    rate_limit_defaults: dict[NonEmptyStr, TypeRateLimit] = Field(default_factory=dict)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)

    def observability_config(self) -> ObservabilityConfig:
        """The operations sections, together: what the observability and deploy files are made of."""
        return ObservabilityConfig(alerts=self.alerts, monitoring=self.monitoring, deploy=self.deploy)
