"""``aibackend request``: one request through the gateway, with LiteLLM's headers (respx, no sockets)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import pytest
import respx

from aibackend.commands import request as request_command
from generator.errors import AibackendError

pytestmark = [pytest.mark.unit]

URL = "http://127.0.0.1:4000/v1/chat/completions"
KEY = "sk-unit-test-key-0123456789abcdef"
LITELLM_HEADERS = {
    "x-litellm-model-group": "llama3.1:latest",
    "x-litellm-model-id": "llama3.1:latest@ollama/llama3.1:8b",
    "x-litellm-model-name": "ollama_chat/llama3.1:8b",
    "x-litellm-model-api-base": "http://127.0.0.1:11434",
    "x-litellm-attempted-retries": "0",
    "x-litellm-attempted-fallbacks": "1",
}


def _args(config_dir: Path, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {"config_dir": config_dir, "model": "llama3.1:latest", "prompt": "hello",
                                 "stream": False, "debug": False, "max_tokens": 8, "url": None, "api_key_env": None,
                                 "timeout": 10.0, "json": True}
    values.update(extra)
    return argparse.Namespace(**values)


@respx.mock
def test_non_streamed_request_reports_the_backend(config_dir: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", KEY)
    route = respx.post(URL).mock(return_value=httpx.Response(200, headers=LITELLM_HEADERS, json={
        "choices": [{"message": {"role": "assistant", "content": "hi there"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2}}))
    assert request_command.run(_args(config_dir)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["text"] == "hi there"
    assert data["backend"] == {**LITELLM_HEADERS, "x-litellm-cache-key": None}
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 2}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {"model": "llama3.1:latest", "messages": [{"role": "user", "content": "hello"}],
                                        "max_tokens": 8}


@respx.mock
def test_streamed_request_measures_ttft_and_joins_the_text(config_dir: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", KEY)
    chunks = [{"choices": [{"delta": {"role": "assistant", "content": ""}}]},
              {"choices": [{"delta": {"content": "one"}}]}, {"choices": [{"delta": {"content": " two"}}]},
              {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    route = respx.post(URL).mock(return_value=httpx.Response(
        200, headers={**LITELLM_HEADERS, "content-type": "text/event-stream"}, text=body))
    assert request_command.run(_args(config_dir, stream=True, json=False, debug=True)) == 0
    out = capsys.readouterr().out
    assert json.loads(route.calls.last.request.content)["stream_options"] == {"include_usage": True}
    assert "model group    llama3.1:latest\n" in out
    assert "backend URL    http://127.0.0.1:11434\n" in out
    assert "fallbacks      1\n" in out
    assert "(2 content chunks)" in out and "usage: 4 prompt + 2 completion tokens" in out
    assert out.rstrip().endswith("answer:\none two")
    assert "  x-litellm-model-id: llama3.1:latest@ollama/llama3.1:8b" in out  # --debug: every header
    assert KEY not in out  # the key never printed, even with --debug
    assert "(Authorization: Bearer $LITELLM_MASTER_KEY)" in out


@respx.mock
def test_gateway_error_exits_1_with_its_message(config_dir: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", KEY)
    respx.post(URL).mock(return_value=httpx.Response(400, json={"error": {
        "message": "/chat/completions: Invalid model name passed in model=nosuch", "code": "400"}}))
    assert request_command.run(_args(config_dir, model="nosuch", json=False)) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: HTTP 400: /chat/completions: Invalid model name passed in model=nosuch\n"


@respx.mock
def test_unreachable_gateway_is_a_clear_error(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", KEY)
    respx.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(AibackendError) as raised:
        request_command.run(_args(config_dir))
    assert str(raised.value).startswith("cannot reach the gateway at http://127.0.0.1:4000: connection refused\n")


def test_missing_key_is_refused_before_sending(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    with pytest.raises(AibackendError, match="environment variable LITELLM_MASTER_KEY is not set"):
        request_command.run(_args(config_dir))
