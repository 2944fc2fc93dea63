"""The seed project's ten documented gotchas, each proven gone (see docs/gotchas.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.layers import CRITICAL
from generator.pipeline import build
from tests.plugins.configs import MakeConfig

pytestmark = pytest.mark.unit

ONE = "providers:\n  o: {type: ollama, base_url: 'http://127.0.0.1:11434', models: [a, b, c]}\n"


def codes(config: Path) -> list[tuple[str, str]]:
    return [(d.severity, d.code) for d in build(config, layers=CRITICAL, render=False).diagnostics]


def test_1_misspelled_keys_are_errors_not_silently_dropped(config_dir: Path) -> None:
    gateway = config_dir / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace("cooldown_time:", "cooldown_tme:"))
    result = build(config_dir, layers=CRITICAL)
    [d] = result.diagnostics
    assert (d.code, d.path, d.message) == (
        "unknown-key", "reliability.cooldown_tme", "unknown key `cooldown_tme`, did you mean `cooldown_time`?")
    assert result.text is None


def test_2_missing_fallback_targets_are_errors_not_skipped(make_config: MakeConfig) -> None:
    config = make_config(providers=ONE, mappings="fallback_chains:\n  a: {chain: [b, zz]}\n", gateway=None)
    assert codes(config) == [("error", "unknown-model")]


def test_3_chains_through_disabled_providers_are_not_silently_shortened(make_config: MakeConfig) -> None:
    providers = ONE + "  d: {type: vllm, base_url: 'http://127.0.0.1:8002', status: disabled, models: [x]}\n"
    config = make_config(providers=providers, mappings="fallback_chains:\n  a: {chain: [x, b]}\n", gateway=None)
    result = build(config, layers=CRITICAL)
    [d] = result.diagnostics
    assert (d.severity, d.code) == ("warning", "fallback-to-inactive")
    assert "`x` is served only by a disabled provider `d`" in d.message


def test_4_cycle_check_is_linear_on_a_lattice(make_config: MakeConfig) -> None:
    """2 wide, 40 deep: 2**40 paths, which the seed's path enumeration never finished."""
    names = [f"m{level}_{side}" for level in range(41) for side in (0, 1)]
    providers = "providers:\n  o:\n    type: ollama\n    base_url: 'http://127.0.0.1:11434'\n    models:\n" + "".join(
        f"      - {n}\n" for n in names)
    chains = "".join(
        f"  m{level}_{side}: {{chain: [m{level + 1}_0, m{level + 1}_1]}}\n" for level in range(40) for side in (0, 1))
    config = make_config(providers=providers, mappings="fallback_chains:\n" + chains, gateway=None)
    assert codes(config) == []
    cyclic = make_config(providers=providers, mappings="fallback_chains:\n" + chains + "  m40_1: {chain: [m0_0]}\n",
                         gateway=None)
    result = build(cyclic, layers=CRITICAL, render=False)
    assert [d.code for d in result.diagnostics] == ["fallback-cycle"]
    assert result.diagnostics[0].message.startswith("fallback cycle m0_0 -> m1_0 -> m2_0")


def test_5_master_key_lives_in_general_settings_from_the_environment(config_dir: Path) -> None:
    result = build(config_dir, layers=CRITICAL, commit="none")
    assert result.config is not None
    assert result.config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert "master_key" not in result.config["litellm_settings"]


def test_6_vllm_uses_hosted_vllm_and_v1(config_dir: Path) -> None:
    result = build(config_dir, layers=CRITICAL, commit="none")
    assert result.config is not None
    vllm = [e["litellm_params"] for e in result.config["model_list"] if e["model_name"] == "qwen-coder-vllm"]
    assert vllm == [{"model": "hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "api_base": "http://127.0.0.1:8001/v1",
                     "rpm": 50, "tpm": 100000, "timeout": 30, "stream_timeout": 120}]


def test_7_ollama_uses_the_chat_api_and_no_v1(make_config: MakeConfig) -> None:
    config = make_config(providers=ONE, mappings="{}\n", gateway=None)
    result = build(config, layers=CRITICAL, commit="none")
    assert result.config is not None
    assert result.config["model_list"][0]["litellm_params"] == {"model": "ollama_chat/a", "api_base": "http://127.0.0.1:11434",
                                                                "timeout": 30, "stream_timeout": 120}
    with_v1 = make_config(providers=ONE.replace("11434'", "11434/v1'"), mappings="{}\n", gateway=None)
    assert codes(with_v1) == [("error", "base-url-suffix")]


def test_8_llama_cpp_gets_a_placeholder_key(config_dir: Path) -> None:
    result = build(config_dir, layers=CRITICAL, commit="none")
    assert result.config is not None
    native = [e["litellm_params"] for e in result.config["model_list"] if e["model_name"] == "llama-cpp-native"]
    assert native == [{"model": "openai/llama-cpp-native", "api_base": "http://127.0.0.1:8080/v1",
                       "api_key": "sk-no-key-required", "extra_headers": {"Connection": "close"},
                       "timeout": 30, "stream_timeout": 120}]


def test_9_regex_patterns_are_resolved_because_litellm_cannot_route_on_them(config_dir: Path) -> None:
    result = build(config_dir, layers=CRITICAL, commit="none")
    assert result.config is not None
    names = [e["model_name"] for e in result.config["model_list"]]
    assert not any(n.startswith("^") for n in names)
    assert "mythomax-l2-13b-q5_k_m" in names


def test_10_unset_environment_variables_are_caught_before_the_first_request(config_dir: Path) -> None:
    providers = config_dir / "providers.yaml"
    providers.write_text(providers.read_text().replace("status: template\n    api_key_env: OPENAI_API_KEY",
                                                       "status: active\n    api_key_env: OPENAI_API_KEY"))
    result = build(config_dir, environ={"LITELLM_MASTER_KEY": "sk-x", "REDIS_PASSWORD": "x"})
    assert [(d.severity, d.code, d.path) for d in result.diagnostics] == [
        ("warning", "env-unset", "providers.openai.api_key_env")]
