"""The real LiteLLM gateway in front of the REAL llama.cpp engines (tiny random-weight model).

Ground truth for "which backend answered": the ``x-litellm-model-api-base`` header, and the text
itself: at temperature 0 the engine is deterministic, so a completion through the gateway must be
byte-identical to the same request sent to the engine directly, with the same usage.

Fallback: each engine's alias falls back to a llama_cpp simulator. Stopping the real engine sends
traffic to the simulator (counted there); restarting it on the same port brings traffic back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer, engine_unavailable_reason
from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from generator.net import free_port
from tests.integration.helpers import api_base_of, model_counts
from tests.plugins.engines import EngineFactory, require_engine
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.xdist_group("engine-gateway"),
]

BACKEND_MODEL = "tiny-llama"
GROUP = {"llama_cpp": "tiny-native", "llama_cpp_python": "tiny-python"}
PROMPT = "Tell me about llamas."
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 12}


@pytest.fixture(scope="module")
def engines(module_engine_factory: EngineFactory) -> dict[EngineKind, EngineServer]:
    """The engines built here (a test of a missing one skips); the fallback test updates it."""
    return {
        kind: module_engine_factory(kind, alias=BACKEND_MODEL)
        for kind in ENGINE_KINDS
        if engine_unavailable_reason(kind) is None
    }


def _engine(engines: dict[EngineKind, EngineServer], kind: EngineKind) -> EngineServer:
    if kind not in engines:
        require_engine(kind)
    return engines[kind]


def _base_url(engines: dict[EngineKind, EngineServer], kind: EngineKind) -> str:
    # An engine that is not built gets a port nothing listens on: its group exists, its tests skip.
    return engines[kind].base_url if kind in engines else f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def fallback_sim() -> Iterator[RunningSimulator]:
    sim = start_simulator(SimulatorConfig(type="llama_cpp", models=[BACKEND_MODEL], ttft_ms=2, tpot_ms=1, output_tokens=8))
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def gateway(
    engines: dict[EngineKind, EngineServer],
    fallback_sim: RunningSimulator,
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    providers: dict[str, Any] = {
        f"engine-{kind}": {"type": kind, "base_url": _base_url(engines, kind), "status": "active", "models": [BACKEND_MODEL]}
        for kind in ENGINE_KINDS
    }
    providers["stand-in"] = {"type": "llama_cpp", "base_url": fallback_sim.url, "status": "active", "models": [BACKEND_MODEL]}
    exact = {group: {"provider": f"engine-{kind}", "backend_model": BACKEND_MODEL} for kind, group in GROUP.items()}
    exact["tiny-stand-in"] = {"provider": "stand-in", "backend_model": BACKEND_MODEL}
    config_dir = write_sources(
        tmp_path_factory.mktemp("engine-gateway") / "config",
        providers=providers,
        mappings={
            "exact_matches": exact,
            "fallback_chains": {group: {"chain": ["tiny-stand-in"]} for group in GROUP.values()},
        },
        gateway={"reliability": {"num_retries": 0, "allowed_fails": 1000, "cooldown_time": 1, "timeout": 30,
                                 "stream_timeout": 30, "request_timeout": 60}},
    )
    return module_gateway_factory(config_dir)


def _chat_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], **GREEDY, **extra}


def _direct(engine: EngineServer) -> dict[str, Any]:
    response = httpx.post(f"{engine.base_url}/v1/chat/completions", json=_chat_body(BACKEND_MODEL), timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_the_gateway_routes_to_the_real_engine(
    gateway: RunningGateway, engines: dict[EngineKind, EngineServer], fallback_sim: RunningSimulator, kind: EngineKind
) -> None:
    engine = _engine(engines, kind)
    before = model_counts(fallback_sim)
    response = gateway.client.post("/v1/chat/completions", json=_chat_body(GROUP[kind]))
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == f"{engine.base_url}/v1"
    through = response.json()
    direct = _direct(engine)
    assert through["choices"][0]["message"]["content"] == direct["choices"][0]["message"]["content"]
    assert through["choices"][0]["finish_reason"] == direct["choices"][0]["finish_reason"] == "length"
    counts = ("prompt_tokens", "completion_tokens", "total_tokens")
    # (prompt_tokens_details.cached_tokens differs: the second, direct call hits the prompt cache)
    assert {k: through["usage"][k] for k in counts} == {k: direct["usage"][k] for k in counts}
    assert through["usage"]["completion_tokens"] == GREEDY["max_tokens"]
    if kind == "llama_cpp":  # the engine's own figure: tokens it actually predicted
        assert direct["timings"]["predicted_n"] == GREEDY["max_tokens"]
    assert model_counts(fallback_sim) == before


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_a_stream_through_the_gateway_carries_the_engine_text(
    gateway: RunningGateway, engines: dict[EngineKind, EngineServer], kind: EngineKind
) -> None:
    _engine(engines, kind)
    body = _chat_body(GROUP[kind], stream=True, stream_options={"include_usage": True})
    with gateway.client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert gateway.api_base(response) == f"{engines[kind].base_url}/v1"
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    text = "".join((c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks if c.get("choices"))
    direct = _direct(engines[kind])
    assert text == direct["choices"][0]["message"]["content"]
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert len(usage) == 1
    if kind == "llama_cpp":
        # llama-server honours include_usage: the gateway passes the engine's own counts on.
        assert usage[0]["completion_tokens"] == direct["usage"]["completion_tokens"] == GREEDY["max_tokens"]
        assert usage[0]["prompt_tokens"] == direct["usage"]["prompt_tokens"]
    else:
        # llama-cpp-python ignores include_usage, so the usage chunk is LiteLLM's own count of
        # the text (docs/llama-cpp.md): the engine's stream has none.
        assert _direct_stream_usage(engines[kind]) == []


def _direct_stream_usage(engine: EngineServer) -> list[Any]:
    body = _chat_body(BACKEND_MODEL, stream=True, stream_options={"include_usage": True})
    with httpx.stream("POST", f"{engine.base_url}/v1/chat/completions", json=body, timeout=60) as response:
        payloads = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return [json.loads(p)["usage"] for p in payloads[:-1] if json.loads(p).get("usage")]


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_a_stopped_engine_falls_back_to_the_simulator_and_traffic_returns_after_restart(
    gateway: RunningGateway,
    engines: dict[EngineKind, EngineServer],
    fallback_sim: RunningSimulator,
    module_engine_factory: EngineFactory,
    kind: EngineKind,
) -> None:
    engine = _engine(engines, kind)
    before = model_counts(fallback_sim).get(BACKEND_MODEL, 0)
    engine.stop()

    response = gateway.chat(GROUP[kind], PROMPT)
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == api_base_of(fallback_sim)
    assert model_counts(fallback_sim).get(BACKEND_MODEL, 0) == before + 1

    restarted = module_engine_factory(kind, alias=BACKEND_MODEL, port=engine.port)
    engines[kind] = restarted
    response = gateway.client.post("/v1/chat/completions", json=_chat_body(GROUP[kind]))
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == f"{restarted.base_url}/v1"
    assert response.json()["choices"][0]["message"]["content"] == _direct(restarted)["choices"][0]["message"]["content"]
    assert model_counts(fallback_sim).get(BACKEND_MODEL, 0) == before + 1
