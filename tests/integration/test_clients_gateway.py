"""The official ``openai`` SDK (pinned: constraints.txt) against the REAL LiteLLM gateway in front
of a simulator of every type and the two real llama.cpp engines: what a user's application sees.

Through the gateway every backend looks like OpenAI: the same parsed objects, finish reasons and
usage, and the gateway's own errors (an unknown model group and a wrong key are LiteLLM's 400s).
Where a backend differs, the gateway shows it or hides it, and the test says which:

* llama-cpp-python sends no usage chunk (it ignores stream_options): LiteLLM adds its own usage
  chunk, counted from the text (docs/llama-cpp.md, deviation 6), so the client still gets one.
* a parameter the backend rejects comes back with the backend's status class (llama-cpp-python's
  500 for a validation error stays a 500: openai.InternalServerError); one llama-server accepts
  (clamps) is served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from contracts.engines.llama_servers import EngineKind, EngineServer
from contracts.simulators import RunningSimulator
from tests.client_views import MAX_TOKENS, openai_view
from tests.integration.helpers import started_simulators
from tests.plugins.engines import TinyModels, engines_serving
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.requires_litellm,
              pytest.mark.xdist_group("clients-gateway")]

# group -> (provider type, backend model); one simulator per type and the real engines.
SIMULATED = {"sim-openai": ("openai", "gpt-4o-mini"), "sim-vllm": ("vllm", "Qwen/Qwen2.5-0.5B-Instruct"),
             "sim-llama-cpp": ("llama_cpp", "tiny-llama"), "sim-llama-cpp-python": ("llama_cpp_python", "tiny-llama"),
             "sim-ollama": ("ollama", "llama3.2:latest")}
ENGINES: dict[str, EngineKind] = {"engine-llama-cpp": "llama_cpp", "engine-llama-cpp-python": "llama_cpp_python"}
OPENAI_KEY_ENV = "CLIENT_TEST_OPENAI_KEY"
USAGE = {"completion_tokens": MAX_TOKENS, "sums_up": True}

# What the SDK sees for every group: OpenAI's objects whatever the backend.
EXPECTED: dict[str, Any] = {
    "chat": {"object": "chat.completion", "role": "assistant", "text": True, "finish_reason": "length", "usage": USAGE},
    "completion": {"object": "text_completion", "text": True, "finish_reason": "length", "usage": USAGE},
    "chat-stream": {"object": ["chat.completion.chunk"], "text": True, "finish_reasons": ["length"], "usage": "last",
                    "final_usage": USAGE},
    "completion-stream": {"object": ["text_completion"], "text": True, "finish_reasons": ["length"], "usage": "last",
                          "final_usage": USAGE},
    # LiteLLM checks the model group before any backend: a 400 (ProxyModelNotFoundError), not a 404.
    "unknown-model": {"raises": "BadRequestError", "status": 400},
}
# A parameter out of range (top_p 1.5) reaches the backend: its own answer, through the gateway.
BAD_REQUEST: dict[str, Any] = {
    "sim-openai": {"raises": "BadRequestError", "status": 400},
    "sim-vllm": {"raises": "BadRequestError", "status": 400},
    # llama-server clamps top_p and answers (its known deviation, docs/llama-cpp.md).
    "sim-llama-cpp": {"served": "chat.completion"},
    "engine-llama-cpp": {"served": "chat.completion"},
    # llama-cpp-python's validation error is a 500 (RouteErrorHandler, a known deviation): the SDK's
    # InternalServerError (with max_retries=0; by default the SDK would retry it twice).
    "sim-llama-cpp-python": {"raises": "InternalServerError", "status": 500},
    "engine-llama-cpp-python": {"raises": "InternalServerError", "status": 500},
    # LiteLLM talks to Ollama through /api/chat, whose options Ollama passes to its llama-server
    # unchecked (llm/llama_server.go, v0.32.15), which clamps them.
    "sim-ollama": {"served": "chat.completion"},
}
# llama-cpp-python sends no usage in a stream: the usage chunk the SDK gets is LiteLLM's own count
# of the streamed text (docs/llama-cpp.md, deviation 6), not max_tokens.
LITELLM_COUNTS = frozenset({"sim-llama-cpp-python", "engine-llama-cpp-python"})


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators({group: (t, [m]) for group, (t, m) in SIMULATED.items()}, output_tokens=64) as sims:
        yield sims


@pytest.fixture(scope="module")
def engines(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[EngineKind, EngineServer]]:
    with engines_serving(tmp_path_factory, tiny_models("ascii")) as servers:
        yield servers


@pytest.fixture(scope="module")
def gateway(simulators: dict[str, RunningSimulator], engines: dict[EngineKind, EngineServer],
            module_gateway_factory: Callable[..., RunningGateway], tmp_path_factory: pytest.TempPathFactory) -> RunningGateway:
    providers: dict[str, Any] = {}
    for group, (provider_type, model) in SIMULATED.items():
        url = simulators[group].url + ("/v1" if provider_type == "openai" else "")
        providers[group] = {"type": provider_type, "base_url": url, "status": "active", "models": [model]}
        if provider_type == "openai":
            providers[group]["api_key_env"] = OPENAI_KEY_ENV
    for group, kind in ENGINES.items():
        providers[group] = {"type": kind, "base_url": engines[kind].base_url, "status": "active", "models": ["tiny-llama"]}
    models = {group: (SIMULATED[group][1] if group in SIMULATED else "tiny-llama") for group in providers}
    config_dir: Path = write_sources(
        tmp_path_factory.mktemp("clients-gateway") / "config",
        providers=providers,
        mappings={"exact_matches": {group: {"provider": group, "backend_model": models[group]} for group in providers}},
        gateway={"reliability": {"num_retries": 0, "allowed_fails": 1000, "cooldown_time": 1, "timeout": 30,
                                 "stream_timeout": 30, "request_timeout": 60}},
    )
    return module_gateway_factory(config_dir, env={OPENAI_KEY_ENV: "sk-simulated-openai"})


@pytest.mark.parametrize("group", [*SIMULATED, *ENGINES])
def test_the_sdk_sees_openai_through_the_gateway(gateway: RunningGateway, group: str) -> None:
    view = openai_view(gateway.url, group, api_key=gateway.key, bad_request={"top_p": 1.5})
    # The model groups, and each backend model name as its own group (the generator's default routes).
    assert view["models"] == sorted({*SIMULATED, *ENGINES, *(model for _type, model in SIMULATED.values()), "tiny-llama"})
    if group in LITELLM_COUNTS:
        for stream in ("chat-stream", "completion-stream"):
            counted = view[stream]["final_usage"]
            assert isinstance(counted["completion_tokens"], int) and counted["completion_tokens"] > 0, counted
            counted["completion_tokens"] = MAX_TOKENS  # LiteLLM's count of the text, whatever it is
    assert {k: v for k, v in view.items() if k not in ("models", "bad-request")} == EXPECTED
    assert view["bad-request"] == BAD_REQUEST[group]


def test_a_wrong_key_is_refused_as_a_bad_request(gateway: RunningGateway) -> None:
    # Not openai.AuthenticationError: LiteLLM 1.106.2 without a database looks a key that is not the
    # master key up as a virtual key and answers 400 "No connected db." (docs/gateway.md).
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    with client, pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="sim-vllm", messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    assert raised.value.status_code == 400
    assert isinstance(raised.value.body, dict) and raised.value.body["message"] == "No connected db."
