"""The ``routes`` stage of ``aibackend ci`` for real: simulators, the generated config, the real
LiteLLM proxy behind its front. It passes on the example config, and it FAILS when the gateway
sends names elsewhere than ``validate`` says (two deployments' ``api_base`` swapped by hand in the
generated file), naming both names with the backend expected and the one that answered."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from aibackend.commands import ci
from aibackend.ops.routecheck import RoutesReport, check_routes
from generator.net import port_is_open

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

SWAPPED = ("llama-cpp-native", "llama-cpp-default")  # llama_cpp_native's and llama_cpp_python's model groups


def _swap_api_bases(path: Path) -> None:
    """What a hand edit of the generated file could do: two deployments trade their api_base."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = {e["model_name"]: e for e in data["model_list"] if e["model_name"] in SWAPPED}
    first, second = (entries[name]["litellm_params"] for name in SWAPPED)
    first["api_base"], second["api_base"] = second["api_base"], first["api_base"]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _everything_stopped(report: RoutesReport) -> None:
    urls = [report.gateway["url"], *report.gateway["simulators"].values()]
    still_open = [u for u in urls if port_is_open("127.0.0.1", urlsplit(u).port or 0)]
    assert not still_open, f"left running: {still_open}"


def test_routes_fail_when_the_gateway_sends_two_names_to_each_others_backend(config_dir: Path) -> None:
    lines: list[str] = []
    report = check_routes(config_dir, lines.append, edit_generated=_swap_api_bases, rate_limits=False)
    assert not report.ok
    failing = {c.name: c for c in report.names if not c.ok}
    # Exactly the two swapped names fail; every other name still reaches its own backend.
    assert set(failing) == set(SWAPPED), [c.describe() for c in report.names]
    native, default = failing["llama-cpp-native"], failing["llama-cpp-default"]
    assert (native.expected, native.seen_header, native.seen_counts) == (["llama_cpp_native"], "llama_cpp_python",
                                                                         ["llama_cpp_python"])
    assert (default.expected, default.seen_header, default.seen_counts) == (["llama_cpp_python"], "llama_cpp_native",
                                                                            ["llama_cpp_native"])
    text = "\n".join(lines)
    assert ("FAIL 'llama-cpp-native' (alias): expected llama_cpp_native, seen llama_cpp_python - "
            "x-litellm-model-api-base names llama_cpp_python") in text
    assert ("FAIL 'llama-cpp-default' (model): expected llama_cpp_python, seen llama_cpp_native - "
            "x-litellm-model-api-base names llama_cpp_native") in text
    _everything_stopped(report)


def test_ci_runs_the_simulated_stages_and_lists_every_name_and_chain(config_dir: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", type=Path)
    ci.add_arguments(parser)
    args = parser.parse_args(["--config-dir", str(config_dir), "--skip-tests", "--json"])
    # Only the stages this test is about (the subprocess ones are test_operator_ci.py's).
    stages = [s for s in ci.plan(args) if s.name in ("routes", "contract")]
    assert ci.execute(stages, echo=lambda _: None) is None, [s.output for s in stages]
    routes = stages[0].to_json()["checked"]
    seen = {(c["name"], c["kind"].split(";")[0], tuple(c["expected"]), c["seen_header"]) for c in routes["names"]}
    # The example config's routing table, as `aibackend validate` prints it.
    assert {(n, k, e) for n, k, e, _ in seen} == {
        ("llama3.1:8b", "model", ("ollama",)),
        ("qwen2.5-coder:7b", "model", ("ollama",)),
        ("mythomax-l2-13b-q5_k_m", "pattern", ("ollama",)),
        ("llama-cpp-default", "model", ("llama_cpp_python",)),
        ("llama-cpp-native", "alias", ("llama_cpp_native",)),
        ("Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "pattern", ("vllm-qwen",)),
        ("llama3.1:latest", "alias", ("ollama",)),
        ("qwen-coder-vllm", "alias", ("vllm-qwen",)),
        ("llama-cpp-python", "alias", ("llama_cpp_python",)),
        ("code_generation", "capability", ("vllm-qwen",)),
        ("general_chat", "capability", ("ollama", "llama_cpp_python")),
        (next(c["name"] for c in routes["names"] if c["kind"] == "default"), "default", ("ollama",)),
    }
    assert all(c["ok"] and c["seen_counts"] and set(c["seen_counts"]) <= set(c["expected"]) for c in routes["names"])
    assert all(c["seen_header"] in c["expected"] for c in routes["names"] if c["kind"] != "default")
    chains = {(c["source"], tuple(c["failed"]), c["expected_link"], c["seen_header"]) for c in routes["chains"]}
    assert chains == {
        ("llama3.1:latest", ("ollama",), "llama-cpp-python", "llama_cpp_python"),  # qwen2.5-coder:7b is on ollama too
        ("qwen-coder-vllm", ("vllm-qwen",), "qwen2.5-coder:7b", "ollama"),
        ("llama-cpp-python", ("llama_cpp_python",), "llama-cpp-native", "llama_cpp_native"),
        ("code_generation", ("vllm-qwen",), "order 2: ollama", "ollama"),
    }
    # Both rpm limits of the example are checked: enforced, never more than the limit a minute, and
    # the request over it answered by the group's fallback (on the same Ollama for llama3.1:latest: told
    # apart by LiteLLM's model-group header).
    limits = {(c["name"], c["rpm"], c["ok"], (c["refused"] or {}).get("seen")) for c in routes["limits"]
              if c["what"] == "rate_limit"}
    assert limits == {("llama3.1:latest", 100, True, "qwen2.5-coder:7b"), ("qwen-coder-vllm", 50, True, "qwen2.5-coder:7b")}, \
        routes["limits"]
    assert all(0 < c["admitted"] <= c["rpm"] for c in routes["limits"] if c["what"] == "rate_limit")
    contract = stages[1].to_json()["checked"]
    assert {(s["type"], s["ok"]) for s in contract["simulators"]} == {
        ("ollama", True), ("llama_cpp_python", True), ("llama_cpp", True), ("vllm", True)}
    assert json.dumps(stages[0].to_json())  # what --json prints


def _drop_rpm(path: Path) -> None:
    """Remove every rpm limit from the generated file, as a hand edit or a generator bug would."""
    text = path.read_text()
    path.write_text("\n".join(line for line in text.splitlines() if not line.strip().startswith("rpm:")) + "\n")


@pytest.mark.slow
def test_routes_fail_when_the_gateway_does_not_enforce_a_rate_limit(config_dir: Path) -> None:
    lines: list[str] = []
    report = check_routes(config_dir, lines.append, edit_generated=_drop_rpm)
    text = "\n".join(lines)
    assert not report.ok
    failed = {c["name"]: c for c in report.limits if c["what"] == "rate_limit" and not c["ok"]}
    assert set(failed) == {"llama3.1:latest", "qwen-coder-vllm"}, text
    assert failed["qwen-coder-vllm"]["admitted"] == 53 and failed["qwen-coder-vllm"]["refused"] is None
    assert ("FAIL rate limit qwen-coder-vllm: rpm 50, 53 admitted in a row, none refused - 53 requests in a row "
            "were served by vllm-qwen: the rpm limit 50 was not enforced") in text
    assert all(c.ok for c in report.names), text  # routing itself is untouched
    _everything_stopped(report)


def _short_timeout(config_dir: Path) -> Path:
    text = (config_dir / "gateway.yaml").read_text()
    (config_dir / "gateway.yaml").write_text(text.replace("  timeout: 30 ", "  timeout: 3 "))
    assert "  timeout: 3 " in (config_dir / "gateway.yaml").read_text()
    return config_dir


def _drop_timeouts(path: Path) -> None:
    """Remove the per-call timeout from every deployment of the generated file."""
    text = path.read_text()
    path.write_text("\n".join(line for line in text.splitlines() if not line.strip().startswith("timeout:")) + "\n")


@pytest.mark.slow
def test_a_short_timeout_is_checked_and_fails_when_the_gateway_does_not_apply_it(config_dir: Path) -> None:
    config = _short_timeout(config_dir)
    lines: list[str] = []
    report = check_routes(config, lines.append, rate_limits=False)
    timeout = next(c for c in report.limits if c["what"] == "timeout")
    # llama3.1:latest's Ollama answers after 8 s: LiteLLM gives up on it (and on qwen2.5-coder:7b, on the
    # same Ollama) after 3 s an attempt, and llama-cpp-python answers.
    assert timeout["checked"] and timeout["ok"], "\n".join(lines)
    assert (timeout["name"], timeout["seen"], timeout["status"]) == ("llama3.1:latest", "llama-cpp-python", 200)
    assert timeout["took_s"] >= 3
    lines.clear()
    broken = check_routes(config, lines.append, rate_limits=False, edit_generated=_drop_timeouts)
    timeout = next(c for c in broken.limits if c["what"] == "timeout")
    assert not broken.ok and not timeout["ok"], "\n".join(lines)
    assert timeout["seen"] == "llama3.1:latest" and "the 3 s timeout was not applied" in timeout["problem"]
    _everything_stopped(broken)
