"""``aibackend health`` / ``wait-for``: per-type interpretation of health answers, no sockets (respx)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import pytest
import respx

from aibackend.commands import health as health_command
from aibackend.commands import wait_for as wait_for_command
from aibackend.commands._operator import read_sources
from aibackend.ops.health import (
    HealthResult,
    Target,
    check_all,
    gateway_target,
    interpret,
    probe,
    provider_targets,
)
from generator.errors import UsageError

pytestmark = [pytest.mark.unit]

LLAMA = Target("native", "provider", "llama_cpp", "http://127.0.0.1:8080/health")
OLLAMA = Target("ollama", "provider", "ollama", "http://127.0.0.1:11434/api/tags")
VLLM = Target("vllm", "provider", "vllm", "http://127.0.0.1:8001/health")
GATEWAY = Target("gateway", "gateway", "litellm", "http://127.0.0.1:4000/health/readiness", "TEST_GW_KEY")


def answer(status: int, body: object = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body) if body is not None else httpx.Response(status)


@pytest.mark.parametrize(
    ("target", "response", "expected"),
    [
        (LLAMA, answer(200, {"status": "ok"}), ("up", "ok")),
        (LLAMA, answer(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}),
         ("loading", "503 Loading model")),
        (LLAMA, answer(503, {"error": {"code": 503, "message": "no slot available"}}), ("down", "503 no slot available")),
        (OLLAMA, answer(200, {"models": [{"name": "a"}, {"name": "b"}]}), ("up", "2 model(s)")),
        (OLLAMA, answer(200, {"data": []}),
         ("down", "HTTP 200 but no `models` list in the answer (is this an Ollama server?)")),
        (VLLM, answer(200), ("up", "ok")),
        (VLLM, answer(500, text="Internal Server Error"), ("down", "HTTP 500: Internal Server Error")),
        (GATEWAY, answer(200, {"status": "healthy", "db": "Not connected"}), ("up", "ready (healthy)")),
        (GATEWAY, answer(503, {"detail": "not ready"}), ("down", "HTTP 503: not ready")),
        (Target("cpp", "provider", "llama_cpp_python", "http://x/v1/models"), answer(200, {"data": [{"id": "m"}]}),
         ("up", "1 model(s)")),
    ],
)
def test_interpret_per_type(target: Target, response: httpx.Response, expected: tuple[str, str]) -> None:
    assert interpret(target, response) == expected


@respx.mock
def test_connection_refused_is_a_clear_down_not_a_traceback() -> None:
    respx.get(VLLM.url).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with httpx.Client() as client:
        result = probe(VLLM, client)
    assert result == HealthResult(VLLM, "down", None, None, "connection refused")
    assert result.to_json() == {"name": "vllm", "kind": "provider", "type": "vllm", "url": VLLM.url, "state": "down",
                                "healthy": False, "status_code": None, "latency_ms": None,
                                "detail": "connection refused"}


@respx.mock
def test_timeout_and_unknown_host_are_named() -> None:
    respx.get(VLLM.url).mock(side_effect=httpx.ReadTimeout("timed out"))
    respx.get(OLLAMA.url).mock(side_effect=httpx.ConnectError("[Errno -2] Name or service not known"))
    results = check_all([VLLM, OLLAMA], timeout=1.5)
    assert [(r.target.name, r.state, r.detail) for r in results] == [
        ("vllm", "down", "timed out after 1.5 s"),
        ("ollama", "down", "cannot resolve host"),
    ]


@respx.mock
def test_gateway_probe_sends_the_key_from_the_environment_only() -> None:
    route = respx.get(GATEWAY.url).mock(return_value=answer(200, {"status": "healthy"}))
    with httpx.Client() as client:
        result = probe(GATEWAY, client, environ={"TEST_GW_KEY": "sk-test-1234567890abcdef"})
    assert result.healthy and result.status_code == 200 and result.latency_ms is not None
    assert route.calls.last.request.headers["Authorization"] == "Bearer sk-test-1234567890abcdef"
    with httpx.Client() as client:
        probe(GATEWAY, client, environ={})
    assert "Authorization" not in route.calls.last.request.headers


def test_targets_are_the_active_providers_with_their_type_endpoints(config_dir: Path) -> None:
    sources = read_sources(config_dir)
    assert [(t.name, t.type, t.url) for t in provider_targets(sources)] == [
        ("ollama", "ollama", "http://127.0.0.1:11434/api/tags"),
        ("llama_cpp_python", "llama_cpp_python", "http://127.0.0.1:8000/v1/models"),
        ("llama_cpp_native", "llama_cpp", "http://127.0.0.1:8080/health"),
        ("vllm-qwen", "vllm", "http://127.0.0.1:8001/health"),
    ]
    assert gateway_target(sources) == Target("gateway", "gateway", "litellm", "http://127.0.0.1:4000/health/readiness",
                                             "LITELLM_MASTER_KEY")


def _args(config_dir: Path, **extra: object) -> argparse.Namespace:
    values = {"config_dir": config_dir, "json": False, "watch": None, "timeout": 3.0, "no_gateway": False,
              "api_key_env": None, **extra}
    return argparse.Namespace(**values)


@respx.mock
def test_health_command_exit_1_and_names_what_is_down(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.get("http://127.0.0.1:11434/api/tags").mock(return_value=answer(200, {"models": [{"name": "x"}]}))
    respx.get("http://127.0.0.1:8000/v1/models").mock(return_value=answer(200, {"data": [{"id": "m"}]}))
    respx.get("http://127.0.0.1:8080/health").mock(return_value=answer(503, {"error": {"message": "Loading model"}}))
    respx.get("http://127.0.0.1:8001/health").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    respx.get("http://127.0.0.1:4000/health/readiness").mock(return_value=answer(200, {"status": "healthy"}))
    assert health_command.run(_args(config_dir, json=True)) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["healthy"] is False
    assert [(r["name"], r["state"], r["detail"]) for r in data["results"]] == [
        ("ollama", "up", "1 model(s)"),
        ("llama_cpp_python", "up", "1 model(s)"),
        ("llama_cpp_native", "loading", "503 Loading model"),
        ("vllm-qwen", "down", "connection refused"),
        ("gateway", "up", "ready (healthy)"),
    ]
    assert health_command.run(_args(config_dir)) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "2 of 5 not healthy: llama_cpp_native, vllm-qwen"
    assert "vllm-qwen         vllm              down     -" in out


@respx.mock
def test_health_command_exit_0_when_all_up(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(url__regex=r"http://127\.0\.0\.1:\d+/.*").mock(
        return_value=answer(200, {"models": [], "data": [], "status": "ok"}))
    assert health_command.run(_args(config_dir, no_gateway=True)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "all 4 healthy"


def test_wait_for_unknown_name_suggests_the_close_one(config_dir: Path) -> None:
    args = argparse.Namespace(config_dir=config_dir, target="olama", timeout=1.0, interval=0.1, quiet=False)
    with pytest.raises(UsageError) as raised:
        wait_for_command.run(args)
    assert str(raised.value) == (
        f"unknown target 'olama': not a provider in {config_dir}/providers.yaml, `gateway` or a URL\n"
        "  hint: did you mean 'ollama'?"
    )


def test_wait_for_refuses_an_inactive_provider(config_dir: Path) -> None:
    args = argparse.Namespace(config_dir=config_dir, target="vllm-dolphin", timeout=1.0, interval=0.1, quiet=False)
    with pytest.raises(UsageError, match="provider 'vllm-dolphin' has status disabled"):
        wait_for_command.run(args)


@respx.mock
def test_wait_for_times_out_with_the_last_error(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    route = respx.get("http://127.0.0.1:8080/health").mock(
        return_value=answer(503, {"error": {"message": "Loading model"}}))
    args = argparse.Namespace(config_dir=config_dir, target="llama_cpp_native", timeout=0.5, interval=0.1, quiet=False)
    assert wait_for_command.run(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("wait-for: llama_cpp_native not healthy after 0.5 s (")
    assert err.rstrip().endswith("last error: loading: 503 Loading model (http://127.0.0.1:8080/health)")
    # polling again until healthy is proven by test_wait_for_url_returns_once_healthy; here a
    # loaded machine may fit only one poll into the 0.5 s
    assert route.call_count >= 1


@respx.mock
def test_wait_for_url_returns_once_healthy(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    route = respx.get("http://127.0.0.1:9999/ready").mock(
        side_effect=[httpx.ConnectError("[Errno 111] Connection refused"), answer(503), answer(200)])
    args = argparse.Namespace(config_dir=config_dir, target="http://127.0.0.1:9999/ready", timeout=10, interval=0.01,
                              quiet=False)
    assert wait_for_command.run(args) == 0
    assert route.call_count == 3
    assert "is healthy (http://127.0.0.1:9999/ready)" in capsys.readouterr().out


def test_wait_for_rejects_a_bad_url(config_dir: Path) -> None:
    args = argparse.Namespace(config_dir=config_dir, target="ftp://host/x", timeout=1, interval=0.1, quiet=False)
    with pytest.raises(UsageError, match="'ftp://host/x' is not an http\\(s\\) URL"):
        wait_for_command.run(args)
