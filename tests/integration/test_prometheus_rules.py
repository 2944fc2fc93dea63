"""The generated Prometheus files, checked by Prometheus's own tool: ``promtool check config``,
``check rules``, ``test rules`` (fixtures/observability/alerts.test.yml: every alert fires when it
should and stays silent when it should not), and every dashboard query through the PromQL parser.

No server and no socket: promtool only, a second or two in all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aibackend.observability.dashboards import panel_exprs
from aibackend.observability.files import render_observability, write_files
from generator.gateway_sections import MonitoringSettings, ObservabilityConfig
from generator.load import load_sources

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
ALERT_TESTS = ROOT / "fixtures" / "observability" / "alerts.test.yml"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run scripts/setup.sh (scripts/setup.d/30-prometheus.sh)")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def generated(config_dir: Path, tmp_path: Path) -> Path:
    """The example config's monitoring files, with a credentials file the 'operator' wrote."""
    key_file = tmp_path / "gateway.key"
    key_file.write_text("sk-not-a-real-key-only-for-promtool\n")
    loaded = load_sources(config_dir)
    assert loaded.sources is not None, loaded.diagnostics
    out = tmp_path / "observability"
    settings = ObservabilityConfig(monitoring=MonitoringSettings(gateway_credentials_file=str(key_file)))
    write_files(out, render_observability(loaded.sources, out, settings).files)
    return out


def test_promtool_check_config(generated: Path) -> None:
    result = _promtool("check", "config", "prometheus.yml", cwd=generated)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "Checking prometheus.yml",
        "  SUCCESS: 1 rule files found",
        " SUCCESS: prometheus.yml is valid prometheus config file syntax",
        "",
        "Checking rules/aibackend-alerts.yml",
        "  SUCCESS: 7 rules found",
        "",
    ]


def test_promtool_check_config_fails_without_the_operators_key_file(config_dir: Path, tmp_path: Path) -> None:
    loaded = load_sources(config_dir)
    assert loaded.sources is not None
    out = tmp_path / "observability"
    missing = tmp_path / "nowhere" / "gateway.key"
    settings = ObservabilityConfig(monitoring=MonitoringSettings(gateway_credentials_file=str(missing)))
    write_files(out, render_observability(loaded.sources, out, settings).files)
    result = _promtool("check", "config", "prometheus.yml", cwd=out)
    assert result.returncode == 1
    assert f'credentials or bearer token file "{missing}"' in result.stdout + result.stderr


def test_promtool_check_rules(generated: Path) -> None:
    result = _promtool("check", "rules", "rules/aibackend-alerts.yml", cwd=generated)
    assert (result.returncode, result.stdout) == (0, "Checking rules/aibackend-alerts.yml\n  SUCCESS: 7 rules found\n\n")


def test_promtool_test_rules_every_alert_fires_and_stays_silent(generated: Path) -> None:
    shutil.copy(ALERT_TESTS, generated / ALERT_TESTS.name)
    result = _promtool("test", "rules", ALERT_TESTS.name, cwd=generated)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # Every alert of the generated rules is exercised by the test file.
    rules = yaml.safe_load((generated / "rules" / "aibackend-alerts.yml").read_text())
    alerts = {rule["alert"] for rule in rules["groups"][0]["rules"]}
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert tested == alerts


def test_promtool_test_rules_catches_a_wrong_threshold(generated: Path) -> None:
    # The unit tests are not vacuous: the same file fails against rules with another threshold.
    rules_file = generated / "rules" / "aibackend-alerts.yml"
    rules_file.write_text(rules_file.read_text().replace("> 0.05", "> 0.1"))
    shutil.copy(ALERT_TESTS, generated / ALERT_TESTS.name)
    result = _promtool("test", "rules", ALERT_TESTS.name, cwd=generated)
    assert result.returncode == 1
    assert "alertname: AibackendErrorRatioHigh, time: 8m" in result.stdout + result.stderr


def _dashboard_rules(generated: Path) -> tuple[dict[str, object], int]:
    rules = []
    for path in sorted((generated / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for index, (_, expr) in enumerate(panel_exprs(dashboard)):
            rules.append({"record": f"dashboard:{dashboard['uid'].replace('-', '_')}:{index}", "expr": expr})
    return {"groups": [{"name": "dashboards", "rules": rules}]}, len(rules)


def test_every_dashboard_query_parses(generated: Path) -> None:
    data, count = _dashboard_rules(generated)
    (generated / "dashboards.rules.yml").write_text(yaml.safe_dump(data))
    result = _promtool("check", "rules", "dashboards.rules.yml", cwd=generated)
    assert (result.returncode, result.stdout) == (
        0, f"Checking dashboards.rules.yml\n  SUCCESS: {count} rules found\n\n"
    ), result.stderr
    assert count >= 45


def test_the_dashboard_check_rejects_a_broken_query(generated: Path) -> None:
    data, _ = _dashboard_rules(generated)
    rules = data["groups"][0]["rules"]  # type: ignore[index]
    rules[0]["expr"] = "sum by (le (rate(x[1m]))"
    (generated / "dashboards.rules.yml").write_text(yaml.safe_dump(data))
    result = _promtool("check", "rules", "dashboards.rules.yml", cwd=generated)
    assert result.returncode == 1
    assert "parse error" in result.stdout + result.stderr
