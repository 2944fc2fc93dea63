"""The contract suite: every check of a contract type, runnable outside pytest.

``run_suite(target)`` sends the requests of every check that applies to ``target.type`` and
returns a ``SuiteReport`` whose ``violations`` name the broken rules (ids of
``contracts/rules.py``) and whose ``known_deviations`` are the violations the type's spec records
for its real server. The pytest modules ``tests/contract/test_contract_*.py`` parametrise over
``checks_for(type)`` (one test per check and target), ``aibackend contract`` runs them all. What a
correct answer is comes from the type's spec (``contracts/specs/<type>.yaml``) and, for streams,
from ``contracts/streaming.py``.

The modules, one job each (this package re-exports what callers use):

- ``probe``: ``Target`` (what to check) and ``Probe`` (what every check is given);
- ``check``: ``Check``, ``declare_check`` and the helpers checks judge answers with;
- ``openai_family``: the checks of the OpenAI-compatible ``/v1`` surface (and those types' health);
- ``ollama_family``: the checks of Ollama's native ``/api`` surface;
- ``deviations``: matching a violation against the spec's ``x-known-deviations``;
- ``runner``: the catalogue (``CHECKS``, ``checks_for``), ``run_check``, ``run_suite``, ``SuiteReport``.
"""

from __future__ import annotations

from contracts.suite.check import UNKNOWN_MODEL, Check
from contracts.suite.deviations import KnownDeviation, Observation, excuses, find_deviation, known_deviations
from contracts.suite.probe import Probe, Target
from contracts.suite.runner import (
    CHECKS,
    CheckOutcome,
    SuiteReport,
    checks_for,
    discover_model,
    open_probe,
    run_check,
    run_suite,
)

__all__ = [
    "CHECKS",
    "UNKNOWN_MODEL",
    "Check",
    "CheckOutcome",
    "KnownDeviation",
    "Observation",
    "Probe",
    "SuiteReport",
    "Target",
    "checks_for",
    "discover_model",
    "excuses",
    "find_deviation",
    "known_deviations",
    "open_probe",
    "run_check",
    "run_suite",
]
