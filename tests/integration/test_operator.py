"""The operator tools against real servers: simulators (health, wait-for, ports) and the real LiteLLM
gateway with the request logger callback (request, requests tail/analyze).

The commands run through their modules' own parsers (``invoke``), exactly as the CLI dispatches them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from aibackend.commands import health, ports, request, requests, wait_for
from generator.net import free_port, port_is_open
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [pytest.mark.integration]


def invoke(module: ModuleType, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(list(argv))))


def _providers(**entries: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {name: {"type": kind, "base_url": url, "models": models} for name, (kind, url, models) in entries.items()}


@pytest.mark.slow
def test_health_reports_up_loading_and_refused(simulator_factory: Any, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    vllm = simulator_factory("vllm", models=["m"])
    ollama = simulator_factory("ollama", models=["llama3.2:latest", "qwen2.5:0.5b"])
    loading = simulator_factory("llama_cpp", models=["one.gguf"], loading_s=120)
    closed = free_port()
    config = write_sources(tmp_path / "cfg", providers=_providers(
        vl=("vllm", vllm.url, ["m"]), ol=("ollama", ollama.url, ["llama3.2:latest"]),
        cpp=("llama_cpp", loading.url, ["one.gguf"]), gone=("vllm", f"http://127.0.0.1:{closed}", ["x"])))
    assert invoke(health, ["--config-dir", str(config), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["state"], r["status_code"], r["detail"]) for r in data["results"]] == [
        ("vl", "up", 200, "ok"),
        ("ol", "up", 200, "2 model(s)"),
        ("cpp", "loading", 503, "503 Loading model"),
        ("gone", "down", None, "connection refused"),
        ("gateway", "down", None, "connection refused"),
    ]
    assert all(r["latency_ms"] > 0 for r in data["results"][:3])
    assert vllm.stats()["requests"] == {"GET /health": 1}
    assert ollama.stats()["requests"] == {"GET /api/tags": 1}


@pytest.mark.slow
def test_wait_for_returns_when_loading_ends_and_times_out_on_a_closed_port(
    simulator_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cpp = simulator_factory("llama_cpp", models=["one.gguf"], loading_s=2)
    closed = free_port()
    config = write_sources(tmp_path / "cfg", providers=_providers(
        cpp=("llama_cpp", cpp.url, ["one.gguf"]), gone=("vllm", f"http://127.0.0.1:{closed}", ["x"])))
    started = time.monotonic()
    assert invoke(wait_for, ["--config-dir", str(config), "cpp", "--timeout", "60", "--interval", "0.1"]) == 0
    assert time.monotonic() - started >= 1.0  # it did wait through the loading phase
    assert re.fullmatch(r"cpp is healthy \(http://127\.0\.0\.1:\d+/health\) after \d+\.\d s, \d+ attempt\(s\)\n",
                        capsys.readouterr().out)
    assert invoke(wait_for, ["--config-dir", str(config), "gone", "--timeout", "1", "--interval", "0.2"]) == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith(f"last error: down: connection refused (http://127.0.0.1:{closed}/health)")


@pytest.fixture
def squatter() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A process that is not an inference server, listening on a free port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while not port_is_open("127.0.0.1", port):
        assert time.monotonic() < deadline, "http.server did not start"
        time.sleep(0.05)
    yield process, port
    process.kill()
    process.wait(5)


def test_ports_names_the_process_squatting_a_provider_port(
    simulator_factory: Any, squatter: tuple[subprocess.Popen[bytes], int], tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    process, port = squatter
    sim = simulator_factory("vllm", models=["m"])
    config = write_sources(tmp_path / "cfg", providers=_providers(
        mine=("vllm", sim.url, ["m"]), squatted=("ollama", f"http://127.0.0.1:{port}", ["x"])))
    assert invoke(ports, ["--config-dir", str(config), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["conflicts"] == []
    assert data["taken"] == [
        f"port {port} of squatted (providers.yaml providers.squatted.base_url) is taken by "
        f"python (pid {process.pid}): `{sys.executable} -m http.server {port} --bind 127.0.0.1`"
    ] or data["taken"] == [
        f"port {port} of squatted (providers.yaml providers.squatted.base_url) is taken by "
        f"python3 (pid {process.pid}): `{sys.executable} -m http.server {port} --bind 127.0.0.1`"
    ]
    mine = next(e for e in data["entries"] if e["name"] == "mine")
    assert mine["listening"] == f"python3 (pid {sim.pid})" or mine["listening"] == f"python (pid {sim.pid})"


def test_ports_conflict_between_two_providers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    config = write_sources(tmp_path / "cfg", providers=_providers(
        a=("vllm", f"http://127.0.0.1:{port}", ["m"]), b=("llama_cpp_python", f"http://localhost:{port}", ["n"])))
    assert invoke(ports, ["--config-dir", str(config)]) == 1
    captured = capsys.readouterr()
    assert (f"conflict: a and b both use 127.0.0.1:{port} (providers.yaml providers.a.base_url; "
            "providers.yaml providers.b.base_url)") in captured.err


# --- through the real gateway ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logged_gateway(module_gateway_factory: Any, session_simulator_factory: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[RunningGateway, Any]:
    """A gateway (JSON logs + the request logger callback) on a vLLM simulator with an Ollama fallback."""
    from tests.plugins.gateway import generate

    vllm = session_simulator_factory("vllm", models=["sim-model"], tpot_ms=2)
    ollama = session_simulator_factory("ollama", models=["llama3.2:latest"], tpot_ms=2)
    config = write_sources(
        tmp_path_factory.mktemp("logged") / "cfg",
        providers=_providers(vl=("vllm", vllm.url, ["sim-model"]), ol=("ollama", ollama.url, ["llama3.2:latest"])),
        mappings={"exact_matches": {"chat": {"provider": "vl", "backend_model": "sim-model"}},
                  "fallback_chains": {"chat": {"chain": ["llama3.2:latest"]}}},
        gateway={"observability": {"prometheus": False, "json_logs": True}, "reliability": {"num_retries": 0}},
    )
    generate(config)
    # json_logs: true makes the generator add the request logger callback itself
    generated = config / "litellm-unified.yaml"
    data = yaml.safe_load(generated.read_text())
    assert data["litellm_settings"]["callbacks"] == ["generator.request_logger.handler"]
    return module_gateway_factory(config), vllm


@pytest.mark.slow
@pytest.mark.requires_litellm
@pytest.mark.xdist_group("operator-gateway")
@pytest.mark.timeout(300)  # includes the module gateway's start-up: 20-90 s on a loaded machine
def test_request_names_the_backend_and_a_fallback(logged_gateway: tuple[RunningGateway, Any],
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    gw, vllm = logged_gateway
    monkeypatch.setenv("LITELLM_MASTER_KEY", gw.key)
    base = ["--config-dir", str(gw.config_dir), "--model", "chat", "--prompt", "hello", "--json", "--timeout", "90"]
    assert invoke(request, [*base, "--stream", "--max-tokens", "4"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["backend"]["x-litellm-model-group"] == "chat"
    assert first["backend"]["x-litellm-model-api-base"].rstrip("/") == vllm.url + "/v1"
    assert first["timings_ms"]["ttft"] >= first["timings_ms"]["ttfb"] > 0
    assert first["usage"]["completion_tokens"] == 4
    vllm.control(error_rate=1.0, error_status=503)
    try:
        assert invoke(request, [*base, "--max-tokens", "3"]) == 0
    finally:
        vllm.control(error_rate=0.0)
    second = json.loads(capsys.readouterr().out)
    assert second["backend"]["x-litellm-model-group"] == "llama3.2:latest"
    assert second["backend"]["x-litellm-attempted-fallbacks"] == "1"
    assert invoke(request, [*base[:2], "--model", "no-such-model", "--prompt", "x", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == 400

    # the gateway's log now holds one record per attempt: analyze and tail read them
    time.sleep(1.0)  # the callback runs after the response is sent
    assert invoke(requests, ["analyze", "--config-dir", str(gw.config_dir), "--json"]) == 0
    analysis = json.loads(capsys.readouterr().out)
    groups = {(g["model_group"], g["backend"]): g for g in analysis["groups"]}
    chat = groups[("chat", vllm.url + "/v1")]
    assert (chat["count"], chat["errors"], chat["status_codes"]) == (2, 1, {"200": 1, "503": 1})
    assert analysis["fallbacks"] == [{"from": "chat", "to": "llama3.2:latest", "count": 1}]
    assert analysis["malformed"] == []
    assert invoke(requests, ["tail", "--config-dir", str(gw.config_dir), "-n", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "llama3.2:latest (fallback from chat)" in lines[0] and " 200 " in lines[0]
    assert "(no group)" in lines[1] and "400 ProxyModelNotFoundError" in lines[1]
