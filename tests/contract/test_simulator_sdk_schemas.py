"""Every OpenAI-compatible simulator's answers validate against the official ``openai`` SDK's own
response models (openai==2.54.0, pinned in constraints.txt: ``openai.types``), not only against the
spec the same hands wrote. Keys a simulator sends that the SDK's models do not declare, and fields
they reject, are reported: for the llama.cpp types they must be exactly those of the real server's
recorded answer (fixtures/exchanges/), for the others exactly the upstream's own, cited.

(vLLM's simulator is also held to vLLM's own models: test_simulator_upstream_schemas.py.)"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import pydantic
import pytest
from openai import BaseModel
from openai.types import Completion, CompletionChoice, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from contracts.exchanges import ENGINE_SERVERS, load_exchange
from contracts.streaming import split_sse

pytestmark = [pytest.mark.contract]

OPENAI_LIKE = ("openai", "vllm", "llama_cpp", "llama_cpp_python")
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
COMPLETION = {"prompt": "hi", "max_tokens": 3}


class _StreamedCompletionChoice(CompletionChoice):
    # The SDK types completions' stream chunks as Completion (resources/completions.py:
    # Stream[Completion]), whose finish_reason is never null; it builds them without validating
    # (_base_client.py _process_response_data: construct_type unless _strict_response_validation,
    # False by default), so the null finish_reason every chunk but the last carries parses.
    finish_reason: Literal["stop", "length", "content_filter"] | None = None  # type: ignore[assignment]


class _StreamedCompletion(Completion):
    choices: list[_StreamedCompletionChoice]  # type: ignore[assignment]


# What each answer is held to: the SDK's model, and the recorded real exchange of the engine types
# (fixtures/exchanges/<type>/<name>.json) whose SDK verdict the simulator must share.
SHAPES: dict[str, tuple[type[BaseModel], str]] = {
    "models": (Model, "models"),
    "chat": (ChatCompletion, "chat"),
    "completion": (Completion, "completion"),
    "chat-stream": (ChatCompletionChunk, "chat-stream"),
    "completion-stream": (_StreamedCompletion, "completion-stream"),
}
# The types without a real engine here: what their upstream sends beyond the SDK's models, cited.
UPSTREAM_EXTRAS: dict[tuple[str, str], set[str]] = {
    # vLLM's ModelCard (vllm==0.34.0 vllm/entrypoints/serve/engine/protocol.py: class ModelCard).
    ("vllm", "models"): {"root", "parent", "max_model_len", "permission"},
}

Verdict = tuple[frozenset[str], frozenset[str]]  # extra keys, fields the SDK's model rejects


def _extra_keys(value: Any, path: str = "") -> set[str]:
    """Keys the SDK's model instance ``value`` kept as extras (``model_extra``), nested ones too."""
    found: set[str] = set()
    if isinstance(value, BaseModel):
        found |= {f"{path}{key}" for key in (value.model_extra or {})}
        for name in type(value).model_fields:
            found |= _extra_keys(getattr(value, name), f"{path}{name}.")
    elif isinstance(value, list):
        for item in value:
            found |= _extra_keys(item, path)
    return found


def _verdict(model: type[BaseModel], documents: list[Any]) -> Verdict:
    """The SDK's verdict on every document: keys it does not declare, and fields it rejects (how)."""
    extra: set[str] = set()
    rejected: set[str] = set()
    for document in documents:
        try:
            extra |= _extra_keys(model.model_validate(document))
        except pydantic.ValidationError as error:
            rejected |= {f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in error.errors()}
    return frozenset(extra), frozenset(rejected)


def _documents(shape: str, status: int, content: bytes) -> list[Any]:
    assert status == 200, content[:300]
    if shape.endswith("-stream"):
        payloads, problems = split_sse(content)
        assert problems == [] and payloads[-1] == "[DONE]" and len(payloads) > 2
        return [json.loads(payload) for payload in payloads[:-1]]
    document = json.loads(content)
    return list(document["data"]) if shape == "models" else [document]


def _expected(provider_type: str, shape: str) -> Verdict:
    """An engine type: the SDK's verdict on its real server's recorded answer. Others: clean, but for
    the upstream extras cited above."""
    model, exchange_name = SHAPES[shape]
    if provider_type in ENGINE_SERVERS:
        exchange = load_exchange(f"{provider_type}/{exchange_name}.json")
        return _verdict(model, _documents(shape, exchange.status, exchange.response_body.encode("utf-8")))
    return frozenset(UPSTREAM_EXTRAS.get((provider_type, shape), set())), frozenset()


@pytest.fixture(params=OPENAI_LIKE)
def simulator(request: pytest.FixtureRequest, session_simulator_factory: Any) -> tuple[str, Any]:
    provider_type: str = request.param
    return provider_type, session_simulator_factory(provider_type, ttft_ms=1.0, tpot_ms=0.5, seed=2_236_067)


def _answer(client: httpx.Client, shape: str) -> httpx.Response:
    if shape == "models":
        return client.get("/v1/models")
    model = client.get("/v1/models").json()["data"][0]["id"]
    body = {**(CHAT if shape.startswith("chat") else COMPLETION), "model": model}
    if shape.endswith("-stream"):
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return client.post("/v1/chat/completions" if shape.startswith("chat") else "/v1/completions", json=body)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_simulator_gets_the_sdks_verdict_its_upstream_gets(simulator: tuple[str, Any], shape: str) -> None:
    """Valid against the SDK's model; extra keys, and fields the SDK rejects, exactly those of the
    real server (recorded exchange) or of the upstream's cited models."""
    provider_type, running = simulator
    with httpx.Client(base_url=running.url, timeout=30) as client:
        response = _answer(client, shape)
    found = _verdict(SHAPES[shape][0], _documents(shape, response.status_code, response.content))
    assert found == _expected(provider_type, shape)


def test_the_real_servers_verdicts_are_what_they_send() -> None:
    """The verdicts the engine simulators are held to, spelled out: llama-server adds its timings and
    its model metadata; llama-cpp-python's model entries lack the SDK's `created`."""
    assert _expected("llama_cpp", "models") == (frozenset({"aliases", "tags", "meta"}), frozenset())
    assert _expected("llama_cpp", "chat") == (frozenset({"timings"}), frozenset())
    assert _expected("llama_cpp_python", "models") == (frozenset(), frozenset({"created: missing"}))
    assert _expected("llama_cpp_python", "chat-stream") == (frozenset(), frozenset())


def test_a_key_the_sdk_does_not_have_is_reported() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "x", "thought": "y"}, "finish_reason": None}], "extra": 1}
    assert _verdict(ChatCompletionChunk, [chunk]) == ({"extra", "choices.delta.thought"}, frozenset())


def test_a_body_the_sdk_rejects_is_reported() -> None:
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m"}
    assert _verdict(ChatCompletion, [body]) == (frozenset(), {"choices: missing"})
