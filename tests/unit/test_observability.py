"""Unit tests of the monitoring generators: scrape targets, alert thresholds, dashboards, settings,
the metric-name tokenizer and the ``observability generate`` command (promtool and the live
checks are in tests/integration/test_prometheus*.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from aibackend.commands import observability as observability_command
from aibackend.observability.dashboards import DASHBOARDS, DATASOURCE_UID, dashboard_json, panel_exprs
from aibackend.observability.files import HEADER, render_observability
from aibackend.observability.prometheus import alert_rules, prometheus_config
from aibackend.observability.promql import metric_names
from generator.errors import UsageError
from generator.gateway_sections import AlertSettings, MonitoringSettings, ObservabilityConfig
from generator.load import Sources, load_sources

pytestmark = [pytest.mark.unit]

PROVIDERS = """
providers:
  vllm-a:
    type: vllm
    base_url: http://127.0.0.1:8001/v1
    models: [a]
  cpp:
    type: llama_cpp
    base_url: http://10.0.0.5:8080
    models: [c]
  cpp-no-metrics:
    type: llama_cpp
    base_url: http://127.0.0.1:8081
    models: [d]
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434
    models: [o]
  vllm-off:
    type: vllm
    base_url: http://127.0.0.1:8002
    status: disabled
    models: [b]
"""
MAPPINGS = "exact_matches:\n  a: {provider: vllm-a, backend_model: a}\n"
GATEWAY = """
server: {host: 0.0.0.0, port: 4100}
cache: {enabled: true, type: redis, host: 127.0.0.1, port: 6390}
"""


def _sources(make_config: object, gateway: str = GATEWAY) -> Sources:
    config = make_config(providers=PROVIDERS, mappings=MAPPINGS, gateway=gateway)  # type: ignore[operator]
    loaded = load_sources(config)
    assert loaded.sources is not None, loaded.diagnostics
    return loaded.sources


SETTINGS = ObservabilityConfig(
    monitoring=MonitoringSettings(scrape_providers={"cpp-no-metrics": False}, gateway_credentials_file="key.txt",
                                  provider_credentials_files={"cpp": "/etc/prometheus/cpp.key"},
                                  redis_exporter="127.0.0.1:9200", scrape_interval="5s"),
)


def test_prometheus_config_scrapes_gateway_metric_providers_and_redis(make_config: object) -> None:
    assert prometheus_config(_sources(make_config), SETTINGS) == {
        "global": {"scrape_interval": "5s", "evaluation_interval": "15s", "external_labels": {"aibackend": "gateway"}},
        "rule_files": ["rules/aibackend-alerts.yml"],
        "scrape_configs": [
            {"job_name": "litellm-gateway", "scheme": "http", "metrics_path": "/metrics/",
             "authorization": {"type": "Bearer", "credentials_file": "key.txt"},
             "static_configs": [{"targets": ["127.0.0.1:4100"], "labels": {"role": "gateway"}}]},
            {"job_name": "provider-vllm-a", "scheme": "http", "metrics_path": "/metrics",
             "static_configs": [{"targets": ["127.0.0.1:8001"],
                                 "labels": {"role": "provider", "provider": "vllm-a", "provider_type": "vllm"}}]},
            {"job_name": "provider-cpp", "scheme": "http", "metrics_path": "/metrics",
             "authorization": {"type": "Bearer", "credentials_file": "/etc/prometheus/cpp.key"},
             "static_configs": [{"targets": ["10.0.0.5:8080"],
                                 "labels": {"role": "provider", "provider": "cpp", "provider_type": "llama_cpp"}}]},
            {"job_name": "redis", "scheme": "http", "metrics_path": "/metrics",
             "static_configs": [{"targets": ["127.0.0.1:9200"],
                                 "labels": {"role": "redis", "redis": "127.0.0.1:6390"}}]},
        ],
    }


def test_no_redis_job_or_alert_without_a_redis_cache(make_config: object) -> None:
    sources = _sources(make_config, gateway="cache: {enabled: false}\n")
    jobs = [job["job_name"] for job in prometheus_config(sources)["scrape_configs"]]
    assert jobs == ["litellm-gateway", "provider-vllm-a", "provider-cpp", "provider-cpp-no-metrics"]
    alerts = [rule["alert"] for rule in alert_rules(sources)["groups"][0]["rules"]]
    assert alerts == ["AibackendProviderDown", "AibackendGatewayNotReady", "AibackendErrorRatioHigh",
                      "AibackendTTFTHigh", "AibackendDeploymentCooldown", "AibackendFallbacksRising"]


def test_thresholds_come_from_the_alert_settings(make_config: object) -> None:
    settings = ObservabilityConfig(alerts=AlertSettings(
        window="2m", provider_down_for="30s", error_ratio=0.2, error_ratio_for="1m", ttft_p99_seconds=1.5,
        fallbacks_per_minute=10, redis_down_for="45s",
    ))
    rules = {r["alert"]: r for r in alert_rules(_sources(make_config), settings)["groups"][0]["rules"]}
    assert {name: (r["expr"], r["for"]) for name, r in rules.items()} == {
        "AibackendProviderDown": ('up{role="provider"} == 0', "30s"),
        "AibackendGatewayNotReady": ('up{role="gateway"} == 0', "1m"),
        "AibackendErrorRatioHigh": (
            '(sum(rate(litellm_proxy_total_requests_metric_total{route!~"/metrics.*",status_code=~"5.."}[2m])) / '
            'sum(rate(litellm_proxy_total_requests_metric_total{route!~"/metrics.*"}[2m]))) > 0.2', "1m"),
        "AibackendTTFTHigh": (
            "histogram_quantile(0.99, sum by (le, model_group) "
            "(rate(litellm_llm_api_time_to_first_token_metric_bucket[2m]))) > 1.5", "10m"),
        "AibackendDeploymentCooldown": (
            "sum by (model_id, litellm_model_name) (increase(litellm_deployment_cooled_down_total[2m])) > 0 or "
            "sum by (model_id, litellm_model_name) (litellm_deployment_cooled_down_total unless "
            "litellm_deployment_cooled_down_total offset 2m)", "0s"),
        "AibackendFallbacksRising": (
            "((sum(rate(litellm_deployment_successful_fallbacks_total[2m])) or vector(0)) * 60 + "
            "(sum(rate(litellm_deployment_failed_fallbacks_total[2m])) or vector(0)) * 60) > 10.0", "5m"),
        "AibackendRedisDown": ('redis_up == 0 or up{role="redis"} == 0', "45s"),
    }
    assert rules["AibackendErrorRatioHigh"]["annotations"]["description"] == (
        "More than 20% of the requests over 2m were answered with a 5xx status."
    )


def test_settings_default_when_gateway_yaml_has_no_sections(make_config: object) -> None:
    assert _sources(make_config).gateway.observability_config() == ObservabilityConfig()


@pytest.mark.parametrize("bad", ["5 minutes", "5", "-1m", ""])
def test_a_duration_must_be_a_prometheus_duration(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AlertSettings(window=bad)
    assert caught.value.errors()[0]["loc"] == ("window",)
    assert caught.value.errors()[0]["type"] == "string_pattern_mismatch"


def test_unknown_alert_keys_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        AlertSettings.model_validate({"error_ration": 0.1})
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("error_ration",), "extra_forbidden")]


def test_error_ratio_is_a_fraction() -> None:
    with pytest.raises(ValidationError):
        AlertSettings(error_ratio=5)


def test_render_refuses_when_the_gateway_exports_no_metrics(make_config: object, tmp_path: Path) -> None:
    sources = _sources(make_config, gateway="observability: {prometheus: false}\n")
    with pytest.raises(UsageError) as caught:
        render_observability(sources, tmp_path)
    assert str(caught.value) == (
        f"{sources.files['gateway']}: observability.prometheus is false, so the gateway exports no metrics to "
        "scrape\n  hint: set observability.prometheus: true in gateway.yaml, run `aibackend generate`, then this again"
    )


def test_five_dashboards_with_unique_panels() -> None:
    assert [(d.uid, d.title) for d in DASHBOARDS] == [
        ("aibackend-overview", "AI backend: overview"),
        ("aibackend-tokens", "AI backend: tokens"),
        ("aibackend-performance", "AI backend: performance"),
        ("aibackend-provider-health", "AI backend: provider health"),
        ("aibackend-system", "AI backend: system"),
    ]
    for dashboard in DASHBOARDS:
        data = dashboard_json(dashboard)
        ids = [p["id"] for p in data["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        cells = set()
        for panel in data["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24
            covered = {(grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])}
            assert not covered & cells, f"{dashboard.uid}: {panel['title']} overlaps another panel"
            cells |= covered


def test_panel_exprs_replace_only_grafanas_rate_interval() -> None:
    data = dashboard_json(DASHBOARDS[1])
    exprs = dict(panel_exprs(data, rate_interval="2m"))
    assert exprs["aibackend-tokens / Input tokens per second by model group / A"] == (
        "sum by (requested_model) (rate(litellm_input_tokens_metric_total[2m]))"
    )
    assert all("$" not in expr for expr in exprs.values())


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le, model_group) (rate(vllm:time_to_first_token_seconds_bucket{a="b{}"}[5m])) > 2.5e3',
         {"vllm:time_to_first_token_seconds_bucket"}),
        ("(sum(rate(a_total[5m])) or vector(0)) * 60 + x unless on(job) y", {"a_total", "x", "y"}),
        ('redis_up == 0 or up{role="redis"} == 0', {"redis_up", "up"}),
        ("histogram_quantile(0.99, sum without (instance) (rate(h_bucket[1m] offset 5m)))", {"h_bucket"}),
        ("c unless c offset 2m", {"c"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="aibackend observability")
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    observability_command.add_arguments(parser)
    return observability_command.run(parser.parse_args(argv))


def test_generate_command_writes_every_file(config_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "obs"
    assert _run(["generate", "--config-dir", str(config_dir), "--output-dir", str(out)]) == 0
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "grafana/dashboards/overview.json", "grafana/dashboards/performance.json",
        "grafana/dashboards/provider-health.json", "grafana/dashboards/system.json",
        "grafana/dashboards/tokens.json", "grafana/provisioning/dashboards/aibackend.yml",
        "grafana/provisioning/datasources/aibackend.yml", "prometheus.yml", "rules/aibackend-alerts.yml",
    ]
    assert capsys.readouterr().out.splitlines()[0] == f"wrote 9 files to {out}:"
    provider = yaml.safe_load((out / "grafana/provisioning/dashboards/aibackend.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == str((out / "grafana" / "dashboards").resolve())
    assert (out / "prometheus.yml").read_text().startswith(HEADER)
    assert json.loads((out / "grafana/dashboards/system.json").read_text())["uid"] == "aibackend-system"


def test_generate_command_defaults_to_the_config_dir(config_dir: Path) -> None:
    assert _run(["generate", "--config-dir", str(config_dir)]) == 0
    assert (config_dir / "observability" / "prometheus.yml").is_file()


def test_generate_is_deterministic(config_dir: Path, tmp_path: Path) -> None:
    loaded = load_sources(config_dir)
    assert loaded.sources is not None
    first = render_observability(loaded.sources, tmp_path).files
    assert render_observability(loaded.sources, tmp_path).files == first


def test_observability_config_bundles_the_gateway_files_sections() -> None:
    # What the lead's GatewayFile fields will give: the typed sections, taken as they are.
    from pydantic import Field

    from generator.models import GatewayFile

    class Extended(GatewayFile):
        alerts: AlertSettings = Field(default_factory=AlertSettings)
        monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    gateway = Extended.model_validate({"alerts": {"error_ratio": 0.3}, "monitoring": {"scrape_interval": "2s"}})
    settings = gateway.observability_config()
    assert (settings.alerts.error_ratio, settings.monitoring.scrape_interval) == (0.3, "2s")
    assert settings.deploy == ObservabilityConfig().deploy


def test_cli_reports_an_invalid_config_with_its_diagnostics(
    make_config: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aibackend import cli

    monkeypatch.setitem(cli.COMMANDS, "observability", "aibackend.commands.observability")
    broken = make_config(gateway="server: {port: 99999}\n")  # type: ignore[operator]
    assert cli.main(["observability", "generate", "--config-dir", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "aibackend observability: error: configuration is invalid: 1 error(s)"
    assert "server.port" in err
    assert not (broken / "observability").exists()
