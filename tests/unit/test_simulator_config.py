"""SimulatorConfig validation, run-time changes, the CLI round trip and the violation catalogue."""

from __future__ import annotations

import argparse
import math

import pytest

from contracts.rules import RULES, rules_for
from contracts.simulators import PROVIDER_TYPES, VIOLATION_EFFECTS, VIOLATIONS, ConfigError, SimulatorConfig
from contracts.simulators import cli as simulate

pytestmark = [pytest.mark.unit]


def test_defaults_name_a_model_per_type() -> None:
    assert {t: SimulatorConfig(type=t).models for t in PROVIDER_TYPES} == {
        "ollama": ["llama3.2:latest"],
        "vllm": ["Qwen/Qwen2.5-0.5B-Instruct"],
        "llama_cpp": ["qwen2.5-0.5b-instruct-q4_k_m.gguf"],
        "llama_cpp_python": ["qwen2.5-0.5b-instruct-q4_k_m.gguf"],
        "openai": ["gpt-4o-mini"],
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(type="tgi"), "type: unknown provider type 'tgi'; choose one of llama_cpp, llama_cpp_python, ollama, openai, vllm"),
        (dict(type="llama_cpp", models=["a", "b"]), "models: llama_cpp serves exactly one model (got 2: ['a', 'b'])"),
        (dict(models=["a", "a"]), "models: duplicate model names in ['a', 'a']"),
        (dict(tpot_ms=-1.0), "tpot_ms: must be a finite number >= 0 (got -1.0)"),
        (dict(slots=0), "slots: must be an integer >= 1 (got 0)"),
        (dict(error_rate=1.5), "error_rate: must be between 0 and 1 (got 1.5)"),
        (dict(error_status=200), "error_status: must be an HTTP error status 400-599 (got 200)"),
        (dict(malformed_chunk=-2), "malformed_chunk: must be an integer >= 0 or null (got -2)"),
        (dict(type="openai", violations=["health"]),
         "violations: 'health' is not a violation mode of the openai simulator; available: "
         + ", ".join(sorted(VIOLATIONS["openai"]))),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SimulatorConfig(**fields)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_with_changes_validates_and_converts() -> None:
    config = SimulatorConfig(type="vllm")
    changed = config.with_changes({"tpot_ms": 3, "hang_before_headers_s": "inf", "violations": ["sse-done"]})
    assert (changed.tpot_ms, changed.hang_before_headers_s, changed.violations) == (3.0, math.inf, ["sse-done"])
    assert config.tpot_ms == 5.0  # a copy: the running config changes only when the server applies it
    with pytest.raises(ConfigError, match=r"^unknown or read-only field\(s\): port, typo; changeable: seed, "):
        config.with_changes({"port": 1, "typo": 2})
    with pytest.raises(ConfigError, match=r"^slots: must be an integer >= 1"):
        config.with_changes({"slots": 0})
    assert changed.as_dict()["hang_before_headers_s"] == "inf"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(argv)


def test_to_argv_round_trips_through_the_cli() -> None:
    config = SimulatorConfig(
        type="ollama", models=["a:1", "b"], port=0, seed=4, ttft_ms=7.5, tpot_ms=2.0, jitter_ms=1.0,
        tokens_per_chunk=3, slots=2, output_tokens=9, error_rate=0.25, error_status=429, stall_after_chunks=2,
        stall_s=0.5, hang_before_headers_s=math.inf, refuse_connections=True, violations=["ndjson-done", "health"],
    )
    rebuilt = simulate.config_from_args(_parse(config.to_argv()))
    assert rebuilt == config


def test_cli_defaults_to_the_real_servers_ports() -> None:
    ports = {t: simulate.config_from_args(_parse([t])).port for t in PROVIDER_TYPES}  # type: ignore[attr-defined]
    assert ports == {"ollama": 11434, "vllm": 8000, "llama_cpp": 8080, "llama_cpp_python": 8000, "openai": 8000}


def test_every_violation_mode_is_a_rule_of_its_type_and_described() -> None:
    for provider_type, modes in VIOLATIONS.items():
        applicable = {rule.id for rule in rules_for(provider_type)}
        assert modes <= applicable, (provider_type, modes - applicable)
        assert modes <= set(VIOLATION_EFFECTS)
    assert set(VIOLATION_EFFECTS) <= set(RULES)


def test_rules_without_a_violation_mode_are_exactly_the_documented_exceptions() -> None:
    missing = {t: {r.id for r in rules_for(t)} - VIOLATIONS[t] for t in PROVIDER_TYPES}
    assert missing == {
        "openai": set(),  # a generic OpenAI server has no health endpoint: not in its contract
        "vllm": set(),
        "llama_cpp": set(),
        # llama-cpp-python (no health endpoint, no stream_options: neither in its contract) ignores
        # stream_options, so it cannot be made to send usage
        "llama_cpp_python": {"sse-usage"},
        "ollama": set(),
    }
    # Every rule of the catalogue is violable by at least one simulator type (litellm is the gateway).
    assert set().union(*VIOLATIONS.values()) == set(RULES)
