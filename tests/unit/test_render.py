"""Generating: the whole file for the example config, determinism, and what each rule compiles to."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.layers import CRITICAL
from generator.pipeline import build
from generator.render import MARKER, parse_metadata
from tests.plugins.configs import EXAMPLE_CONFIG, MakeConfig

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "fixtures" / "golden" / "example-litellm-unified.yaml"


def generated(config: Path) -> tuple[str, dict[str, Any]]:
    result = build(config, layers=CRITICAL, commit="none")
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.text is not None and result.config is not None
    return result.text, result.config


def deployments(config: dict[str, Any], group: str) -> list[tuple[str, str, int | None]]:
    return [
        (e["litellm_params"]["model"], e["litellm_params"]["api_base"], e["litellm_params"].get("order"))
        for e in config["model_list"]
        if e["model_name"] == group
    ]


def test_golden_example_config(config_dir: Path) -> None:
    """The whole generated file for the reference config, byte for byte."""
    text, _ = generated(config_dir)
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_example_routes_as_its_comments_say(config_dir: Path) -> None:
    _, config = generated(config_dir)
    assert deployments(config, "llama3.1:latest") == [("ollama_chat/llama3.1:8b", "http://127.0.0.1:11434", None)]
    assert deployments(config, "qwen-coder-vllm") == [
        ("hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "http://127.0.0.1:8001/v1", None)]
    assert deployments(config, "llama-cpp-python") == [("openai/llama-cpp-default", "http://127.0.0.1:8000/v1", None)]
    assert deployments(config, "llama-cpp-native") == [("openai/llama-cpp-native", "http://127.0.0.1:8080/v1", None)]
    # code_generation: fallback = try in the order given
    assert deployments(config, "code_generation") == [
        ("hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "http://127.0.0.1:8001/v1", 1),
        ("ollama_chat/qwen2.5-coder:7b", "http://127.0.0.1:11434", 2),
    ]
    # general_chat: load_balance = equal deployments, no order
    assert deployments(config, "general_chat") == [
        ("ollama_chat/llama3.1:8b", "http://127.0.0.1:11434", None),
        ("openai/llama-cpp-default", "http://127.0.0.1:8000/v1", None),
    ]
    # patterns resolved against the registry
    assert deployments(config, "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ") == [
        ("hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "http://127.0.0.1:8001/v1", None)]
    assert deployments(config, "mythomax-l2-13b-q5_k_m") == [
        ("ollama_chat/mythomax-l2-13b-q5_k_m", "http://127.0.0.1:11434", None)]
    # default provider: a catch-all passing the name through to Ollama
    assert deployments(config, "*") == [("ollama_chat/*", "http://127.0.0.1:11434", None)]
    assert config["model_list"][-1]["model_name"] == "*"
    # the disabled and template providers are not in the gateway at all
    all_models = {e["litellm_params"]["model"] for e in config["model_list"]}
    assert not {m for m in all_models if "Dolphin" in m or "deepseek" in m or "gpt-4o" in m}
    router = config["router_settings"]
    assert router["fallbacks"] == [
        {"llama3.1:latest": ["qwen2.5-coder:7b", "llama-cpp-python"]},
        {"qwen-coder-vllm": ["qwen2.5-coder:7b", "llama3.1:latest"]},
        {"llama-cpp-python": ["llama-cpp-native"]},
    ]
    assert router["max_fallbacks"] == 2
    limits = {e["model_name"]: (e["litellm_params"].get("rpm"), e["litellm_params"].get("tpm"))
              for e in config["model_list"]}
    assert limits["llama3.1:latest"] == (100, 50000)
    assert limits["qwen-coder-vllm"] == (50, 100000)
    assert limits["llama3.1:8b"] == (None, None)


def test_gateway_settings_compile_to_router_litellm_and_general_settings(config_dir: Path) -> None:
    _, config = generated(config_dir)
    assert {k: v for k, v in config["router_settings"].items() if k not in ("fallbacks", "max_fallbacks")} == {
        "routing_strategy": "simple-shuffle", "num_retries": 2, "timeout": 30, "stream_timeout": 120,
        "allowed_fails": 5, "cooldown_time": 60,
        "enable_pre_call_checks": True,  # the example has rate limits: LiteLLM enforces rpm/tpm only then
    }
    assert config["litellm_settings"] == {
        "drop_params": True, "request_timeout": 60, "json_logs": True,
        "callbacks": ["prometheus", "generator.request_logger.handler"], "cache": True,
        "cache_params": {"type": "redis", "host": "127.0.0.1", "port": 6379,
                         "password": "os.environ/REDIS_PASSWORD", "ttl": 3600},
    }
    # master_key only under general_settings (under litellm_settings LiteLLM ignores it)
    assert config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}


def test_same_sources_give_byte_identical_output(config_dir: Path, tmp_path: Path) -> None:
    first, _ = generated(config_dir)
    copy = tmp_path / "elsewhere"
    shutil.copytree(config_dir, copy)
    second, _ = generated(copy)
    assert first == second


def test_header_marker_and_metadata(config_dir: Path) -> None:
    text, _ = generated(config_dir)
    assert text.split("\n", 1)[0] == MARKER
    metadata = parse_metadata(text)
    assert metadata is not None
    assert metadata.git_commit == "none"
    assert metadata.generator == "aibackend 0.1.0"
    import hashlib

    assert metadata.sources == {
        name: hashlib.sha256((EXAMPLE_CONFIG / name).read_bytes()).hexdigest()
        for name in ("providers.yaml", "model-mappings.yaml", "gateway.yaml")
    }


def test_git_commit_is_recorded_inside_a_repository(config_dir: Path) -> None:
    subprocess.run(["git", "init", "-q", str(config_dir)], check=True)
    subprocess.run(["git", "-C", str(config_dir), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(["git", "-C", str(config_dir), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    result = build(config_dir, layers=CRITICAL)
    assert result.text is not None
    metadata = parse_metadata(result.text)
    assert metadata is not None and metadata.git_commit == head


def test_output_passes_yamllint(config_dir: Path, tmp_path: Path) -> None:
    text, _ = generated(config_dir)
    target = tmp_path / "litellm-unified.yaml"
    target.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "yamllint", "-s", "-c", str(ROOT / ".yamllint.yaml"), str(target)],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "")


def test_output_round_trips_through_yaml(config_dir: Path) -> None:
    text, config = generated(config_dir)
    assert yaml.safe_load(text) == config


def test_provider_types_compile_to_their_litellm_parameters(make_config: MakeConfig) -> None:
    config_dir = make_config(providers="""
        providers:
          o: {type: ollama, base_url: "http://h:11434/", models: [m1]}
          v: {type: vllm, base_url: "http://h:8000", models: [m2]}
          v1: {type: vllm, base_url: "http://h:8003/v1", models: [m2b]}
          c: {type: llama_cpp, base_url: "http://h:8080", models: [m3]}
          p: {type: llama_cpp_python, base_url: "http://h:8001", models: [m4]}
          a: {type: openai, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY, models: [m5]}
          l: {type: openai, base_url: "http://h:9000/v1", models: [m6]}
          n: {type: anthropic, base_url: "https://api.anthropic.com", api_key_env: ANTHROPIC_API_KEY, models: [m7]}
        """, mappings="{}\n", gateway=None)
    _, config = generated(config_dir)
    assert [e["litellm_params"] for e in config["model_list"]] == [
        {"model": "ollama_chat/m1", "api_base": "http://h:11434", "timeout": 30, "stream_timeout": 120},
        {"model": "hosted_vllm/m2", "api_base": "http://h:8000/v1", "timeout": 30, "stream_timeout": 120},
        {"model": "hosted_vllm/m2b", "api_base": "http://h:8003/v1", "timeout": 30, "stream_timeout": 120},
        {"model": "openai/m3", "api_base": "http://h:8080/v1", "api_key": "sk-no-key-required",
         "extra_headers": {"Connection": "close"}, "timeout": 30, "stream_timeout": 120},
        {"model": "openai/m4", "api_base": "http://h:8001/v1", "api_key": "sk-no-key-required", "timeout": 30, "stream_timeout": 120},
        {"model": "openai/m5", "api_base": "https://api.openai.com/v1", "api_key": "os.environ/OPENAI_API_KEY", "timeout": 30, "stream_timeout": 120},
        {"model": "openai/m6", "api_base": "http://h:9000/v1", "api_key": "sk-no-key-required", "timeout": 30, "stream_timeout": 120},
        {"model": "anthropic/m7", "api_base": "https://api.anthropic.com", "api_key": "os.environ/ANTHROPIC_API_KEY", "timeout": 30, "stream_timeout": 120},
    ]
    # The servers one runs oneself are free per token, said so to LiteLLM; cloud APIs keep its prices.
    free = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "cache_creation_input_token_cost": 0.0,
            "cache_read_input_token_cost": 0.0}
    assert [(e["model_name"], {k: v for k, v in e["model_info"].items() if "cost" in k})
            for e in config["model_list"]] == [
        ("m1", free), ("m2", free), ("m2b", free), ("m3", free), ("m4", free), ("m5", {}), ("m6", {}), ("m7", {})]


def test_timeouts_are_set_per_deployment(make_config: MakeConfig) -> None:
    """LiteLLM 1.106 lets litellm_settings.request_timeout override router_settings.timeout; only a
    deployment's own timeout cuts a hung provider at `timeout` (tests/integration/test_resilience.py)."""
    config_dir = make_config(
        providers="providers:\n  o: {type: ollama, base_url: 'http://h:1', models: [a]}\n",
        mappings="routing_rules: {default_provider: o}\n",
        gateway="reliability: {timeout: 7, stream_timeout: 11, request_timeout: 60}\n",
    )
    _, config = generated(config_dir)
    assert [(e["litellm_params"]["timeout"], e["litellm_params"]["stream_timeout"]) for e in config["model_list"]] == [
        (7, 11), (7, 11)]


def test_per_type_rate_limit_defaults_and_overrides(make_config: MakeConfig) -> None:
    config_dir = make_config(
        providers="providers:\n  o: {type: ollama, base_url: 'http://h:1', models: [a, b]}\n",
        mappings="rate_limits:\n  a: {rpm: 7}\n",
        gateway="rate_limit_defaults:\n  ollama: {rpm: 30, tpm: 9000}\n",
    )
    _, config = generated(config_dir)
    assert [(e["model_name"], e["litellm_params"].get("rpm"), e["litellm_params"].get("tpm"))
            for e in config["model_list"]] == [("a", 7, 9000), ("b", 30, 9000)]  # each of rpm/tpm defaults separately


def test_default_fallback_chain_and_max_fallbacks(make_config: MakeConfig) -> None:
    config_dir = make_config(
        providers="providers:\n  o: {type: ollama, base_url: 'http://h:1', models: [a, b, c, d]}\n",
        mappings="""
            fallback_chains:
              a: {chain: [b, c, d]}
            routing_rules:
              default_fallback_chain: [c, d]
            """,
        gateway=None,
    )
    _, config = generated(config_dir)
    router = config["router_settings"]
    assert (router["fallbacks"], router["default_fallbacks"], router["max_fallbacks"]) == (
        [{"a": ["b", "c", "d"]}], ["c", "d"], 3)
    assert "enable_pre_call_checks" not in router  # no rate limits, no pre-call checks


def test_no_fallbacks_means_no_fallback_keys(make_config: MakeConfig) -> None:
    config_dir = make_config(providers="providers:\n  o: {type: ollama, base_url: 'http://h:1', models: [a]}\n",
                             mappings="{}\n", gateway="cache: {enabled: false}\nobservability: {prometheus: false}\n")
    _, config = generated(config_dir)
    assert "fallbacks" not in config["router_settings"]
    assert config["litellm_settings"] == {"drop_params": True, "request_timeout": 60, "json_logs": True,
                                         "callbacks": ["generator.request_logger.handler"]}


def test_aliases_take_precedence_over_model_names(make_config: MakeConfig) -> None:
    config_dir = make_config(providers="""
        providers:
          o: {type: ollama, base_url: 'http://h:1', models: [a, b]}
          v: {type: vllm, base_url: 'http://h:2', models: [a]}
        """, mappings="exact_matches:\n  a: {provider: v, backend_model: a}\n", gateway=None)
    result = build(config_dir, layers=CRITICAL, commit="none")
    assert result.config is not None
    assert deployments(result.config, "a") == [("hosted_vllm/a", "http://h:2/v1", None)]
    assert [d.code for d in result.diagnostics] == ["alias-shadows-model", "ambiguous-model"]


def test_a_providers_shared_parameters_are_written_once_and_merged(make_config: MakeConfig) -> None:
    # LiteLLM parses the file with PyYAML's pure-Python loader: fewer tokens per deployment start it faster.
    config_dir = make_config(providers="""
        providers:
          o: {type: ollama, base_url: "http://h:11434", models: [m1, m2, m3]}
          c: {type: llama_cpp, base_url: "http://h:8080", models: [n1, n2]}
        """, mappings="exact_matches:\n  a1: {provider: o, backend_model: m2}\n", gateway=None)
    text, config = generated(config_dir)
    assert text.count("<<: &o\n") == 1 and text.count("<<: *o\n") == 3  # m1 defines it; m2, m3, a1 merge it
    assert text.count("<<: &c\n") == 1 and text.count("<<: *c\n") == 1
    loaded = yaml.safe_load(text)
    assert loaded == config
    # llama-server's header mapping is written per deployment: a merged mapping would be one object
    # shared by every deployment LiteLLM loads, and a change to one would change them all
    headers = [e["litellm_params"]["extra_headers"] for e in loaded["model_list"] if "extra_headers" in e["litellm_params"]]
    assert headers == [{"Connection": "close"}] * 2 and headers[0] is not headers[1]


def test_the_merged_file_reads_back_with_lines_and_without_duplicate_keys(config_dir: Path) -> None:
    from generator.yamlsource import parse_yaml

    text, config = generated(config_dir)
    parsed, found = parse_yaml(text.encode(), "litellm-unified.yaml")
    assert found == [] and parsed is not None and parsed.data == config


@pytest.mark.parametrize(("server", "shared"), [({"replicas": 2}, True), ({"workers": 2}, True),
                                                 ({"replicas": 1, "workers": 1}, False)])
def test_several_litellm_processes_share_router_state_in_the_caches_redis(
        config_dir: Path, server: dict[str, int], shared: bool) -> None:
    gateway = yaml.safe_load((config_dir / "gateway.yaml").read_text())
    gateway["server"].update(server)
    (config_dir / "gateway.yaml").write_text(yaml.safe_dump(gateway))
    _, config = generated(config_dir)
    _, base = generated(EXAMPLE_CONFIG)
    router = config["router_settings"]
    added = {k: v for k, v in router.items() if k not in base["router_settings"] or base["router_settings"][k] != v}
    # Cooldowns and allowed-fails counters need only redis_*; rpm/tpm usage is shared only by
    # usage-based-routing-v2 (the example has rate limits). Limits are written as given.
    assert added == ({"redis_host": "127.0.0.1", "redis_port": 6379, "redis_password": "os.environ/REDIS_PASSWORD",
                      "routing_strategy": "usage-based-routing-v2"} if shared else {})
    assert [e["litellm_params"].get("rpm") for e in config["model_list"]] == \
        [e["litellm_params"].get("rpm") for e in base["model_list"]]


def test_shared_state_without_limits_keeps_simple_shuffle(make_config: MakeConfig) -> None:
    config_dir = make_config(mappings="exact_matches: {}\n", gateway="server: {replicas: 3}\ncache: {password_env: null}\n")
    _, config = generated(config_dir)
    router = config["router_settings"]
    assert (router["routing_strategy"], router["redis_host"], router["redis_port"]) == ("simple-shuffle", "127.0.0.1", 6379)
    assert "redis_password" not in router and "enable_pre_call_checks" not in router
