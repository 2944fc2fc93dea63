"""Layer 2: schema errors name file, dotted key path and line, and suggest the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.diagnostics import Diagnostic
from generator.load import load_sources
from tests.plugins.configs import MakeConfig

pytestmark = pytest.mark.unit

OLLAMA = """
providers:
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434
    models:
      - llama3.1:8b
"""
MAPPINGS = """
exact_matches: {}
"""


def diagnostics_for(config: Path) -> list[Diagnostic]:
    result = load_sources(config)
    assert result.sources is None, "expected the config to be rejected"
    return result.diagnostics


def test_example_config_loads_cleanly(config_dir: Path) -> None:
    result = load_sources(config_dir)
    assert result.diagnostics == []
    assert result.sources is not None
    ollama = result.sources.providers.providers["ollama"]
    assert [m.name for m in ollama.models] == ["llama3.1:8b", "qwen2.5-coder:7b", "mythomax-l2-13b-q5_k_m"]
    assert ollama.models[2].context_length is None  # the plain string form is just a name
    assert result.sources.gateway.server.port == 4000


def test_misspelled_key_suggests_the_known_one(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA.replace("base_url", "base_ulr"), mappings=MAPPINGS)
    # the typo explains the missing base_url: one diagnostic, not two
    assert diagnostics_for(config) == [
        Diagnostic(
            code="unknown-key",
            message="unknown key `base_ulr`, did you mean `base_url`?",
            file=str(config / "providers.yaml"),
            path="providers.ollama.base_ulr",
            line=4,
            hint="rename it to `base_url`",
        ),
    ]


def test_a_missing_key_without_a_typo_is_reported(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA.replace("    base_url: http://127.0.0.1:11434\n", ""), mappings=MAPPINGS)
    assert diagnostics_for(config) == [
        Diagnostic(
            code="missing-key",
            message="missing required key `base_url`",
            file=str(config / "providers.yaml"),
            path="providers.ollama.base_url",
            line=2,
            hint="add `base_url:` here (see the example config)",
        ),
    ]


def test_unknown_key_in_nested_model_entry(make_config: MakeConfig) -> None:
    providers = OLLAMA.replace("      - llama3.1:8b", "      - name: llama3.1:8b\n        context_lenght: 8192")
    config = make_config(providers=providers, mappings=MAPPINGS)
    [d] = diagnostics_for(config)
    assert (d.code, d.path, d.line) == ("unknown-key", "providers.ollama.models[0].context_lenght", 7)
    assert d.message == "unknown key `context_lenght`, did you mean `context_length`?"


def test_unknown_key_in_mappings_and_gateway(make_config: MakeConfig) -> None:
    config = make_config(
        providers=OLLAMA,
        mappings="fallback_chain:\n  a: {chain: [b]}\n",
        gateway="reliability:\n  num_retrys: 3\n",
    )
    assert [(d.file.rsplit("/", 1)[-1], d.path, d.line, d.message) for d in diagnostics_for(config)] == [
        ("gateway.yaml", "reliability.num_retrys", 2, "unknown key `num_retrys`, did you mean `num_retries`?"),
        ("model-mappings.yaml", "fallback_chain", 1, "unknown key `fallback_chain`, did you mean `fallback_chains`?"),
    ]


def test_unknown_provider_type_suggests(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA.replace("type: ollama", "type: vlm"), mappings=MAPPINGS)
    assert diagnostics_for(config) == [
        Diagnostic(
            code="unknown-provider-type",
            message="unknown provider type 'vlm'",
            file=str(config / "providers.yaml"),
            path="providers.ollama.type",
            line=3,
            hint="did you mean 'vllm'? known types: anthropic, llama_cpp, llama_cpp_python, ollama, openai, vllm",
        )
    ]


def test_invalid_status_lists_the_allowed_values(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA.replace("    models:", "    status: actve\n    models:"), mappings=MAPPINGS)
    [d] = diagnostics_for(config)
    assert (d.code, d.path, d.line) == ("invalid-value", "providers.ollama.status", 5)
    assert d.message == "'actve' is not allowed; expected 'active', 'disabled' or 'template'"
    assert d.hint == "did you mean 'active'?"


def test_wrong_type_shows_the_value(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA, mappings=MAPPINGS, gateway="server:\n  port: four-thousand\n")
    [d] = diagnostics_for(config)
    assert (d.path, d.line) == ("server.port", 2)
    assert d.message == "Input should be a valid integer, unable to parse string as an integer, got 'four-thousand'"


def test_bad_url(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA.replace("http://127.0.0.1:11434", "127.0.0.1:11434"), mappings=MAPPINGS)
    [d] = diagnostics_for(config)
    assert (d.path, d.line) == ("providers.ollama.base_url", 4)
    assert d.message == "'127.0.0.1:11434' is not an http(s) URL like http://127.0.0.1:11434"


def test_secret_value_in_an_env_field(make_config: MakeConfig) -> None:
    providers = OLLAMA.replace("    models:", "    api_key_env: sk-live-1234567890abcdef\n    models:")
    config = make_config(providers=providers, mappings=MAPPINGS)
    [d] = diagnostics_for(config)
    assert (d.code, d.path, d.line) == ("invalid-env-name", "providers.ollama.api_key_env", 5)
    assert d.message == "'sk-live-1234567890abcdef' is not an environment variable name"
    assert d.hint == "give the NAME of a variable (letters, digits, _), not its value: secrets never go in these files"


def test_empty_models_list(make_config: MakeConfig) -> None:
    config = make_config(providers=OLLAMA.replace("      - llama3.1:8b", "").replace("models:", "models: []"),
                         mappings=MAPPINGS)
    [d] = diagnostics_for(config)
    assert (d.code, d.path, d.message) == ("empty-value", "providers.ollama.models", "must not be empty")


def test_providers_must_not_be_empty(make_config: MakeConfig) -> None:
    config = make_config(providers="providers: {}\n", mappings=MAPPINGS)
    [d] = diagnostics_for(config)
    assert (d.code, d.path, d.line) == ("invalid-value", "providers", 1)


def test_gateway_yaml_is_optional_with_the_documented_defaults(make_config: MakeConfig) -> None:
    result = load_sources(make_config(providers=OLLAMA, mappings=MAPPINGS, gateway=None))
    assert result.diagnostics == [] and result.sources is not None
    gateway = result.sources.gateway
    # alerts/monitoring/deploy defaults are pinned in tests/unit/test_observability.py
    assert gateway.model_dump(exclude={"alerts", "monitoring", "deploy"}) == {
        "server": {"host": "127.0.0.1", "port": 4000, "workers": 1, "replicas": 1,
                   "master_key_env": "LITELLM_MASTER_KEY"},
        "reliability": {"num_retries": 2, "allowed_fails": 5, "cooldown_time": 60, "timeout": 30,
                        "stream_timeout": 120, "request_timeout": 60},
        "cache": {"enabled": True, "type": "redis", "host": "127.0.0.1", "port": 6379,
                  "password_env": "REDIS_PASSWORD", "ttl": 3600, "namespace": None},
        "observability": {"prometheus": True, "json_logs": True},
        "backups": {"keep": 10},
        "rate_limit_defaults": {},
    }


def test_example_gateway_yaml_equals_the_defaults(config_dir: Path, make_config: MakeConfig) -> None:
    with_file = load_sources(config_dir).sources
    without = load_sources(make_config(gateway=None)).sources
    assert with_file is not None and without is not None
    assert with_file.gateway == without.gateway


def test_errors_in_all_three_files_are_reported_together(make_config: MakeConfig) -> None:
    config = make_config(providers="providers: [\n", mappings="a: b: c\n", gateway="server:\n\thost: x\n")
    codes = [(d.file.rsplit("/", 1)[-1], d.code) for d in diagnostics_for(config)]
    # sorted by file, then line
    assert codes == [("gateway.yaml", "yaml-tab"), ("model-mappings.yaml", "yaml-syntax"),
                     ("providers.yaml", "yaml-syntax")]
