"""Every rule of every contract has provenance: each status code, required field, enum/const and
bound of each spec cites its source (``x-sources``), each (rule, type) of the catalogue cites its
sources or says why none supports it (advisory: warnings only), and every citation, recorded
exchange and pattern named is real. ``aibackend contract --explain RULE`` prints the same."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from contracts.explain import explain
from contracts.provenance import load_provenance, spec_items
from contracts.rules import RULES
from contracts.specbuilder import BUILDERS, build_spec
from contracts.upstream.sources import CITATIONS
from generator.providers import contract_types

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("provider_type", contract_types())
def test_every_spec_item_cites_its_source(provider_type: str) -> None:
    provenance = load_provenance(provider_type)
    missing = [item for item, _, _ in spec_items(BUILDERS[provider_type]()) if provenance.sources(item) is None]
    assert missing == [], f"{provider_type}: items without a source (contracts/provenance/{provider_type}.yaml)"


@pytest.mark.parametrize("provider_type", contract_types())
def test_the_generated_spec_carries_the_sources(provider_type: str) -> None:
    spec = build_spec(provider_type)
    for item, node, aspect in spec_items(spec):
        sources = node.get("x-sources")
        cited = sources if aspect == "status" else (sources or {}).get(aspect)
        assert cited, f"{provider_type}: {item} has no x-sources"
        assert set(cited) <= set(spec["x-citations"]), item
    assert set(spec["x-rules"]) == {r for r, rule in RULES.items() if provider_type in rule.applies_to}


@pytest.mark.parametrize("provider_type", contract_types())
def test_every_pattern_matches_an_item(provider_type: str) -> None:
    items = [item for item, _, _ in spec_items(BUILDERS[provider_type]())]
    stale = [e.match for e in load_provenance(provider_type).items if not any(fnmatch.fnmatchcase(i, e.match) for i in items)]
    assert stale == [], f"{provider_type}: patterns matching nothing"


@pytest.mark.parametrize("provider_type", contract_types())
def test_every_rule_of_the_type_has_provenance(provider_type: str) -> None:
    rules = load_provenance(provider_type).rules
    applies = {r for r, rule in RULES.items() if provider_type in rule.applies_to}
    assert set(rules) == applies, "rules without provenance, or provenance of rules the type does not have"
    for rule_id, entry in rules.items():
        assert entry.cites or entry.advisory, f"{provider_type} {rule_id}: no source and not advisory"
        for citation in [*entry.cites, *entry.not_checked.values()]:
            assert citation in CITATIONS, f"{provider_type} {rule_id}: unknown citation {citation}"
        assert not entry.not_checked or rule_id in ("missing-field", "invalid-param"), rule_id


@pytest.mark.parametrize("provider_type", contract_types())
def test_every_known_deviation_names_a_recorded_exchange(provider_type: str) -> None:
    for deviation in build_spec(provider_type).get("x-known-deviations", []):
        if "exchange" in deviation:
            document = json.loads((ROOT / "fixtures" / "exchanges" / deviation["exchange"]).read_text(encoding="utf-8"))
            assert document["response"]["status"] in (200, deviation["match"].get("status", 200)), deviation["exchange"]


def test_explain_names_every_type_of_a_rule_and_its_sources() -> None:
    text = explain("missing-field")
    for provider_type in contract_types():
        if provider_type in RULES["missing-field"].applies_to:
            assert f"\n{provider_type} (" in text
    assert "vllm==0.34.0 vllm/entrypoints/serve/engine/serving.py:" in text  # not checked: model optional
    assert "openai (advisory" in text
    assert "ollama/ollama@v0.32.15" in explain("health", ["ollama"])
