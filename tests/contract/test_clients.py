"""The official clients against every simulator and the real llama.cpp engines: the pinned ``openai``
SDK (constraints.txt) on every OpenAI-compatible surface, the ``ollama`` Python client on Ollama's
native API. Each session (tests/client_views.py) covers the models list, chat and completions,
plain and streamed with ``stream_options.include_usage``, usage, and errors as the clients raise
them (exception class and status code; the SDK without retries, which would hide a 5xx).

Where a real server differs from OpenAI, the simulator does the same, and the table says why:

* llama-server and llama-cpp-python serve ONE model under any name: an unknown model is answered.
* llama-cpp-python ignores ``stream_options``: no usage chunk, so the SDK's stream has no usage.
* llama-cpp-python answers a request-validation error with 500 (RouteErrorHandler): the SDK raises
  InternalServerError where the others raise BadRequestError.

The two llama.cpp types are held to more: the same session against the real engine on every tiny
model and against its simulator (told what the model writes) must look identical to the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer
from contracts.engines.tiny_model import ENGINE_TEST_MODELS, SIMULATOR_SETTINGS
from contracts.simulators import SimulatorConfig, start_simulator
from contracts.simulators.config import DEFAULT_MODELS
from tests.client_views import MAX_TOKENS, ollama_view, openai_view
from tests.plugins.engines import TinyModels, engines_serving
from tests.plugins.simulators import SimulatorFactory

pytestmark = [pytest.mark.contract]

FAST = {"ttft_ms": 0.0, "tpot_ms": 0.0, "output_tokens": 64}
USAGE = {"completion_tokens": MAX_TOKENS, "sums_up": True}
STREAM_USAGE = {"usage": "last", "final_usage": USAGE}
NO_STREAM_USAGE = {"usage": None, "final_usage": None}


def _openai_expected(provider_type: str) -> dict[str, Any]:
    chat_stream: dict[str, Any] = {"object": ["chat.completion.chunk"], "text": True, "finish_reasons": ["length"]}
    completion_stream: dict[str, Any] = {"object": ["text_completion"], "text": True, "finish_reasons": ["length"]}
    # llama-cpp-python ignores stream_options (llama_cpp/server/app.py never reads it): no usage chunk.
    stream_usage = NO_STREAM_USAGE if provider_type == "llama_cpp_python" else STREAM_USAGE
    one_model = provider_type in ("llama_cpp", "llama_cpp_python")
    return {
        "models": [DEFAULT_MODELS[provider_type]],
        "chat": {"object": "chat.completion", "role": "assistant", "text": True, "finish_reason": "length", "usage": USAGE},
        "completion": {"object": "text_completion", "text": True, "finish_reason": "length", "usage": USAGE},
        "chat-stream": {**chat_stream, **stream_usage},
        "completion-stream": {**completion_stream, **stream_usage},
        # One model per server, under any name (llama-server: --alias is only what it reports).
        "unknown-model": {"served": "chat.completion"} if one_model else {"raises": "NotFoundError", "status": 404},
        # `messages` as a string: llama-cpp-python's pydantic error becomes a 500 (a known deviation).
        "bad-request": ({"raises": "InternalServerError", "status": 500} if provider_type == "llama_cpp_python"
                        else {"raises": "BadRequestError", "status": 400}),
    }


@pytest.mark.parametrize("provider_type", ["openai", "vllm", "llama_cpp", "llama_cpp_python", "ollama"])
def test_the_openai_sdk_drives_every_simulator(session_simulator_factory: SimulatorFactory, provider_type: str) -> None:
    sim = session_simulator_factory(provider_type, **FAST)
    view = openai_view(sim.url, DEFAULT_MODELS[provider_type])
    assert view == _openai_expected(provider_type)


def test_the_ollama_client_drives_the_ollama_simulator(session_simulator_factory: SimulatorFactory) -> None:
    sim = session_simulator_factory("ollama", **FAST)
    model = DEFAULT_MODELS["ollama"]
    native = {"done": 1, "last_done": True, "done_reason": "length", "eval_count": MAX_TOKENS, "text": True}
    assert ollama_view(sim.url, model) == {
        "list": [model],
        "show": {"has_details": True},
        "chat": {"role": "assistant", "text": True, "done": True, "done_reason": "length", "eval_count": MAX_TOKENS,
                 "durations": True},
        "chat-stream": native,
        "generate": {"text": True, "done": True, "done_reason": "length", "eval_count": MAX_TOKENS},
        "generate-stream": native,
        "ps": [model],  # loaded by the requests above, as Ollama does
        "unknown-model": {"raises": "ResponseError", "status": 404},
    }


# --- the real engines: the client cannot tell the simulator from the server -------------------------

MODELS = [pytest.param(name, id=name, marks=pytest.mark.xdist_group(f"engine-clients-{name}")) for name in ENGINE_TEST_MODELS]


@pytest.fixture(scope="module", params=MODELS)
def engines(request: pytest.FixtureRequest, tiny_models: TinyModels,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[EngineKind, EngineServer]]]:
    with engines_serving(tmp_path_factory, tiny_models(request.param), alias="tiny-llama") as servers:
        yield request.param, servers


@pytest.mark.slow
@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_the_openai_sdk_sees_the_real_engine_as_its_simulator(engines: tuple[str, dict[EngineKind, EngineServer]],
                                                             kind: EngineKind) -> None:
    model, servers = engines
    real = openai_view(servers[kind].base_url, "tiny-llama")
    sim = start_simulator(SimulatorConfig(type=kind, models=["tiny-llama"], ttft_ms=0, tpot_ms=0, **SIMULATOR_SETTINGS[model]))
    try:
        simulated = openai_view(sim.url, "tiny-llama")
    finally:
        sim.stop()
    assert simulated == real
    # ...and the session did exercise the server: answers, and the llama.cpp ways of the table above.
    assert real["models"] == ["tiny-llama"] and real["unknown-model"] == {"served": "chat.completion"}
    assert real["chat"]["finish_reason"] == ("stop" if model == "eos" else "length")
