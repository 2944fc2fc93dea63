"""A real Prometheus, on the generated config and rules, scraping the real gateway, simulators and a
real Redis through the real redis_exporter; everything checked through Prometheus's HTTP API.

Providers: ``vllm-a`` (healthy vLLM simulator), ``cpp`` (llama.cpp simulator), ``vllm-bad`` (a vLLM
simulator answering 500 to everything: fallbacks, cooldowns, 5xx), ``vllm-spare`` (stopped in the
last test: its ``up`` goes to 0 and the provider-down alert fires). Scrape and rule evaluation every
second; the alerts' ``for:`` durations are shortened to seconds so that they can fire in a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aibackend.observability.dashboards import panel_exprs
from aibackend.observability.files import render_observability, write_files
from aibackend.observability.prometheus import gateway_exprs
from aibackend.observability.promql import metric_names
from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from generator.gateway_sections import AlertSettings, MonitoringSettings, ObservabilityConfig
from generator.load import load_sources
from generator.net import free_port, wait_for_http
from tests.plugins.gateway import RunningGateway, write_sources
from tests.plugins.redis_server import RedisServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.requires_redis,
    pytest.mark.xdist_group("prometheus"),
]

PASSWORD = "prometheus-test-redis-7d2e"
FAST = {"ttft_ms": 40, "tpot_ms": 2, "output_tokens": 4, "slots": 64}
SETTINGS_ALERTS = AlertSettings(
    window="30s", provider_down_for="3s", gateway_down_for="3s", cooldown_for="0s", redis_down_for="3s",
    error_ratio_for="0s", error_ratio=0.05,
)


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: run scripts/setup.sh (scripts/setup.d/30-prometheus.sh installs it)")
    return path


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} gave {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.load(response)["data"]

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.5)
        pytest.fail(f"timed out after {timeout} s waiting for {what}; last: {last!r}")

    def firing(self, alertname: str) -> list[dict[str, str]]:
        return [a["labels"] for a in self.get("/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    specs = {
        "vllm-a": SimulatorConfig(type="vllm", models=["fast-m"], **FAST),
        "cpp": SimulatorConfig(type="llama_cpp", models=["cpp-m"], **FAST),
        "vllm-bad": SimulatorConfig(type="vllm", models=["flaky-m", "doomed-m", "doomed2-m"], error_rate=1.0,
                                    error_status=500, **FAST),
        "vllm-spare": SimulatorConfig(type="vllm", models=["spare-m"], **FAST),
    }
    started: dict[str, RunningSimulator] = {}
    try:
        for name, config in specs.items():
            started[name] = start_simulator(config)
        yield started
    finally:
        for sim in started.values():
            sim.stop()


@pytest.fixture(scope="module")
def redis_server(module_redis_factory: Callable[..., RedisServer]) -> RedisServer:
    return module_redis_factory(password=PASSWORD)


@pytest.fixture(scope="module")
def redis_exporter(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _need("prometheus-redis-exporter")
    port = free_port()
    log = tmp_path_factory.mktemp("exporter") / "exporter.log"
    env = {**os.environ, "REDIS_PASSWORD": PASSWORD}  # the exporter's own variable: no secret on argv
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [binary, "--redis.addr", f"redis://{redis_server.host}:{redis_server.port}",
             "--web.listen-address", f"127.0.0.1:{port}"],
            stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        if not wait_for_http(f"http://127.0.0.1:{port}/metrics", timeout=15):
            pytest.fail(f"redis_exporter did not start:\n{log.read_text()}")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator], redis_server: RedisServer,
    module_gateway_factory: Callable[..., RunningGateway], tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    providers = {
        name: {"type": sim.config.type, "base_url": sim.url, "status": "active", "models": list(sim.config.models)}
        for name, sim in sims.items()
    }
    exact = {
        "fast": ("vllm-a", "fast-m"), "cpp": ("cpp", "cpp-m"), "flaky": ("vllm-bad", "flaky-m"),
        "doomed": ("vllm-bad", "doomed-m"), "doomed2": ("vllm-bad", "doomed2-m"), "spare": ("vllm-spare", "spare-m"),
    }
    config_dir = write_sources(
        tmp_path_factory.mktemp("prometheus") / "config",
        providers=providers,
        mappings={
            "exact_matches": {group: {"provider": p, "backend_model": m} for group, (p, m) in exact.items()},
            "fallback_chains": {"flaky": {"chain": ["fast"]}, "doomed": {"chain": ["doomed2"]}},
        },
        gateway={
            "observability": {"prometheus": True, "json_logs": False},
            "reliability": {"num_retries": 0, "allowed_fails": 1, "cooldown_time": 60},
            "cache": {"enabled": True, "type": "redis", "host": redis_server.host, "port": redis_server.port,
                      "password_env": "PROM_TEST_REDIS_PASSWORD", "ttl": 60},
        },
    )
    return module_gateway_factory(config_dir, env={"PROM_TEST_REDIS_PASSWORD": PASSWORD})


@pytest.fixture(scope="module")
def observability_dir(gateway: RunningGateway, redis_exporter: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The operator's part: the key file Prometheus reads (mode 0600); the generator never writes it.
    secrets_dir = tmp_path_factory.mktemp("secrets")
    key_file = secrets_dir / "gateway.key"
    key_file.write_text(gateway.key)
    key_file.chmod(0o600)
    loaded = load_sources(gateway.config_dir)
    assert loaded.sources is not None, loaded.diagnostics
    out = tmp_path_factory.mktemp("observability")
    settings = ObservabilityConfig(
        alerts=SETTINGS_ALERTS,
        monitoring=MonitoringSettings(scrape_interval="1s", evaluation_interval="1s",
                                      gateway_credentials_file=str(key_file), redis_exporter=redis_exporter),
    )
    write_files(out, render_observability(loaded.sources, out, settings).files)
    return out


@pytest.fixture(scope="module")
def prometheus(observability_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = _need("prometheus")
    port = free_port()
    data = tmp_path_factory.mktemp("tsdb")
    log = data / "prometheus.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [binary, f"--config.file={observability_dir / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", process, data)
    try:
        if not wait_for_http(f"{server.url}/-/ready", timeout=30):
            pytest.fail(f"Prometheus did not become ready:\n{log.read_text()}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _all_targets_up(prom: Prometheus) -> dict[str, str]:
    targets = prom.get("/api/v1/targets")["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    return health if health and all(h == "up" for h in health.values()) else {}


def _counter(prom: Prometheus, expr: str) -> float:
    return prom.value(f"sum({expr})") or 0.0


def _wait_increase(prom: Prometheus, expr: str, before: float, by: float) -> float:
    return float(prom.wait(f"{expr} to grow by {by} from {before}",
                           lambda: (v := _counter(prom, expr)) >= before + by and v))


def test_every_target_is_scraped(prometheus: Prometheus) -> None:
    health = prometheus.wait("every target up", lambda: _all_targets_up(prometheus))
    assert health == {"litellm-gateway": "up", "provider-vllm-a": "up", "provider-cpp": "up",
                      "provider-vllm-bad": "up", "provider-vllm-spare": "up", "redis": "up"}
    assert prometheus.value("redis_up") == 1.0


def test_request_counts_move(prometheus: Prometheus, gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    prometheus.wait("every target up", lambda: _all_targets_up(prometheus))
    gw_expr = 'litellm_proxy_total_requests_metric_total{requested_model="fast",status_code="200"}'
    vllm_expr = 'vllm:request_success_total{provider="vllm-a"}'
    cpp_expr = 'llamacpp:tokens_predicted_total{provider="cpp"}'
    before = {e: _counter(prometheus, e) for e in (gw_expr, vllm_expr, cpp_expr)}
    for i in range(5):
        assert gateway.chat("fast", content=f"count me {i}").status_code == 200
    assert gateway.chat("cpp", content="and me").status_code == 200
    assert _wait_increase(prometheus, gw_expr, before[gw_expr], 5) == before[gw_expr] + 5
    assert _wait_increase(prometheus, vllm_expr, before[vllm_expr], 5) == before[vllm_expr] + 5
    # llama-server counts tokens, not requests: the simulator generated 4 for the one request.
    assert _wait_increase(prometheus, cpp_expr, before[cpp_expr], 4) == before[cpp_expr] + 4


def test_ttft_histogram_fills(prometheus: Prometheus, gateway: RunningGateway) -> None:
    count = 'litellm_llm_api_time_to_first_token_metric_count{model_group="fast"}'
    total = 'litellm_llm_api_time_to_first_token_metric_sum{model_group="fast"}'
    vllm_count = 'vllm:time_to_first_token_seconds_count{provider="vllm-a"}'
    before_count, before_sum = _counter(prometheus, count), _counter(prometheus, total)
    before_vllm = _counter(prometheus, vllm_count)
    for i in range(4):
        response = gateway.chat("fast", content=f"stream {i}", stream=True)
        assert response.status_code == 200
        assert "data: [DONE]" in response.text
    assert _wait_increase(prometheus, count, before_count, 4) == before_count + 4
    assert _wait_increase(prometheus, vllm_count, before_vllm, 4) == before_vllm + 4
    mean_ttft = (_counter(prometheus, total) - before_sum) / 4
    # LiteLLM times the first chunk, and the vLLM simulator sends its role-only chunk before the
    # prefill: the gateway's TTFT here is about the round trip, not the 40 ms prefill.
    assert 0 < mean_ttft < 5.0, mean_ttft
    # vLLM's own histogram times the first generated token: at least the simulated 40 ms.
    vllm_sum = 'vllm:time_to_first_token_seconds_sum{provider="vllm-a"}'
    vllm_mean = _counter(prometheus, vllm_sum) / _counter(prometheus, vllm_count)
    assert 0.04 <= vllm_mean < 5.0, vllm_mean
    p50 = prometheus.value(
        'histogram_quantile(0.5, sum by (le) (litellm_llm_api_time_to_first_token_metric_bucket{model_group="fast"}))'
    )
    assert p50 is not None and 0 < p50 < 5.0, p50


def test_fallbacks_cooldown_and_errors_reach_prometheus(
    prometheus: Prometheus, gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    fallbacks = 'litellm_deployment_successful_fallbacks_total{requested_model="flaky",fallback_model="fast"}'
    before = _counter(prometheus, fallbacks)
    answers = [gateway.chat("flaky", content=f"fall back {i}") for i in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert {RunningGateway.model_id(r) for r in answers} == {"fast@vllm-a/fast-m"}
    assert _wait_increase(prometheus, fallbacks, before, 3) >= before + 3
    cooled = prometheus.wait(
        "the flaky deployment's cooldown alert",
        lambda: [a for a in prometheus.firing("AibackendDeploymentCooldown") if a.get("model_id") == "flaky@vllm-bad/flaky-m"],
    )
    assert cooled[0]["severity"] == "warning"
    # A group whose fallback fails too: the client gets a 5xx, the failed fallback is counted.
    # LiteLLM creates a counter's series at its first event, and rate() needs two samples: the
    # second error is sent once Prometheus holds the series (allowed_fails 1: the third would be a
    # 429 "no deployment available").
    server_errors = 'litellm_proxy_total_requests_metric_total{requested_model="doomed",status_code=~"5.."}'
    assert gateway.chat("doomed", content="no way 1").status_code == 500
    prometheus.wait("the first 5xx scraped", lambda: _counter(prometheus, server_errors) >= 1)
    assert gateway.chat("doomed", content="no way 2").status_code == 500
    assert _wait_increase(prometheus, server_errors, 1, 1) == 2
    failed_fallbacks = 'litellm_deployment_failed_fallbacks_total{requested_model="doomed"}'
    assert _wait_increase(prometheus, failed_fallbacks, 0, 2) == 2
    ratio = prometheus.wait("a positive 5xx ratio",
                            lambda: (value := prometheus.value(gateway_exprs("1m")["error_ratio"])) and value)
    assert 0 < ratio < 1, ratio
    prometheus.wait("the error-ratio alert", lambda: prometheus.firing("AibackendErrorRatioHigh"))


def test_every_name_in_the_dashboards_and_rules_is_exported(prometheus: Prometheus, observability_dir: Path) -> None:
    exported = set(prometheus.get("/api/v1/label/__name__/values"))
    used: dict[str, set[str]] = {}
    for path in sorted((observability_dir / "grafana" / "dashboards").glob("*.json")):
        for where, expr in panel_exprs(json.loads(path.read_text())):
            # Prometheus's own parser and evaluator on the live data: no error.
            prometheus.query(expr)
            for name in metric_names(expr):
                used.setdefault(name, set()).add(where)
    import yaml

    rules = yaml.safe_load((observability_dir / "rules" / "aibackend-alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        for name in metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"alert {rule['alert']}")
    missing = {name: sorted(places) for name, places in used.items() if name not in exported}
    assert missing == {}, f"metric names no live target exports: {missing}"
    assert len(used) >= 30  # the dashboards really cover gateway, vLLM, llama.cpp and Redis metrics


def test_provider_up_goes_to_zero_when_its_simulator_stops(
    prometheus: Prometheus, sims: dict[str, RunningSimulator]
) -> None:
    assert prometheus.value('up{provider="vllm-spare"}') == 1.0
    sims["vllm-spare"].stop()
    prometheus.wait("up of vllm-spare to be 0", lambda: prometheus.value('up{provider="vllm-spare"}') == 0.0)
    alert = prometheus.wait("the provider-down alert", lambda: prometheus.firing("AibackendProviderDown"))
    assert alert == [{"alertname": "AibackendProviderDown", "severity": "critical", "job": "provider-vllm-spare",
                      "instance": sims["vllm-spare"].url.removeprefix("http://"), "role": "provider",
                      "provider": "vllm-spare", "provider_type": "vllm"}]
    assert prometheus.value('up{provider="vllm-a"}') == 1.0


def test_redis_down_alert_fires_when_redis_stops(prometheus: Prometheus, redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        prometheus.wait("redis_up to be 0", lambda: prometheus.value("redis_up") == 0.0)
        alert = prometheus.wait("the Redis-down alert", lambda: prometheus.firing("AibackendRedisDown"))
        assert [a["alertname"] for a in alert] == ["AibackendRedisDown"]
    finally:
        redis_server.start()
