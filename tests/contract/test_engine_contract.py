"""The contract suite against the REAL llama.cpp servers (llama-server and llama-cpp-python)
serving the tiny random-weight model: every check of each type, ``aibackend contract --target
TYPE=URL`` exiting 0, and seeded fuzzing.

Where a real server breaks its contract, its spec (contracts/specs/<type>.yaml, via
contracts/specbuilder/<type>.py) records the deviation in ``x-known-deviations``, with the evidence;
docs/llama-cpp.md says which were spec errors (fixed) and which are the server's. Each recorded
deviation must be OBSERVED here: a stale record fails as surely as an unrecorded violation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer
from contracts.fuzz import fuzz_target
from contracts.suite import CheckOutcome, Target, checks_for, known_deviations, open_probe, run_check

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.xdist_group("engine-contract")]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")
FUZZ_EXAMPLES = 6
FUZZ_SEED = 20240611

CASES = [pytest.param(kind, check.name, id=f"{kind}-{check.name}") for kind in ENGINE_KINDS for check in checks_for(kind)]

Where = tuple[str, str, str]  # rule, endpoint, case (the violation's `expected`)


def _recorded(kind: str, check: str) -> list[Where]:
    """The x-known-deviations entries of ``kind``'s spec for one suite check."""
    return sorted((d["rule"], d["endpoint"], d["case"]) for d in known_deviations(kind) if d["check"] == check)


def _engine(request: pytest.FixtureRequest, kind: EngineKind) -> EngineServer:
    server: EngineServer = request.getfixturevalue(f"{kind}_engine")
    return server


@pytest.mark.parametrize(("kind", "check_name"), CASES)
def test_real_engine_meets_its_contract(request: pytest.FixtureRequest, kind: EngineKind, check_name: str) -> None:
    engine = _engine(request, kind)
    check = next(c for c in checks_for(kind) if c.name == check_name)
    probe = open_probe(Target(kind, engine.base_url))
    try:
        outcome = run_check(probe, check)
    finally:
        probe.client.close()
    assert outcome.violations == [], "\n".join(str(v) for v in outcome.violations)
    # Exactly the deviations recorded for this check were seen: none missing, none stale.
    seen = sorted((k.violation.rule, k.violation.endpoint, k.violation.expected) for k in outcome.known)
    assert seen == _recorded(kind, check_name)


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_contract_command_against_the_real_engine(request: pytest.FixtureRequest, kind: EngineKind) -> None:
    """Exit 0, every check passes, and every recorded suite deviation is reported as known."""
    engine = _engine(request, kind)
    result = subprocess.run(
        [AIBACKEND, "contract", "--target", f"{kind}={engine.base_url}", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    report = json.loads(result.stdout)
    (target,) = report["targets"]
    failed = {c["name"] for c in target["checks"] if not c["ok"]}
    assert (result.returncode, failed, target["violations"]) == (0, set(), []), result.stdout
    assert target["model"] == engine.model_alias  # discovered from the real /v1/models
    assert [c["name"] for c in target["checks"]] == [c.name for c in checks_for(kind)]
    reported = sorted((k["rule"], k["endpoint"], k["expected"]) for k in target["known_deviations"])
    suite_records = [w for check in checks_for(kind) for w in _recorded(kind, check.name)]
    assert reported == sorted(suite_records)
    assert {k["server"] for k in target["known_deviations"]} == {
        "llama_cpp": {"llama.cpp as vendored by llama-cpp-python 0.3.36"},
        "llama_cpp_python": {"llama-cpp-python 0.3.36"},
    }[kind]


def _with_exchanges(outcomes: list[CheckOutcome]) -> list[str]:
    """Each finding with the exchange that shows it: a failure a person can judge from the log."""
    return [
        "\n    ".join([f"{o.check}: {v}", *(v.exchange.lines() if v.exchange else [])])
        for o in outcomes for v in o.violations
    ]


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_fuzzing_the_real_engine_finds_only_known_deviations(request: pytest.FixtureRequest, kind: EngineKind) -> None:
    engine = _engine(request, kind)
    outcomes = fuzz_target(Target(kind, engine.base_url), engine.model_alias, examples=FUZZ_EXAMPLES, seed=FUZZ_SEED)
    found = [f"{o.check}: {v}" for o in outcomes for v in o.violations]
    assert found == [], "\n".join(_with_exchanges(outcomes))
    # The seeded run does meet recorded deviations (each excused finding matched one exactly:
    # contracts/suite/deviations.py, excuses); a run meeting none would prove nothing about the records.
    excused = sorted({(o.check, k.violation.rule) for o in outcomes for k in o.known})
    assert excused != [], "fuzzing the real engine met none of its recorded deviations"
