"""The suite's power: for every (simulator type, rule) the simulators can violate, the suite run
against that simulator with ``--violate RULE`` FAILS, on that rule; and the clean simulator passes.
A rule no source supports for the type (advisory, contracts/provenance/<type>.yaml) is reported as a
warning instead, and never fails the run: that is proven the same way.

One simulator per type, its violation mode switched at run time through the control endpoint.
"""

from __future__ import annotations

from typing import Any

import pytest

from contracts.provenance import is_advisory
from contracts.rules import RULES
from contracts.simulators import VIOLATIONS
from contracts.suite import SuiteReport, Target, run_suite

pytestmark = [pytest.mark.contract]

# A seed of its own: the session factory keys simulators by their settings, so no other test
# shares (and reconfigures) these.
POWER_SIM = {"ttft_ms": 1.0, "tpot_ms": 0.5, "seed": 2_718_281}

# Violation modes that, in the simulator, also break a neighbouring rule (reported upstream):
# ndjson-done drops done_reason from the non-streaming answers too, which ollama-chat-schema sees.
KNOWN_SPILLOVER: dict[tuple[str, str], set[str]] = {("ollama", "ndjson-done"): {"ollama-chat-schema"}}

CASES = sorted((provider_type, rule) for provider_type, rules in VIOLATIONS.items() for rule in rules)


def _run(factory: Any, provider_type: str, violations: list[str]) -> SuiteReport:
    sim = factory(provider_type, **POWER_SIM)
    sim.control(violations=violations)
    try:
        return run_suite(Target(provider_type, sim.url))
    finally:
        sim.control(violations=[])


def test_every_violation_mode_names_a_catalogue_rule_of_its_type() -> None:
    for provider_type, rule in CASES:
        assert provider_type in RULES[rule].applies_to, (provider_type, rule)


@pytest.mark.parametrize("provider_type", sorted(VIOLATIONS))
def test_clean_simulator_passes(session_simulator_factory: Any, provider_type: str) -> None:
    report = _run(session_simulator_factory, provider_type, [])
    assert report.violations == []
    # Warnings only of advisory rules: llama-server, and so its simulator, serves stream_options
    # without stream (by design; no source makes that a violation).
    assert {w.rule for w in report.warnings} <= {r for r in RULES if is_advisory(provider_type, r)}


@pytest.mark.parametrize(("provider_type", "rule"), CASES, ids=[f"{t}-{r}" for t, r in CASES])
def test_suite_fails_on_the_violated_rule(session_simulator_factory: Any, provider_type: str, rule: str) -> None:
    report = _run(session_simulator_factory, provider_type, [rule])
    if is_advisory(provider_type, rule):
        # No source makes it a rule of this type: seen, reported as a warning, never a failure.
        assert rule in {w.rule for w in report.warnings}, f"the suite missed the advisory {rule} on {provider_type}"
        assert report.ok, "\n".join(str(v) for v in report.violations)
        return
    assert rule in report.violated_rules, f"the suite missed {rule} on {provider_type}"
    # ...and on nothing else: a check that fires on the wrong rule proves nothing.
    others = report.violated_rules - {rule} - KNOWN_SPILLOVER.get((provider_type, rule), set())
    assert others == set(), "\n".join(str(v) for v in report.violations if v.rule in others)
    # every failure shows the exchange behind it
    assert all(v.exchange is not None for v in report.violations), [str(v) for v in report.violations if v.exchange is None]
