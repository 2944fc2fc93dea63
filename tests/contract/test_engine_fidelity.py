"""Simulator fidelity: the same scripted scenario against the REAL llama.cpp server and against
the simulator personality of its type, compared point by point (contracts/engines/fidelity.py).

Run on every tiny model (contracts/engines/tiny_model.py): a byte-level vocabulary (characters
over several tokens), a 150k vocabulary, a model that ends early on EOS, multi-byte text. The
simulator is told what the model writes (``SIMULATOR_SETTINGS``: how long its answers are, how many
tokens a character takes), never how the server behaves.

Steps: health during start-up, /v1/models, chat and completion (plain and streamed, with and
without stream_options.include_usage: the chunk sequence, the usage), and error bodies for bad
input. A difference is a simulator defect to fix, unless ``KNOWN_DIFFERENCES`` accepts it with a
reason (today it accepts none), and every listed entry must still be needed: the table cannot go
stale either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts.engines.fidelity import (
    MAX_TOKENS,
    Difference,
    Shape,
    compare,
    observe_startup,
    run_scenario,
    startup_states,
    unexplained,
    unused_known,
)
from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer
from contracts.engines.tiny_model import ENGINE_TEST_MODELS, SIMULATOR_SETTINGS
from contracts.simulators import SimulatorConfig, start_simulator
from tests.plugins.engines import EngineFactory, TinyModels

pytestmark = [pytest.mark.contract, pytest.mark.slow]

ALIAS = "tiny-llama"
HAPPY_STEPS = ("models", "chat", "chat-stream", "chat-stream-usage", "completion", "completion-stream")
START_ATTEMPTS = 5  # llama-server loads the tiny model in milliseconds: retry to catch its 503
RUNS = [
    pytest.param((model, kind), id=f"{model}-{kind}", marks=pytest.mark.xdist_group(f"engine-fidelity-{model}"))
    for model in ENGINE_TEST_MODELS
    for kind in ENGINE_KINDS
]


@dataclass(frozen=True)
class Run:
    model: str
    kind: EngineKind
    real: dict[str, Shape]
    simulator: dict[str, Shape]
    real_startup: list[str]
    simulator_startup: list[str]

    @property
    def differences(self) -> list[Difference]:
        return compare(self.real, self.simulator)


def _start_real(kind: EngineKind, factory: EngineFactory, model: Path) -> EngineServer:
    """Start the real server; for llama-server, until a start-up showed the loading state."""
    for _ in range(START_ATTEMPTS):
        server = factory(kind, model=model, alias=ALIAS)
        states = startup_states(server.startup, kind)
        if kind != "llama_cpp" or any(state.startswith("503 ") for state in states):
            return server
        server.stop()
    pytest.fail(f"llama-server never answered 503 while loading in {START_ATTEMPTS} start-ups")


@pytest.fixture(scope="module", params=RUNS)
def run(request: pytest.FixtureRequest, module_engine_factory: EngineFactory, tiny_models: TinyModels) -> Iterator[Run]:
    model: str
    kind: EngineKind
    model, kind = request.param
    server = _start_real(kind, module_engine_factory, tiny_models(model))
    real = run_scenario(server.base_url, kind, ALIAS)
    real_startup = startup_states(server.startup, kind)
    server.stop()
    sim = start_simulator(SimulatorConfig(
        type=kind, models=[ALIAS], ttft_ms=1, tpot_ms=1, tokens_per_chunk=1, loading_s=1.0,
        **SIMULATOR_SETTINGS[model],
    ))
    try:
        path = "/health" if kind == "llama_cpp" else "/v1/models"
        simulator_startup = startup_states(observe_startup("127.0.0.1", sim.port, path), kind)
        simulated = run_scenario(sim.url, kind, ALIAS)
    finally:
        sim.stop()
    yield Run(model, kind, real, simulated, real_startup, simulator_startup)


def test_the_real_server_answered_the_scenario(run: Run) -> None:
    # Guards the comparison: two servers that both fail every step would "agree".
    assert {step: run.real[step]["status"] for step in HAPPY_STEPS} == dict.fromkeys(HAPPY_STEPS, 200)
    if run.model != "eos":
        assert run.real["chat"]["body.usage.completion_tokens"] == MAX_TOKENS
    stream = run.real["chat-stream"]
    assert stream[f"event[{stream['events'] - 1}]"] == "[DONE]"


def test_start_up_is_seen_the_same_way(run: Run) -> None:
    if run.kind == "llama_cpp":
        assert run.real_startup == [
            '503 application/json {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}',
            '200 application/json {"status": "ok"}',
        ]
    else:
        assert run.real_startup == [
            "connection refused",
            '200 application/json {"data": [{"id": "tiny-llama", "object": "model", "owned_by": "me", '
            '"permissions": []}], "object": "list"}',
        ]
    assert run.simulator_startup == run.real_startup


def test_every_difference_is_known(run: Run) -> None:
    problems = unexplained(run.differences, run.kind)
    assert problems == [], f"{len(problems)} unexplained difference(s), real vs simulator:\n" + "\n".join(
        str(d) for d in problems
    )


def test_every_known_difference_still_occurs(run: Run) -> None:
    stale = unused_known(run.differences, run.kind)
    assert stale == [], "listed but no longer observed (delete from KNOWN_DIFFERENCES):\n" + "\n".join(
        f"{k.step} {k.path}: {k.reason}" for k in stale
    )
