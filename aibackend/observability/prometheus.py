"""Prometheus scrape config and alert rules, from the typed sources. Plain data, no I/O.

Facts about the pinned LiteLLM (1.106.2) this relies on, checked against a live proxy:
- ``/metrics`` needs the master key (``require_auth_for_metrics_endpoint`` defaults to true) and
  ``/metrics`` answers 307 to ``/metrics/``: Prometheus scrapes ``/metrics/`` with
  ``authorization.credentials_file`` (a file the operator writes; the key is never written here).
- ``litellm_proxy_total_requests_metric_total`` counts every HTTP request, the scrapes of
  ``/metrics`` included, with ``status_code``; rules exclude the ``/metrics`` route.
- ``litellm_deployment_state`` is NOT used for alerts: the outage value (2) and the healthy value
  (0) are written under different ``api_base`` labels, so a recovered deployment keeps a stale 2.
  ``litellm_deployment_cooled_down_total`` (a counter) says the same thing reliably.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from generator.gateway_sections import ObservabilityConfig
from generator.load import Sources

__all__ = [
    "GATEWAY_JOB",
    "METRICS_TYPES",
    "RULES_FILE",
    "ScrapeTarget",
    "alert_rules",
    "gateway_exprs",
    "prometheus_config",
    "scrape_targets",
]

GATEWAY_JOB = "litellm-gateway"
REDIS_JOB = "redis"
RULES_FILE = "rules/aibackend-alerts.yml"
# Provider types whose server exposes Prometheus metrics at /metrics (llama-server: with --metrics).
METRICS_TYPES = {"vllm": "/metrics", "llama_cpp": "/metrics"}
# Every gateway request except Prometheus's own scrapes.
API_REQUESTS = 'litellm_proxy_total_requests_metric_total{route!~"/metrics.*"}'


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    role: str  # gateway | provider | redis
    scheme: str
    address: str  # host:port
    metrics_path: str
    labels: dict[str, str]
    credentials_file: str | None = None


def _local(host: str) -> str:
    # A server bound to every interface is scraped over loopback.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _provider_target(name: str, provider_type: str, base_url: str, credentials_file: str | None) -> ScrapeTarget:
    url = urlsplit(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    path = url.path.rstrip("/")
    if path.endswith("/v1"):  # /metrics lives beside /v1, not under it
        path = path[: -len("/v1")]
    return ScrapeTarget(
        job=f"provider-{name}",
        role="provider",
        scheme=url.scheme,
        address=f"{url.hostname}:{port}",
        metrics_path=path + METRICS_TYPES[provider_type],
        labels={"provider": name, "provider_type": provider_type},
        credentials_file=credentials_file,
    )


def scrape_targets(sources: Sources, settings: ObservabilityConfig | None = None) -> list[ScrapeTarget]:
    settings = settings or sources.gateway.observability_config()
    monitoring = settings.monitoring
    server = sources.gateway.server
    targets = [
        ScrapeTarget(
            job=GATEWAY_JOB,
            role="gateway",
            scheme="http",
            address=f"{_local(server.host)}:{server.port}",
            metrics_path="/metrics/",
            labels={},
            credentials_file=monitoring.gateway_credentials_file,
        )
    ]
    for name, provider in sources.providers.providers.items():
        if not provider.is_active or provider.type not in METRICS_TYPES:
            continue
        if not monitoring.scrape_providers.get(name, True):
            continue
        credentials = monitoring.provider_credentials_files.get(name)
        targets.append(_provider_target(name, provider.type, provider.base_url, credentials))
    cache = sources.gateway.cache
    if cache.enabled and cache.type == "redis" and monitoring.redis_exporter:
        targets.append(
            ScrapeTarget(
                job=REDIS_JOB, role="redis", scheme="http", address=monitoring.redis_exporter,
                metrics_path="/metrics", labels={"redis": f"{cache.host}:{cache.port}"},
            )
        )
    return targets


def _scrape_job(target: ScrapeTarget) -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": target.job, "scheme": target.scheme, "metrics_path": target.metrics_path}
    if target.credentials_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": target.credentials_file}
    job["static_configs"] = [{"targets": [target.address], "labels": {"role": target.role, **target.labels}}]
    return job


def prometheus_config(sources: Sources, settings: ObservabilityConfig | None = None) -> dict[str, Any]:
    settings = settings or sources.gateway.observability_config()
    monitoring = settings.monitoring
    return {
        "global": {
            "scrape_interval": monitoring.scrape_interval,
            "evaluation_interval": monitoring.evaluation_interval,
            "external_labels": {"aibackend": "gateway"},
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": [_scrape_job(t) for t in scrape_targets(sources, settings)],
    }


def gateway_exprs(window: str) -> dict[str, str]:
    """The gateway expressions the alerts and the dashboards share."""
    errors = API_REQUESTS.replace("}", ',status_code=~"5.."}')
    return {
        "error_ratio": (
            f"sum(rate({errors}[{window}])) / sum(rate({API_REQUESTS}[{window}]))"
        ),
        "ttft_p99": (
            "histogram_quantile(0.99, sum by (le, model_group) "
            f"(rate(litellm_llm_api_time_to_first_token_metric_bucket[{window}])))"
        ),
        "cooldowns": (
            "sum by (model_id, litellm_model_name) "
            f"(increase(litellm_deployment_cooled_down_total[{window}]))"
        ),
        # A counter appears only after its first event: `or vector(0)` keeps the sum defined.
        "fallbacks_per_minute": (
            f"(sum(rate(litellm_deployment_successful_fallbacks_total[{window}])) or vector(0))"
            f" * 60 + (sum(rate(litellm_deployment_failed_fallbacks_total[{window}])) or vector(0)) * 60"
        ),
    }


def _cooldown_alert_expr(window: str) -> str:
    # LiteLLM creates the counter's series at its first cooldown with the value 1, which
    # increase() cannot see (no earlier sample): a series that is new within the window counts too.
    counter = "litellm_deployment_cooled_down_total"
    by = "sum by (model_id, litellm_model_name)"
    return f"{by} (increase({counter}[{window}])) > 0 or {by} ({counter} unless {counter} offset {window})"


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def alert_rules(sources: Sources, settings: ObservabilityConfig | None = None) -> dict[str, Any]:
    settings = settings or sources.gateway.observability_config()
    alerts = settings.alerts
    exprs = gateway_exprs(alerts.window)
    rules = [
        _alert(
            "AibackendProviderDown", 'up{role="provider"} == 0', alerts.provider_down_for, "critical",
            "Provider {{ $labels.provider }} is down",
            "Prometheus cannot scrape {{ $labels.instance }} ({{ $labels.provider_type }}): the server is "
            "not running or not listening. The gateway falls back or fails for its models.",
        ),
        _alert(
            "AibackendGatewayNotReady", 'up{role="gateway"} == 0', alerts.gateway_down_for, "critical",
            "The LiteLLM gateway at {{ $labels.instance }} does not answer",
            "Prometheus cannot scrape the gateway's /metrics/ (down, starting, or the key in the "
            "credentials file is wrong). Check `aibackend gateway status`.",
        ),
        _alert(
            "AibackendErrorRatioHigh", f"({exprs['error_ratio']}) > {alerts.error_ratio}",
            alerts.error_ratio_for, "warning",
            "{{ $value | humanizePercentage }} of gateway requests fail with 5xx",
            f"More than {alerts.error_ratio:.0%} of the requests over {alerts.window} were answered "
            "with a 5xx status.",
        ),
        _alert(
            "AibackendTTFTHigh", f"{exprs['ttft_p99']} > {alerts.ttft_p99_seconds}", alerts.ttft_for, "warning",
            "p99 time to first token of {{ $labels.model_group }} is {{ $value | humanizeDuration }}",
            f"The 99th percentile of the time to first token over {alerts.window} is above "
            f"{alerts.ttft_p99_seconds} s.",
        ),
        _alert(
            "AibackendDeploymentCooldown", _cooldown_alert_expr(alerts.window), alerts.cooldown_for, "warning",
            "Deployment {{ $labels.model_id }} was put in cooldown",
            f"The gateway stopped routing to {{{{ $labels.model_id }}}} after repeated failures within "
            f"the last {alerts.window} (circuit open).",
        ),
        _alert(
            "AibackendFallbacksRising", f"({exprs['fallbacks_per_minute']}) > {alerts.fallbacks_per_minute}",
            alerts.fallbacks_for, "warning",
            "{{ $value | humanize }} fallbacks per minute",
            f"Requests are answered by fallback groups more than {alerts.fallbacks_per_minute} times a "
            "minute: a primary backend is failing or overloaded.",
        ),
    ]
    cache = sources.gateway.cache
    if cache.enabled and cache.type == "redis" and settings.monitoring.redis_exporter:
        rules.append(
            _alert(
                "AibackendRedisDown", 'redis_up == 0 or up{role="redis"} == 0', alerts.redis_down_for, "critical",
                "Redis (the gateway's cache) is down",
                "redis_exporter cannot reach Redis, or the exporter itself is down. The gateway keeps "
                "serving from its in-memory cache; cache hits are no longer shared.",
            )
        )
    return {"groups": [{"name": "aibackend", "rules": rules}]}
