"""Targets of the contract suite: simulators by default, live servers with ``--target TYPE=URL``
(repeatable) or ``--providers-file PATH``; ``--model`` and ``--api-key-env`` apply to live ones.

Tests ask for ``contract_target`` (parametrised over every target) or ``contract_case``
(parametrised over every (target, check) pair) and get a ``Target`` / ``(Probe, Check)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts.suite import Check, Probe, Target, checks_for, open_probe
from contracts.targets import api_key_from_env, parse_target, targets_from_providers_file
from generator.errors import AibackendError, ConfigInvalid
from generator.providers import simulated_types

# The contract suite's own simulators: fast, and a seed no other test uses, so the session
# factory never hands them to a test that reconfigures its simulators with control().
CONTRACT_SIM = {"ttft_ms": 1.0, "tpot_ms": 0.5, "seed": 3_141_592}


@dataclass(frozen=True)
class TargetSpec:
    """What to check: a simulator to start (``url`` None) or a live server."""

    type: str
    id: str
    url: str | None = None
    simulator: str | None = None  # the simulator type serving it (Ollama's /v1 is checked as openai)
    model: str | None = None
    api_key_env: str | None = None


def _live_specs(config: pytest.Config) -> list[TargetSpec]:
    model = config.getoption("--model")
    key_env = config.getoption("--api-key-env")
    specs = []
    for raw in config.getoption("--target"):
        target = parse_target(raw, model=model)
        specs.append(TargetSpec(target.type, f"live-{raw}", url=target.url, model=model, api_key_env=key_env))
    providers_file = config.getoption("--providers-file")
    if providers_file:
        for target in targets_from_providers_file(Path(providers_file), model=model, api_key_env=key_env):
            specs.append(TargetSpec(target.type, f"provider-{target.name}", url=target.url, model=target.model, api_key_env=key_env))
    return specs


def target_specs(config: pytest.Config) -> list[TargetSpec]:
    try:
        live = _live_specs(config)
    except AibackendError as exc:  # a bad --target / --providers-file: say so, no traceback
        located = [d.format() for d in exc.diagnostics] if isinstance(exc, ConfigInvalid) else []
        raise pytest.UsageError("\n".join([*located, str(exc)])) from exc
    if live:
        return live
    specs = [TargetSpec(t, f"sim-{t}", simulator=t) for t in simulated_types()]
    specs.append(TargetSpec("openai", "sim-ollama-v1-as-openai", simulator="ollama"))
    return specs


def pytest_configure(config: pytest.Config) -> None:
    target_specs(config)  # a bad --target / --providers-file stops the run before collection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    specs = target_specs(metafunc.config)
    if "contract_case" in metafunc.fixturenames:
        pairs = [(spec, check) for spec in specs for check in checks_for(spec.type)]
        metafunc.parametrize(
            "contract_case", pairs, ids=[f"{spec.id}::{check.name}" for spec, check in pairs], indirect=True
        )
    elif "contract_target" in metafunc.fixturenames:
        metafunc.parametrize("contract_target", specs, ids=[spec.id for spec in specs], indirect=True)


def _resolve(spec: TargetSpec, factory: Any) -> Target:
    if spec.url is None:
        assert spec.simulator is not None
        sim = factory(spec.simulator, **CONTRACT_SIM)
        return Target(spec.type, sim.url, name=spec.id)
    key = api_key_from_env(spec.api_key_env, spec.type)
    return Target(spec.type, spec.url, model=spec.model, api_key=key, name=spec.id)


@pytest.fixture(scope="session")
def _contract_probes(session_simulator_factory: Any) -> Iterator[dict[TargetSpec, Probe]]:
    probes: dict[TargetSpec, Probe] = {}
    yield probes
    for probe in probes.values():
        probe.client.close()


@pytest.fixture
def contract_target(request: pytest.FixtureRequest, session_simulator_factory: Any) -> Target:
    spec: TargetSpec = request.param
    return _resolve(spec, session_simulator_factory)


@pytest.fixture
def contract_case(
    request: pytest.FixtureRequest, session_simulator_factory: Any, _contract_probes: dict[TargetSpec, Probe]
) -> tuple[Probe, Check]:
    spec, check = request.param
    probe = _contract_probes.get(spec)
    if probe is None:
        probe = _contract_probes[spec] = open_probe(_resolve(spec, session_simulator_factory))
    return probe, check
