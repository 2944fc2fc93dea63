"""Targets from TYPE=URL and from a providers.yaml; keys only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.suite import Target
from contracts.targets import api_key_from_env, parse_target, targets_from_providers_file
from generator.errors import ConfigInvalid, UsageError

pytestmark = [pytest.mark.unit]

REGISTRY = """\
providers:
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434
    status: active
    models:
      - name: llama3.1:8b
        size: 8B
      - mythomax-l2-13b-q5_k_m
  llama_cpp_native:
    type: llama_cpp
    base_url: http://127.0.0.1:8080
    status: active
    models: [llama-cpp-native]
  vllm-qwen:
    type: vllm
    base_url: http://127.0.0.1:8001
    models:
      - name: Qwen/Qwen2.5-Coder-7B-Instruct-AWQ
  vllm-dolphin:
    type: vllm
    base_url: http://127.0.0.1:8002
    status: disabled
    models: [cognitivecomputations/Dolphin3.0-Llama3.1-8B]
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    status: template
    api_key_env: OPENAI_API_KEY
    models: [gpt-4o-mini]
"""


def test_parse_target() -> None:
    assert parse_target(" vllm = http://127.0.0.1:8000/v1 ", model="m") == Target(
        "vllm", "http://127.0.0.1:8000/v1", model="m", name=" vllm = http://127.0.0.1:8000/v1 "
    )
    assert Target("vllm", "http://127.0.0.1:8000/v1/").base_url == "http://127.0.0.1:8000"


def test_every_active_provider_of_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = tmp_path / "providers.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a template provider's key is never asked for
    targets = targets_from_providers_file(registry)
    # status defaults to active (vllm-qwen); disabled and template providers are left out
    assert [(t.name, t.type, t.url, t.model, t.api_key) for t in targets] == [
        ("ollama", "ollama", "http://127.0.0.1:11434", "llama3.1:8b", None),
        ("llama_cpp_native", "llama_cpp", "http://127.0.0.1:8080", "llama-cpp-native", None),
        ("vllm-qwen", "vllm", "http://127.0.0.1:8001", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", None),
    ]


def test_a_providers_api_key_env_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = tmp_path / "providers.yaml"
    registry.write_text(
        "providers:\n  cloud:\n    type: openai\n    base_url: https://api.example.com/v1\n"
        "    api_key_env: CLOUD_KEY\n    models: [gpt-4o-mini]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CLOUD_KEY", "sk-cloud")
    [target] = targets_from_providers_file(registry, model="override")
    assert (target.api_key, target.model, target.base_url) == ("sk-cloud", "override", "https://api.example.com")
    monkeypatch.delenv("CLOUD_KEY")
    with pytest.raises(UsageError, match=r"^environment variable CLOUD_KEY is not set"):
        targets_from_providers_file(registry)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("providers: []\n", [("invalid-value", "providers", 1)]),
        ("providers:\n  a: {type: tgi, base_url: 'http://x'}\n", [("unknown-provider-type", "providers.a.type", 2)]),
        (
            "providers:\n  a: {type: vllm, base_url: 'x:1', models: [m]}\n",
            [("invalid-value", "providers.a.base_url", 2)],
        ),
        (
            "providers:\n  a: {type: vllm, models: [m]}\n  b: {type: vllm, base_url: 'http://x'}\n",
            [("missing-key", "providers.a.base_url", 2), ("missing-key", "providers.b.models", 3)],
        ),
        ("providers: [\n", [("yaml-syntax", "", 2)]),
    ],
    ids=["not-a-mapping", "unknown-type", "bad-url", "missing-keys", "bad-yaml"],
)
def test_an_invalid_registry_gets_the_validators_located_diagnostics(
    tmp_path: Path, text: str, found: list[tuple[str, str, int]]
) -> None:
    registry = tmp_path / "providers.yaml"
    registry.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigInvalid) as caught:
        targets_from_providers_file(registry)
    diagnostics = caught.value.diagnostics
    assert [(d.code, d.path, d.line) for d in diagnostics] == found
    assert {d.file for d in diagnostics} == {str(registry)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "providers:\n  a: {type: anthropic, base_url: 'https://x', models: [m]}\n",
            "{p}: providers.a.type: 'anthropic' has no contract",
        ),
        (
            "providers:\n  a: {type: vllm, base_url: 'http://x', status: disabled, models: [m]}\n",
            "--providers-file {p}: no active provider to check",
        ),
    ],
    ids=["no-contract", "none-active"],
)
def test_a_registry_with_nothing_to_check(tmp_path: Path, text: str, message: str) -> None:
    registry = tmp_path / "providers.yaml"
    registry.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        targets_from_providers_file(registry)
    assert caught.value.message == message.format(p=registry)


def test_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read it: No such file or directory$"):
        targets_from_providers_file(tmp_path / "nope.yaml")


def test_no_key_variable_for_keyless_types(monkeypatch: pytest.MonkeyPatch) -> None:
    assert api_key_from_env(None, "vllm") is None
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-master")
    assert api_key_from_env(None, "litellm") == "sk-master"
