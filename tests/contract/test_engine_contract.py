"""The contract suite against the REAL llama.cpp servers (llama-server and llama-cpp-python)
serving each tiny random-weight model (contracts/engines/tiny_model.py: ascii, bytes, large-vocab,
eos, multibyte): every check of each type, ``aibackend contract --target TYPE=URL`` exiting 0, and
seeded fuzzing. No false alarm on any model.

Where a real server breaks its contract, its spec (contracts/specs/<type>.yaml, via
contracts/specbuilder/<type>.py) records the deviation in ``x-known-deviations``, with the evidence;
docs/llama-cpp.md says which were spec errors (fixed) and which are the server's. Each recorded
deviation must be OBSERVED here: a stale record fails as surely as an unrecorded violation. Records
of a rule in ``MODEL_DEPENDENT`` depend on what the model writes (llama-cpp-python's max_tokens
overrun needs a character spread over several tokens): they must be met exactly by the checks
``MEETS`` lists for the model, and never elsewhere.

One xdist group per model: its two servers start once per module on one worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer
from contracts.engines.tiny_model import ENGINE_TEST_MODELS
from contracts.fuzz import fuzz_target
from contracts.suite import CheckOutcome, Target, checks_for, known_deviations, open_probe, run_check
from tests.plugins.engines import TinyModels, engines_serving

pytestmark = [pytest.mark.contract, pytest.mark.slow]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")
FUZZ_EXAMPLES = 6
FUZZ_SEED = 20240611
# Rules whose records of a type depend on what the model writes, and the checks that meet them per
# model. The bytes model writes 2-byte characters one token per byte, so the suite's max_tokens 3
# always ends inside one, which llama-cpp-python finishes (4 tokens, seen in usage); its records for
# content chunks need text that is not UTF-8 (random-bytes, test_engine_overrun.py), none of these.
MODEL_DEPENDENT: dict[EngineKind, frozenset[str]] = {"llama_cpp_python": frozenset({"max-tokens"})}
MEETS: dict[tuple[EngineKind, str], frozenset[str]] = {("llama_cpp_python", "bytes"): frozenset({"chat", "completion"})}

MODELS = [pytest.param(name, id=name, marks=pytest.mark.xdist_group(f"engine-contract-{name}")) for name in ENGINE_TEST_MODELS]
CHECKS = [pytest.param(kind, check.name, id=f"{kind}-{check.name}") for kind in ENGINE_KINDS for check in checks_for(kind)]

Where = tuple[str, str, str]  # rule, endpoint, case (the violation's `expected`)


@pytest.fixture(scope="module", params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def engines(model: str, tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[EngineKind, EngineServer]]:
    with engines_serving(tmp_path_factory, tiny_models(model)) as servers:
        yield servers


def _where(record: dict[str, Any]) -> Where:
    return record["rule"], record["endpoint"], record["case"]


def _records(kind: EngineKind, checks: set[str]) -> list[dict[str, Any]]:
    """The x-known-deviations entries of ``kind``'s spec for these checks."""
    return [d for d in known_deviations(kind) if d["check"] in checks]


def _judge_known(kind: EngineKind, model: str, checks: set[str], seen: list[Where]) -> None:
    """Exactly the records of these checks that ``model`` meets were met: none missing, none stale."""
    met = MEETS.get((kind, model), frozenset())
    expected = [_where(d) for d in _records(kind, checks)
                if d["rule"] not in MODEL_DEPENDENT.get(kind, frozenset()) or d["check"] in met]
    assert sorted(seen) == sorted(expected)


@pytest.mark.parametrize(("kind", "check_name"), CHECKS)
def test_real_engine_meets_its_contract(engines: dict[EngineKind, EngineServer], model: str, kind: EngineKind, check_name: str) -> None:
    engine = engines[kind]
    check = next(c for c in checks_for(kind) if c.name == check_name)
    probe = open_probe(Target(kind, engine.base_url))
    try:
        outcome = run_check(probe, check)
    finally:
        probe.client.close()
    assert outcome.violations == [], "\n".join(str(v) for v in outcome.violations)
    # Exactly the deviations recorded for this check were seen: none missing, none stale.
    _judge_known(kind, model, {check_name}, [(k.violation.rule, k.violation.endpoint, k.violation.expected) for k in outcome.known])


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_contract_command_against_the_real_engine(engines: dict[EngineKind, EngineServer], model: str, kind: EngineKind) -> None:
    """Exit 0, every check passes, and every recorded suite deviation is reported as known."""
    engine = engines[kind]
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
    _judge_known(kind, model, {c.name for c in checks_for(kind)},
                 [(k["rule"], k["endpoint"], k["expected"]) for k in target["known_deviations"]])
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
def test_fuzzing_the_real_engine_finds_only_known_deviations(engines: dict[EngineKind, EngineServer], kind: EngineKind) -> None:
    engine = engines[kind]
    outcomes = fuzz_target(Target(kind, engine.base_url), engine.model_alias, examples=FUZZ_EXAMPLES, seed=FUZZ_SEED)
    found = [f"{o.check}: {v}" for o in outcomes for v in o.violations]
    assert found == [], "\n".join(_with_exchanges(outcomes))
    # The seeded run does meet recorded deviations (each excused finding matched one exactly:
    # contracts/suite/deviations.py, excuses); a run meeting none would prove nothing about the records.
    excused = sorted({(o.check, k.violation.rule) for o in outcomes for k in o.known})
    assert excused != [], "fuzzing the real engine met none of its recorded deviations"
