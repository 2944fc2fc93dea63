"""Layers 3-5: every cross-file rule, accepted and rejected, with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.checks import check_environment, check_ports, scan_secrets
from generator.layers import COMPILE, CRITICAL
from generator.load import load_sources
from generator.pipeline import build
from tests.plugins.configs import MakeConfig

pytestmark = pytest.mark.unit

PROVIDERS = """
providers:
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434
    models:
      - llama3.1:8b
      - qwen2.5-coder:7b
  vllm:
    type: vllm
    base_url: http://127.0.0.1:8001
    models:
      - Qwen/Qwen2.5-Coder-7B-Instruct-AWQ
  old:
    type: vllm
    base_url: http://127.0.0.1:8002
    status: disabled
    models:
      - dolphin
"""


def found(config: Path, *, critical: bool = True) -> list[tuple[str, str, str, int | None, str]]:
    """(severity, code, path, line, message) of every diagnostic."""
    result = build(config, layers=CRITICAL if critical else COMPILE, render=False, environ={})
    return [(d.severity, d.code, d.path, d.line, d.message) for d in result.diagnostics]


def hints(config: Path) -> list[str | None]:
    return [d.hint for d in build(config, layers=CRITICAL, render=False).diagnostics]


def test_example_config_is_valid_with_no_consistency_findings(config_dir: Path) -> None:
    assert found(config_dir) == []


def test_valid_minimal_config(make_config: MakeConfig) -> None:
    assert found(make_config(providers=PROVIDERS, mappings="exact_matches: {}\n", gateway=None)) == []


def test_unknown_provider_in_alias(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        exact_matches:
          chat:
            provider: olama
            backend_model: llama3.1:8b
        """)
    assert found(config) == [("error", "unknown-provider", "exact_matches.chat.provider", 3, "unknown provider `olama`")]
    assert hints(config) == ["did you mean `ollama`? providers: ollama, vllm, old"]


def test_backend_model_not_served(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        exact_matches:
          chat: {provider: ollama, backend_model: "llama3.1:8"}
        """)
    assert found(config) == [
        ("error", "unknown-backend-model", "exact_matches.chat.backend_model", 2,
         "backend_model `llama3.1:8` is not served by provider `ollama`")
    ]
    assert hints(config) == ["did you mean `llama3.1:8b`? `ollama` serves: llama3.1:8b, qwen2.5-coder:7b"]


def test_fallback_target_that_does_not_exist_is_an_error(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        fallback_chains:
          "llama3.1:8b":
            chain: ["qwen2.5-coder:7b", "gpt-5"]
        """)
    assert found(config) == [
        ("error", "unknown-model", "fallback_chains.llama3.1:8b.chain[1]", 3,
         "fallback target `gpt-5` is not a model, alias or capability"),
    ]


def test_fallback_source_must_exist(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="fallback_chains:\n  nothing: {chain: ['llama3.1:8b']}\n")
    assert found(config) == [
        ("error", "unknown-model", "fallback_chains.nothing", 2,
         "fallback source `nothing` is not a model, alias or capability")
    ]


def test_fallback_cycle_reports_the_whole_path(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        exact_matches:
          a: {provider: ollama, backend_model: "llama3.1:8b"}
          b: {provider: ollama, backend_model: "qwen2.5-coder:7b"}
          c: {provider: vllm, backend_model: Qwen/Qwen2.5-Coder-7B-Instruct-AWQ}
        fallback_chains:
          a: {chain: [b]}
          b: {chain: [c]}
          c: {chain: ["llama3.1:8b", a]}
        """)
    result = build(config, layers=CRITICAL, render=False)
    assert [d.to_json() for d in result.diagnostics] == [
        {"code": "fallback-cycle", "file": str(config / "model-mappings.yaml"), "path": "fallback_chains.c.chain[1]",
         "line": 8, "message": "fallback cycle a -> b -> c -> a", "hint": "remove c's fallback to a"}
    ]
    assert result.text is None


def test_two_node_cycle_matches_the_documented_json(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        exact_matches:
          a: {provider: ollama, backend_model: "llama3.1:8b"}
          b: {provider: ollama, backend_model: "qwen2.5-coder:7b"}
        fallback_chains:
          a:
            chain: [b]
          b:
            chain: [a]
        """)
    [d] = build(config, layers=CRITICAL, render=False).diagnostics
    assert (d.code, d.path, d.message, d.hint) == (
        "fallback-cycle", "fallback_chains.b.chain[0]", "fallback cycle a -> b -> a", "remove b's fallback to a")


def test_self_reference_and_duplicates_in_a_chain(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        fallback_chains:
          "llama3.1:8b":
            chain: ["llama3.1:8b", "qwen2.5-coder:7b", "qwen2.5-coder:7b"]
        """)
    assert found(config) == [
        ("error", "fallback-self-reference", "fallback_chains.llama3.1:8b.chain[0]", 3, "`llama3.1:8b` falls back to itself"),
        ("error", "fallback-duplicate", "fallback_chains.llama3.1:8b.chain[2]", 3,
         "`qwen2.5-coder:7b` appears twice in the fallback chain of `llama3.1:8b`"),
    ]


def test_fallback_to_a_disabled_provider_warns_and_is_left_out(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        fallback_chains:
          "llama3.1:8b":
            chain: [dolphin, "qwen2.5-coder:7b"]
        """, gateway=None)
    result = build(config, layers=CRITICAL, commit="none")
    assert [(d.severity, d.code, d.path, d.message) for d in result.diagnostics] == [
        ("warning", "fallback-to-inactive", "fallback_chains.llama3.1:8b.chain[0]",
         "`dolphin` is served only by a disabled provider `old`; it is left out of the fallback chain of `llama3.1:8b`")
    ]
    assert result.config is not None
    assert result.config["router_settings"]["fallbacks"] == [{"llama3.1:8b": ["qwen2.5-coder:7b"]}]


def test_invalid_regex_and_pattern_matching_nothing(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        patterns:
          - pattern: "^Qwen/(.*"
            provider: vllm
          - pattern: "^mistral-.*"
            provider: ollama
          - pattern: "^Qwen/.*"
            provider: vllm
        """)
    assert found(config) == [
        ("error", "invalid-regex", "patterns[0].pattern", 2,
         "pattern '^Qwen/(.*' is not a valid regular expression: missing ), unterminated subpattern at position 6"),
        ("warning", "pattern-matches-nothing", "patterns[1].pattern", 4,
         "pattern '^mistral-.*' matches no model name in providers.yaml"),
    ]


def test_pattern_resolution_is_reported(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="patterns:\n  - {pattern: '^Qwen/.*', provider: vllm}\n")
    routes = build(config, layers=CRITICAL).routes
    assert routes is not None
    [resolution] = routes.patterns
    assert (resolution.pattern, resolution.provider, resolution.names) == (
        "^Qwen/.*", "vllm", ("Qwen/Qwen2.5-Coder-7B-Instruct-AWQ",))
    assert routes.groups["Qwen/Qwen2.5-Coder-7B-Instruct-AWQ"].kind == "pattern"


def test_capability_references(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        capabilities:
          coding:
            preferred_models: [qwen-coder, "qwen2.5-coder:7b"]
          dead:
            preferred_models: [dolphin]
        """)
    assert found(config) == [
        ("error", "unknown-model", "capabilities.coding.preferred_models[0]", 3,
         "preferred model `qwen-coder` is not a model, alias or capability"),
        ("error", "capability-unavailable", "capabilities.dead.preferred_models", 5,
         "capability `dead` has no available preferred model"),
        ("warning", "inactive-model", "capabilities.dead.preferred_models[0]", 5,
         "`dolphin` is served only by a disabled provider `old`; it is left out of capability `dead`"),
    ]


def test_a_name_that_is_both_alias_and_capability(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="""
        exact_matches:
          chat: {provider: ollama, backend_model: "llama3.1:8b"}
        capabilities:
          chat: {preferred_models: ["llama3.1:8b"]}
        """)
    assert found(config) == [
        ("error", "alias-capability-clash", "capabilities.chat", 4, "`chat` is both an exact_matches alias and a capability"),
    ]


def test_model_served_by_several_providers_warns_how_to_disambiguate(make_config: MakeConfig) -> None:
    providers = PROVIDERS + """
  ollama2:
    type: ollama
    base_url: http://127.0.0.1:11435
    models: ["llama3.1:8b"]
"""
    config = make_config(providers=providers, mappings="exact_matches: {}\n")
    result = build(config, layers=CRITICAL, render=False)
    [d] = result.diagnostics
    assert (d.severity, d.code, d.path, d.line) == ("warning", "ambiguous-model", "providers.ollama.models[0]", 6)
    assert d.message == ("model `llama3.1:8b` is served by several active providers (ollama, ollama2); "
                         "requests for it are load-balanced across them")
    assert d.hint == ("to pin it to one, add an exact_matches alias or a pattern naming the provider "
                      "(e.g. provider: ollama)")


def test_default_provider_must_exist_and_be_active(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="routing_rules:\n  default_provider: old\n")
    assert found(config) == [
        ("error", "inactive-provider", "routing_rules.default_provider", 2, "provider `old` is disabled")
    ]
    config = make_config(providers=PROVIDERS, mappings="routing_rules:\n  default_provider: nope\n")
    assert found(config)[0][:2] == ("error", "unknown-provider")


def test_non_positive_limits_and_timeouts(make_config: MakeConfig) -> None:
    config = make_config(
        providers=PROVIDERS,
        mappings="rate_limits:\n  'llama3.1:8b': {rpm: 0, tpm: -5}\n",
        gateway="reliability:\n  timeout: 0\n  stream_timeout: -1\ncache:\n  ttl: 0\n",
    )
    assert found(config) == [
        ("error", "non-positive-timeout", "reliability.timeout", 2, "timeout must be positive, got 0"),
        ("error", "non-positive-timeout", "reliability.stream_timeout", 3, "stream_timeout must be positive, got -1"),
        ("error", "non-positive-timeout", "cache.ttl", 5, "ttl must be positive, got 0"),
        ("error", "non-positive-limit", "rate_limits.llama3.1:8b.rpm", 2, "rpm must be a positive integer, got 0"),
        ("error", "non-positive-limit", "rate_limits.llama3.1:8b.tpm", 2, "tpm must be a positive integer, got -5"),
    ]


def test_rate_limit_for_an_unknown_model(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="rate_limits:\n  'llama3:8b': {rpm: 5}\n")
    assert found(config) == [
        ("error", "unknown-model", "rate_limits.llama3:8b", 2, "rate-limited model `llama3:8b` is not a model, alias or capability")
    ]


def test_ollama_base_url_with_v1_is_rejected(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS.replace("11434", "11434/v1"), mappings="{}\n")
    assert found(config) == [
        ("error", "base-url-suffix", "providers.ollama.base_url", 4,
         "base_url of ollama provider `ollama` must not end in /v1"),
    ]


def test_unknown_capability_tag_and_duplicate_model(make_config: MakeConfig) -> None:
    providers = PROVIDERS.replace("      - llama3.1:8b\n", "      - {name: 'llama3.1:8b', capabilities: [vision]}\n      - llama3.1:8b\n")
    config = make_config(providers=providers, mappings="{}\n")
    assert found(config) == [
        ("warning", "unknown-capability", "providers.ollama.models[0].capabilities[0]", 6,
         "capability `vision` is not defined in model-mappings.yaml"),
        ("error", "duplicate-model", "providers.ollama.models[1]", 7, "model `llama3.1:8b` is listed twice for provider `ollama`"),
    ]


# --- layer 4: ports ---------------------------------------------------------------------------


def test_two_active_providers_on_one_port(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS.replace("8001", "11434").replace("127.0.0.1:11434\n    models:\n      - Qwen",
                                                                                 "localhost:11434\n    models:\n      - Qwen"),
                         mappings="{}\n", gateway=None)
    sources = load_sources(config).sources
    assert sources is not None
    assert [(d.code, d.path, d.message) for d in check_ports(sources)] == [
        ("port-conflict", "providers.vllm.base_url", "providers `ollama` and `vllm` both use localhost:11434"),
    ]


def test_disabled_providers_may_share_a_port(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS.replace("8002", "8001"), mappings="{}\n", gateway=None)
    sources = load_sources(config).sources
    assert sources is not None and check_ports(sources) == []


def test_gateway_port_against_providers(make_config: MakeConfig) -> None:
    config = make_config(providers=PROVIDERS, mappings="{}\n", gateway="server:\n  port: 8001\n")
    sources = load_sources(config).sources
    assert sources is not None
    assert [(d.code, d.path, d.line, d.message) for d in check_ports(sources)] == [
        ("port-conflict", "server.port", 2, "gateway port 8001 is also provider `vllm`'s port"),
    ]


# --- layer 5: environment and secrets ---------------------------------------------------------


def test_missing_environment_variables_warn(make_config: MakeConfig) -> None:
    providers = PROVIDERS.replace("    base_url: http://127.0.0.1:8001\n",
                                  "    base_url: http://127.0.0.1:8001\n    api_key_env: VLLM_KEY\n")
    config = make_config(providers=providers, mappings="{}\n", gateway=None)
    sources = load_sources(config).sources
    assert sources is not None
    assert [(d.severity, d.path, d.message) for d in check_environment(sources, {})] == [
        ("warning", "providers.vllm.api_key_env",
         "environment variable VLLM_KEY is not set (needed by active provider `vllm`)"),
        ("warning", "server.master_key_env",
         "environment variable LITELLM_MASTER_KEY is not set: the gateway will refuse to start"),
        ("warning", "cache.password_env", "environment variable REDIS_PASSWORD is not set (Redis password)"),
    ]
    environ = {"VLLM_KEY": "x", "LITELLM_MASTER_KEY": "sk-x", "REDIS_PASSWORD": "y"}
    assert check_environment(sources, environ) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    api_key: sk-proj-abcdefghijklmnopqrstuvwx", "`api_key` has a literal value: secrets must not be written in config files"),
        ("    master_key: hunter2hunter2", "`master_key` has a literal value: secrets must not be written in config files"),
        ("    description: token ghp_abcdefghijklmnopqrstuvwxyz0123", "this line contains what looks like a secret (ghp_ab...)"),
        ("    api_key: os.environ/OPENAI_API_KEY", None),
        ("    api_key_env: OPENAI_API_KEY", None),
        ("    description: the password is kept in REDIS_PASSWORD", None),
    ],
)
def test_secret_scan(tmp_path: Path, line: str, expected: str | None) -> None:
    source = tmp_path / "providers.yaml"
    source.write_text(f"providers:\n  x:\n{line}\n", encoding="utf-8")
    result = scan_secrets(source, "providers.yaml")
    if expected is None:
        assert result == []
    else:
        assert [(d.code, d.line, d.message) for d in result] == [("literal-secret", 3, expected)]


def test_a_literal_secret_makes_validation_fail(config_dir: Path) -> None:
    providers = config_dir / "providers.yaml"
    providers.write_text(providers.read_text() + "# old key: sk-abcdefghijklmnopqrstuvwxyz123456\n")
    result = build(config_dir, environ={"LITELLM_MASTER_KEY": "x", "REDIS_PASSWORD": "y"})
    assert [(d.code, d.line) for d in result.diagnostics] == [("literal-secret", 85)]
    assert not result.ok and result.text is None


def test_secret_scan_finds_every_secret_on_its_line_whatever_the_line_breaks(tmp_path: Path) -> None:
    # The scan searches the whole text once and checks only the lines it hits: the lines it names
    # must be those str.splitlines() counts, with \r\n, lone \r, form feeds and unicode breaks.
    secret = "sk-abcdefghijklmnopqrstuvwxyz123456"
    lines = ["providers:", "  x:", f"    api_key: {secret}", "    a: b", f"    c: {secret}", "  # SECRET: hunter2",
             "    Token: hunter2", "    d: AKIAABCDEFGHIJKLMNOP", "    e: akiaabcdefghijklmnop", "    f: x"]
    breaks = ["\r\n", "\r", "\x0c", "\u2028", "\n", "\r\n", "\x85", "\n", "\n"]
    text = "".join(line + brk for line, brk in zip(lines, [*breaks, ""], strict=True))
    source = tmp_path / "providers.yaml"
    source.write_bytes(text.encode("utf-8"))
    found = [(d.line, d.message[:20]) for d in scan_secrets(source, "providers.yaml")]
    # line 6 is a comment naming no value pattern; line 9's lower-case "akia" is not an AWS key
    assert found == [(3, "`api_key` has a lite"), (5, "this line contains w"), (7, "`Token` has a litera"),
                     (8, "this line contains w")]


def test_secret_scan_with_a_character_whose_lower_case_is_longer(tmp_path: Path) -> None:
    # "İ".lower() is two characters: the one-pass search cannot map positions, every line is checked
    source = tmp_path / "providers.yaml"
    source.write_text("providers:\n  x:\n    description: İstanbul\n    api_key: hunter2hunter2\n", encoding="utf-8")
    assert [(d.line, d.code) for d in scan_secrets(source, "providers.yaml")] == [(4, "literal-secret")]
