"""``aibackend ci --live`` against servers started independently of the simulators' code: the real
llama-server (built by the set-up) serving the tiny model, listed in providers.yaml.

live-contract passes when the providers comply and fails naming the provider that does not (a
llama-server declared as vLLM breaks vLLM's contract; a provider on a closed port fails with the
connection error while the others are still checked). live-load passes when perf-gate.yaml's
thresholds are met and fails naming the target, the figure, the limit and perf-gate.yaml:LINE.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from aibackend.commands import ci
from contracts.engines.llama_servers import EngineServer
from generator import store
from generator.net import free_port
from generator.pipeline import build
from tests.plugins.engines import EngineFactory

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def llama_server(module_engine_factory: EngineFactory) -> EngineServer:
    return module_engine_factory("llama_cpp")


@pytest.fixture(autouse=True)
def _config_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run from the config repository (no .yamllint there: the relaxed rules), the key in the environment.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-ci-live-" + "k" * 32)


def _config(tmp_path: Path, providers: dict[str, dict[str, object]], perf_gate: str | None = None) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "providers.yaml").write_text(yaml.safe_dump({"providers": providers}), encoding="utf-8")
    (config / "model-mappings.yaml").write_text('exact_matches:\n  "chat":\n    provider: native\n'
                                                "    backend_model: tiny-llama\n", encoding="utf-8")
    (config / "gateway.yaml").write_text(f"server: {{host: 127.0.0.1, port: {free_port()}}}\ncache: {{enabled: false}}\n",
                                         encoding="utf-8")
    if perf_gate is not None:
        (config / "perf-gate.yaml").write_text(textwrap.dedent(perf_gate), encoding="utf-8")
    result = build(config, commit="none")
    assert result.text is not None, result.diagnostics
    store.install(config / "litellm-unified.yaml", result.text)
    return config


def _native(server: EngineServer, name: str = "native", kind: str = "llama_cpp") -> dict[str, dict[str, object]]:
    return {name: {"type": kind, "base_url": server.base_url.removesuffix("/v1"), "status": "active",
                   "models": ["tiny-llama"]}}


def _run_live(config: Path, report_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", type=Path)
    ci.add_arguments(parser)
    args = parser.parse_args(["--config-dir", str(config), "--skip-tests", "--skip-simulated", "--live",
                              "--report-dir", str(report_dir), "--json"])
    code = ci.run(args)
    summary = json.loads(capsys.readouterr().out)
    return code, {s["name"]: s for s in summary["stages"]}


def test_live_stages_pass_when_the_providers_comply_and_meet_the_gate(
        llama_server: EngineServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, _native(llama_server), perf_gate="""
        load: {duration_s: 3, users: 1, seed: 7}
        native:                      # the provider, loaded directly
          failed_ratio: {max: 0}
          completed: {min: 1}
        chat:                        # a model group, loaded through the gateway
          failed_ratio: {max: 0}
          p99_ttft_ms: {max: 60000}
    """)
    code, stages = _run_live(config, tmp_path / "reports", capsys)
    assert code == 0, json.dumps(stages, indent=1)
    contract = stages["live-contract"]["checked"]["providers"]
    assert [(p["provider"], p["ok"]) for p in contract] == [("native", True)]
    assert contract[0]["checks"] > 5 and contract[0]["model"] == "tiny-llama"
    targets = {t["target"]: t for t in stages["live-load"]["checked"]["targets"]}
    assert set(targets) == {"native", "chat"}
    assert targets["native"]["via"].startswith("direct http://127.0.0.1:")
    assert targets["chat"]["via"].startswith("gateway http://127.0.0.1:")
    for target in targets.values():
        report = json.loads(Path(target["report"]).read_text())
        assert report["completed"] >= 1 and report["failed"] == 0
        assert Path(target["report"]).parent == tmp_path / "reports" / "live-load"


def test_live_contract_names_the_provider_that_breaks_its_contract_and_the_one_that_does_not_answer(
        llama_server: EngineServer, module_engine_factory: EngineFactory, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    other = module_engine_factory("llama_cpp")  # a second llama-server, declared as vLLM below
    closed = free_port()
    gone = {"gone": {"type": "vllm", "base_url": f"http://127.0.0.1:{closed}", "status": "active",
                     "models": ["tiny-llama"]}}
    config = _config(tmp_path, {**_native(llama_server), **_native(other, "misdeclared", "vllm"), **gone})
    code, stages = _run_live(config, tmp_path / "reports", capsys)
    assert code == 1
    assert stages["live-contract"]["status"] == "failed"
    assert stages["live-load"]["status"] == "skipped"  # no perf-gate.yaml
    results = {p["provider"]: p for p in stages["live-contract"]["checked"]["providers"]}
    assert results["native"]["ok"] is True  # still checked, and compliant
    assert results["misdeclared"]["ok"] is False and "violation(s)" in results["misdeclared"]["problem"]
    assert results["gone"]["ok"] is False
    assert results["gone"]["problem"] == f"cannot connect to http://127.0.0.1:{closed}: Connection refused"
    tail = stages["live-contract"]["output_tail"]
    assert "FAIL misdeclared" in tail and "FAIL gone" in tail and "ok   native" in tail


def test_live_load_fails_naming_the_target_figure_limit_and_line(
        llama_server: EngineServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, _native(llama_server), perf_gate="""
        load: {duration_s: 2, users: 1}
        native:
          failed_ratio: {max: 0}
          median_ttft_ms: {max: 0.001}
    """)
    code, stages = _run_live(config, tmp_path / "reports", capsys)
    assert code == 1
    assert stages["live-contract"]["status"] == "passed" and stages["live-load"]["status"] == "failed"
    (target,) = stages["live-load"]["checked"]["targets"]
    assert target["target"] == "native" and target["ok"] is False
    gate = config / "perf-gate.yaml"
    # The figure, the measured value, the limit and where the limit is written (line 1 is blank).
    assert target["problem"].startswith("median_ttft_ms: measured ")
    assert target["problem"].endswith(f" is not <= 0.001 ({gate}:5)")
    assert f"FAIL native (direct {target['via'].split()[1]}): median_ttft_ms" in stages["live-load"]["output_tail"]
