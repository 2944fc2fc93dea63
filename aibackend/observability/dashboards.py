"""Grafana provisioning: one Prometheus datasource and the seed's five dashboards. Plain data.

Queries use ``$__rate_interval`` (Grafana's own variable, replaced before Prometheus sees the
query) and no other template variable, so that each expression, with that one substitution, is a
plain PromQL expression ``promtool`` can parse (see ``panel_exprs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aibackend.observability.prometheus import API_REQUESTS, gateway_exprs
from generator.stats import DEFAULT_PERCENTILES, percentile_key

__all__ = [
    "DASHBOARDS",
    "DATASOURCE_UID",
    "Dashboard",
    "Panel",
    "dashboard_json",
    "dashboards_provisioning",
    "datasource_provisioning",
    "panel_exprs",
]

DATASOURCE_UID = "aibackend-prometheus"
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (legend, expr)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]


def _quantiles(metric: str, by: str, legend: str) -> tuple[tuple[str, str], ...]:
    """One line per percentile of the project's one set (generator.stats.DEFAULT_PERCENTILES)."""
    return tuple(
        (f"{percentile_key(q)} {legend}",
         f"histogram_quantile({q / 100:g}, sum by (le, {by}) (rate({metric}_bucket[{RATE}])))")
        for q in DEFAULT_PERCENTILES
    )


_GW = gateway_exprs(RATE)

DASHBOARDS: tuple[Dashboard, ...] = (
    Dashboard("aibackend-overview", "AI backend: overview", (
        Panel("Requests per second by model group", (
            ("{{requested_model}} {{status_code}}",
             f"sum by (requested_model, status_code) (rate({API_REQUESTS}[{RATE}]))"),
        ), unit="reqps"),
        Panel("Errors per second by status", (
            ("{{exception_status}} {{exception_class}}",
             'sum by (exception_status, exception_class) '
             f'(rate(litellm_proxy_failed_requests_metric_total{{route!~"/metrics.*"}}[{RATE}]))'),
        ), unit="reqps"),
        Panel("5xx error ratio", (("5xx share", _GW["error_ratio"]),), unit="percentunit", kind="stat"),
        Panel("Requests in flight", (("in flight", "sum(litellm_in_flight_requests)"),), kind="stat"),
        Panel("Backends up", (
            ("{{job}}", 'up{role=~"gateway|provider"}'),
        ), kind="stat"),
    )),
    Dashboard("aibackend-tokens", "AI backend: tokens", (
        Panel("Input tokens per second by model group", (
            ("{{requested_model}}", f"sum by (requested_model) (rate(litellm_input_tokens_metric_total[{RATE}]))"),
        )),
        Panel("Output tokens per second by model group", (
            ("{{requested_model}}", f"sum by (requested_model) (rate(litellm_output_tokens_metric_total[{RATE}]))"),
        )),
        Panel("Total tokens in the last hour", (
            ("{{requested_model}}", "sum by (requested_model) (increase(litellm_total_tokens_metric_total[1h]))"),
        ), kind="stat"),
        Panel("vLLM prompt and generation tokens per second", (
            ("prompt {{provider}}", f"sum by (provider) (rate(vllm:prompt_tokens_total[{RATE}]))"),
            ("generation {{provider}}", f"sum by (provider) (rate(vllm:generation_tokens_total[{RATE}]))"),
        )),
        Panel("llama.cpp prompt and predicted tokens per second", (
            ("prompt {{provider}}", f"sum by (provider) (rate(llamacpp:prompt_tokens_total[{RATE}]))"),
            ("predicted {{provider}}", f"sum by (provider) (rate(llamacpp:tokens_predicted_total[{RATE}]))"),
        )),
    )),
    Dashboard("aibackend-performance", "AI backend: performance", (
        Panel("Time to first token (gateway)",
              _quantiles("litellm_llm_api_time_to_first_token_metric", "model_group", "{{model_group}}"), unit="s"),
        Panel("End-to-end request latency (gateway)",
              _quantiles("litellm_request_total_latency_metric", "model_group", "{{model_group}}"), unit="s"),
        Panel("Gateway overhead", _quantiles("litellm_overhead_latency_metric", "model_group", "{{model_group}}"),
              unit="s"),
        Panel("Backend latency per output token", (
            ("{{model_id}}",
             f"sum by (model_id) (rate(litellm_deployment_latency_per_output_token_sum[{RATE}])) / "
             f"sum by (model_id) (rate(litellm_deployment_latency_per_output_token_count[{RATE}]))"),
        ), unit="s"),
        Panel("vLLM time to first token",
              _quantiles("vllm:time_to_first_token_seconds", "provider", "{{provider}}"), unit="s"),
        Panel("vLLM inter-token latency",
              _quantiles("vllm:inter_token_latency_seconds", "provider", "{{provider}}"), unit="s"),
        Panel("vLLM queue time", _quantiles("vllm:request_queue_time_seconds", "provider", "{{provider}}"), unit="s"),
    )),
    Dashboard("aibackend-provider-health", "AI backend: provider health", (
        Panel("Provider up", (("{{provider}}", 'up{role="provider"}'),), kind="stat"),
        Panel("Deployments put in cooldown", (("{{model_id}}", _GW["cooldowns"]),)),
        Panel("Fallbacks per second", (
            ("{{requested_model}} -> {{fallback_model}} ok",
             "sum by (requested_model, fallback_model) "
             f"(rate(litellm_deployment_successful_fallbacks_total[{RATE}]))"),
            ("{{requested_model}} -> {{fallback_model}} failed",
             "sum by (requested_model, fallback_model) "
             f"(rate(litellm_deployment_failed_fallbacks_total[{RATE}]))"),
        )),
        Panel("Deployment failures per second", (
            ("{{model_id}} {{exception_status}}",
             'sum by (model_id, exception_status) '
             f'(rate(litellm_deployment_failure_responses_total{{model_id!=""}}[{RATE}]))'),
        ), unit="reqps"),
        Panel("Deployment success ratio", (
            ("{{model_id}}",
             f"sum by (model_id) (rate(litellm_deployment_success_responses_total[{RATE}])) / "
             f'sum by (model_id) (rate(litellm_deployment_total_requests_total{{model_id!=""}}[{RATE}]))'),
        ), unit="percentunit"),
        Panel("vLLM requests running and waiting", (
            ("running {{provider}}", "sum by (provider) (vllm:num_requests_running)"),
            ("waiting {{provider}}", "sum by (provider) (vllm:num_requests_waiting)"),
        )),
        Panel("vLLM KV-cache usage", (("{{provider}}", "max by (provider) (vllm:kv_cache_usage_perc)"),),
              unit="percentunit"),
        Panel("llama.cpp requests processing and deferred", (
            ("processing {{provider}}", "sum by (provider) (llamacpp:requests_processing)"),
            ("deferred {{provider}}", "sum by (provider) (llamacpp:requests_deferred)"),
        )),
    )),
    Dashboard("aibackend-system", "AI backend: system", (
        Panel("Gateway resident memory", (("{{instance}}", 'process_resident_memory_bytes{role="gateway"}'),),
              unit="bytes"),
        Panel("Gateway CPU", (("{{instance}}", f'rate(process_cpu_seconds_total{{role="gateway"}}[{RATE}])'),),
              unit="percentunit"),
        Panel("Gateway open file descriptors", (("{{instance}}", 'process_open_fds{role="gateway"}'),)),
        Panel("Scrape duration", (("{{job}}", "scrape_duration_seconds"),), unit="s"),
        Panel("Redis up", (("{{redis}}", "redis_up"),), kind="stat"),
        Panel("Redis memory", (("{{redis}}", "redis_memory_used_bytes"),), unit="bytes"),
        Panel("Redis keys", (("{{db}}", "sum by (db) (redis_db_keys)"),)),
        Panel("Redis hit rate", (
            ("hit rate",
             f"sum(rate(redis_keyspace_hits_total[{RATE}])) / "
             f"(sum(rate(redis_keyspace_hits_total[{RATE}])) + sum(rate(redis_keyspace_misses_total[{RATE}])))"),
        ), unit="percentunit"),
        Panel("Redis connected clients", (("{{redis}}", "redis_connected_clients"),)),
    )),
)


def _panel_json(panel: Panel, panel_id: int) -> dict[str, Any]:
    width = 6 if panel.kind == "stat" else 12
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
        "gridPos": {"h": 8, "w": width, "x": 0, "y": 0},  # Grafana packs panels left to right
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                "expr": expr,
                "legendFormat": legend,
            }
            for index, (legend, expr) in enumerate(panel.exprs)
        ],
    }


def _layout(panels: list[dict[str, Any]]) -> None:
    x = y = row_height = 0
    for panel in panels:
        grid = panel["gridPos"]
        if x + grid["w"] > 24:
            x, y = 0, y + row_height
            row_height = 0
        grid["x"], grid["y"] = x, y
        x += grid["w"]
        row_height = max(row_height, grid["h"])


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    panels = [_panel_json(panel, index + 1) for index, panel in enumerate(dashboard.panels)]
    _layout(panels)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["aibackend", "generated"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "panels": panels,
    }


def datasource_provisioning(url: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": "aibackend Prometheus",
            "uid": DATASOURCE_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": url,
            "isDefault": True,
            "editable": False,
        }],
    }


def dashboards_provisioning(dashboards_dir: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "aibackend",
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "options": {"path": dashboards_dir},
        }],
    }


def panel_exprs(dashboard: dict[str, Any], rate_interval: str = "1m") -> list[tuple[str, str]]:
    """``(where, expr)`` for every target of a dashboard's JSON, Grafana's variable replaced."""
    found: list[tuple[str, str]] = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            where = f"{dashboard['uid']} / {panel['title']} / {target['refId']}"
            found.append((where, target["expr"].replace("$__rate_interval", rate_interval)))
    return found
