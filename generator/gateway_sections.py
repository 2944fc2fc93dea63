"""Models of gateway.yaml's operations sections: ``alerts``, ``monitoring``, ``deploy``.

Fields of ``generator.models.GatewayFile`` (which imports this module, never the reverse);
``GatewayFile.observability_config()`` bundles them for the observability and deploy generators.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt

from generator.strict_model import StrictModel

__all__ = [
    "AlertSettings",
    "DeploySettings",
    "MonitoringSettings",
    "ObservabilityConfig",
    "ServiceResources",
]

# Prometheus's duration syntax (what `for:` and range selectors accept): 30s, 5m, 1h30m.
Duration = Annotated[str, Field(pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$", description="a Prometheus duration")]
# systemd's memory sizes: bytes with an optional K/M/G/T suffix, a percentage, or infinity.
MemorySize = Annotated[str, Field(pattern=r"^([0-9]+[KMGT]?|[0-9]{1,3}%|infinity)$")]
CpuQuota = Annotated[str, Field(pattern=r"^[0-9]+%$")]


class AlertSettings(StrictModel):
    """Alert thresholds; ``window`` is the range of every rate()/increase()/quantile."""

    window: Duration = "5m"
    provider_down_for: Duration = "1m"
    gateway_down_for: Duration = "1m"
    error_ratio: float = Field(default=0.05, gt=0, le=1)  # share of requests answered 5xx
    error_ratio_for: Duration = "5m"
    ttft_p99_seconds: PositiveFloat = 2.0  # p99 time to first token, per model group
    ttft_for: Duration = "10m"
    cooldown_for: Duration = "0s"  # any deployment put in cooldown within the window
    fallbacks_per_minute: PositiveFloat = 1.0  # fallbacks (successful or not), all groups
    fallbacks_for: Duration = "5m"
    redis_down_for: Duration = "1m"


class MonitoringSettings(StrictModel):
    """How Prometheus scrapes the gateway, the providers and Redis."""

    scrape_interval: Duration = "15s"
    evaluation_interval: Duration = "15s"
    # LiteLLM 1.106.2 guards /metrics with the master key; Prometheus reads it from this file,
    # which the operator writes (the tool never does). A relative path is relative to prometheus.yml.
    gateway_credentials_file: str = "/etc/prometheus/aibackend-gateway.key"
    # provider name -> scrape its /metrics or not; default: yes for types that serve metrics
    # (vllm; llama_cpp, which must then run with --metrics).
    scrape_providers: dict[str, bool] = Field(default_factory=dict)
    # provider name -> a file holding its API key, for servers that guard /metrics with it
    # (llama-server started with --api-key does; vLLM's --api-key guards /v1 only).
    provider_credentials_files: dict[str, str] = Field(default_factory=dict)
    # The Redis exporter (Debian prometheus-redis-exporter) the Redis-down alert reads; null: none.
    redis_exporter: str | None = "127.0.0.1:9121"
    grafana_datasource_url: str = "http://127.0.0.1:9090"


class ServiceResources(StrictModel):
    memory_max: MemorySize = "4G"
    memory_high: MemorySize = "3G"
    cpu_quota: CpuQuota = "200%"
    tasks_max: PositiveInt = 512


def _simulator_resources() -> ServiceResources:
    return ServiceResources(memory_max="512M", memory_high="384M", cpu_quota="50%", tasks_max=64)


def _redis_resources() -> ServiceResources:
    return ServiceResources(memory_max="1G", memory_high="768M", cpu_quota="100%", tasks_max=64)


class DeploySettings(StrictModel):
    """systemd units and Redis persistence (``aibackend deploy``)."""

    scope: Literal["user", "system"] = "user"
    unit_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "aibackend"
    # Holds LITELLM_MASTER_KEY=... (and REDIS_PASSWORD=...); written by the operator, mode 0600.
    environment_file: str = "%h/.config/aibackend/gateway.env"
    # Extra IPAddressAllow= entries (addresses/prefixes; systemd takes no host names) beside
    # localhost and the literal IP addresses of active providers.
    ip_allow: list[str] = Field(default_factory=list)
    gateway: ServiceResources = Field(default_factory=ServiceResources)
    simulators: ServiceResources = Field(default_factory=_simulator_resources)
    redis: ServiceResources = Field(default_factory=_redis_resources)
    redis_data_dir: str = "%S/aibackend/redis"  # %S = the state directory (~/.local/state for users)


class ObservabilityConfig(StrictModel):
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)

