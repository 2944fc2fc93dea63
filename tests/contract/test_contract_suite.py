"""The contract suite: one test per (target, check). Against the simulators by default; against
live servers with --target TYPE=URL / --providers-file PATH (see tests/contract/conftest.py)."""

from __future__ import annotations

import pytest

from contracts.suite import Check, Probe, run_check

pytestmark = [pytest.mark.contract]


def test_contract(contract_case: tuple[Probe, Check]) -> None:
    probe, check = contract_case
    outcome = run_check(probe, check)
    assert outcome.violations == [], "\n".join(str(v) for v in outcome.violations)
