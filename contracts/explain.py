"""``aibackend contract --explain RULE``: a rule, what checks it and how, and where it comes from
for each contract type (contracts/provenance/<type>.yaml, citations of contracts/upstream/)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from contracts.provenance import rule_provenance
from contracts.rules import RULES
from contracts.suite.runner import CHECKS
from contracts.upstream.sources import CITATIONS
from generator.errors import UsageError
from generator.providers import contract_types

__all__ = ["explain"]

WIDTH = 100


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ") or [indent]


def _citation(citation_id: str, indent: str) -> list[str]:
    citation = CITATIONS[citation_id]
    lines = [f"{indent}{citation.where()}"]
    if citation.quote is not None:
        lines.append(f"{indent}  quote: {citation.quote.strip()}")
    return lines + _wrap(f"says: {citation.says}", indent + "  ")


def _one(rule_id: str, types: Iterable[str]) -> list[str]:
    rule = RULES[rule_id]
    lines = [f"{rule_id}: {rule.summary}"]
    checks = [c for c in CHECKS if rule_id in c.rules]
    if checks:
        lines.append("checked by:")
        for name in dict.fromkeys(c.name for c in checks):
            description = next(c.description for c in checks if c.name == name)
            lines += _wrap(f"{name}" + (f": {description}" if description else ""), "  ")
    for provider_type in types:
        if provider_type not in rule.applies_to:
            continue
        entry = rule_provenance(provider_type, rule_id)
        if entry is None:
            lines.append(f"{provider_type}: NO PROVENANCE (tests/unit/test_provenance.py fails)")
            continue
        status = "advisory: its violations are warnings, never failures" if entry.advisory else "enforced"
        lines.append(f"{provider_type} ({status})")
        if entry.advisory:
            lines += _wrap(f"why advisory: {entry.advisory}", "  ")
        if entry.note:
            lines += _wrap(f"note: {entry.note}", "  ")
        for citation_id in entry.cites:
            lines += _citation(citation_id, "  ")
        for case, citation_id in entry.not_checked.items():
            lines.append(f"  not checked for {provider_type}: {case!r}, because")
            lines += _citation(citation_id, "    ")
    return lines


def explain(rule: str, types: Iterable[str] | None = None) -> str:
    """The explanation of ``rule`` (or of every rule: ``all``) for ``types`` (default: every type)."""
    wanted = list(types) if types is not None else list(contract_types())
    if rule == "all":
        return "\n\n".join("\n".join(_one(r, wanted)) for r in RULES)
    if rule not in RULES:
        raise UsageError(f"no contract rule {rule!r}", hint=f"use `all` or one of: {', '.join(RULES)}")
    return "\n".join(_one(rule, wanted))
