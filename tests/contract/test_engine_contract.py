"""The contract suite against the REAL llama.cpp servers (llama-server and llama-cpp-python)
serving the tiny random-weight model: every check of each type, and the operator's command
``aibackend contract --target TYPE=URL`` exiting 0.

A failure here means the spec (contracts/specs/<type>.yaml, via contracts/specbuilder.py) or the
suite is wrong about the real server, or the server deviates; docs/llama-cpp.md records which,
with the evidence.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer
from contracts.suite import Target, checks_for, open_probe, run_check

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.xdist_group("engine-contract")]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")
CASES = [(kind, check.name) for kind in ENGINE_KINDS for check in checks_for(kind)]


def _engine(request: pytest.FixtureRequest, kind: EngineKind) -> EngineServer:
    server: EngineServer = request.getfixturevalue(f"{kind}_engine")
    return server


@pytest.mark.parametrize(("kind", "check_name"), CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_real_engine_meets_its_contract(request: pytest.FixtureRequest, kind: EngineKind, check_name: str) -> None:
    engine = _engine(request, kind)
    check = next(c for c in checks_for(kind) if c.name == check_name)
    probe = open_probe(Target(kind, engine.base_url))
    try:
        outcome = run_check(probe, check)
    finally:
        probe.client.close()
    assert outcome.violations == [], "\n".join(str(v) for v in outcome.violations)


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_contract_command_passes_against_the_real_engine(request: pytest.FixtureRequest, kind: EngineKind) -> None:
    engine = _engine(request, kind)
    result = subprocess.run(
        [AIBACKEND, "contract", "--target", f"{kind}={engine.base_url}", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    report = json.loads(result.stdout)
    (target,) = report["targets"]
    assert (result.returncode, target["violations"]) == (0, []), result.stdout
    assert target["model"] == engine.model_alias  # discovered from the real /v1/models
    assert [c["name"] for c in target["checks"]] == [c.name for c in checks_for(kind)]
    assert all(c["ok"] for c in target["checks"])
