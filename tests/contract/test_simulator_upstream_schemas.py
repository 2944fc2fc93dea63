"""The vLLM simulator's answers validate against vLLM's own response models (derived from the pinned
wheel: contracts/upstream/derived/vllm.json), not only against the spec the same hands wrote; keys a
simulator sends that vLLM's models do not have are reported, and must be exactly those listed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from contracts.streaming import split_sse
from contracts.upstream.refetch import DERIVED_VLLM

pytestmark = [pytest.mark.contract]

DERIVED = json.loads(DERIVED_VLLM.read_text(encoding="utf-8"))
# Keys the simulator sends that vLLM 0.34.0's models lack (none: a key here needs a reason).
EXTRA_KEYS_ALLOWED: dict[str, set[str]] = {}


def _validator(name: str) -> jsonschema.Draft202012Validator:
    # A class the derivation did not expand ({"x-not-derived": ...}) accepts anything.
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": DERIVED["$defs"]})


def _extra_keys(name: str, document: Any, path: str = "") -> set[str]:
    """Keys of ``document`` that the derived class ``name`` (and its nested classes) do not declare."""
    schema = DERIVED["$defs"][name]
    found = set()
    for key, value in document.items() if isinstance(document, dict) else []:
        declared = schema["properties"].get(key)
        if declared is None:
            found.add(f"{path}{key}")
            continue
        refs = [declared] + declared.get("anyOf", []) + ([declared["items"]] if "items" in declared else [])
        refs += [member.get("items", {}) for member in declared.get("anyOf", [])]
        for ref in refs:
            target = ref.get("$ref", "").rsplit("/", 1)[-1]
            if target in DERIVED["$defs"]:
                values = value if isinstance(value, list) else [value]
                for item in values:
                    found |= _extra_keys(target, item, f"{path}{key}.")
    return found


def _check(name: str, document: Any) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(document)]
    assert errors == [], f"{name}: {errors}"
    assert _extra_keys(name, document) == EXTRA_KEYS_ALLOWED.get(name, set()), name


@pytest.fixture(scope="module")
def vllm(session_simulator_factory: Any) -> Any:
    return session_simulator_factory("vllm", ttft_ms=1.0, tpot_ms=0.5, seed=2_236_067)


def test_models_chat_and_completions_validate_against_vllms_models(vllm: Any) -> None:
    with httpx.Client(base_url=vllm.url, timeout=30) as client:
        _check("ModelList", client.get("/v1/models").json())
        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        _check("ChatCompletionResponse", client.post("/v1/chat/completions", json=chat).json())
        _check("CompletionResponse", client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 3}).json())
        _check("ErrorResponse", client.post("/v1/chat/completions", json={**chat, "model": "nope"}).json())
        _check("ErrorResponse", client.post("/v1/chat/completions", json={**chat, "top_p": 3}).json())


@pytest.mark.parametrize(("path", "body", "schema"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, "ChatCompletionStreamResponse"),
    ("/v1/completions", {"prompt": "hi"}, "CompletionStreamResponse"),
])
def test_stream_chunks_validate_against_vllms_models(vllm: Any, path: str, body: dict[str, Any], schema: str) -> None:
    request = {**body, "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.Client(base_url=vllm.url, timeout=30) as client:
        response = client.post(path, json=request)
    payloads, problems = split_sse(response.content)
    assert problems == [] and payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        _check(schema, json.loads(payload))


def test_a_key_vllm_does_not_have_is_reported() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "x", "thought": "y"}, "finish_reason": None}], "extra": 1}
    assert _extra_keys("ChatCompletionStreamResponse", chunk) == {"extra", "choices.delta.thought"}
