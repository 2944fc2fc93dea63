"""contracts/ keeps no list of provider types of its own: every list is the provider registry's
(``generator/providers/``), and everything per type that contracts/ must still write by hand (a
spec builder, a simulator personality, an engine launcher) exists for exactly the registry's types."""

from __future__ import annotations

from typing import get_args

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind
from contracts.rules import ALL_TYPES, OLLAMA_NATIVE, OPENAI_LIKE, RULES
from contracts.simulators import DEFAULT_MODELS, PROVIDER_TYPES, VIOLATIONS
from contracts.simulators.config import DEFAULT_PORTS
from contracts.simulators.personalities import personality
from contracts.specbuilder import BUILDERS
from contracts.suite import CHECKS, checks_for
from generator.providers import (
    REGISTRY,
    contract_types,
    engine_types,
    openai_family_contract_types,
    simulated_types,
)

pytestmark = [pytest.mark.unit]


def test_every_contract_type_has_one_spec_builder() -> None:
    assert sorted(BUILDERS) == sorted(contract_types())


def test_every_contract_type_has_checks_and_every_check_a_contract_type() -> None:
    assert [t for t in contract_types() if not checks_for(t)] == []
    assert {t for check in CHECKS for t in check.types} == set(contract_types())


def test_the_rules_families_are_the_registrys() -> None:
    assert openai_family_contract_types() == OPENAI_LIKE
    assert {"ollama"} == OLLAMA_NATIVE
    assert OPENAI_LIKE | OLLAMA_NATIVE == ALL_TYPES == set(contract_types())
    assert all(rule.applies_to <= ALL_TYPES for rule in RULES.values())


def test_every_simulated_type_has_a_personality_a_model_and_its_real_port() -> None:
    assert simulated_types() == PROVIDER_TYPES
    assert set(VIOLATIONS) == set(DEFAULT_MODELS) == set(PROVIDER_TYPES)
    assert all(personality(t) is not None for t in PROVIDER_TYPES)
    assert {t: REGISTRY[t].simulator_port for t in PROVIDER_TYPES} == DEFAULT_PORTS


def test_every_engine_backed_type_has_a_launcher() -> None:
    assert set(engine_types()) <= set(get_args(EngineKind)), "add the type to EngineKind and to _command"
    assert engine_types() == ENGINE_KINDS
