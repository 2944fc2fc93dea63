"""The strict specs: generated files up to date, valid, strict where the real servers differ;
and the README's rules → proofs table up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis

from contracts.proofs import BEGIN, DEVIATIONS_BEGIN, DEVIATIONS_END, END, deviation_table, proof_table
from contracts.schemas import load_spec, spec_schemas
from contracts.specbuilder import build_spec, render, spec_path
from generator.providers import contract_types

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]

OPERATIONS = {
    "ollama": ["GET /", "GET /api/version", "GET /api/tags", "GET /api/ps", "POST /api/show", "POST /api/chat", "POST /api/generate"],
    "vllm": ["GET /health", "GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions"],
    "llama_cpp": ["GET /health", "GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions", "POST /completion"],
    "llama_cpp_python": ["GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions"],
    "openai": ["GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions"],
    "litellm": ["GET /health/liveliness", "GET /health/readiness", "GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions"],
}


@pytest.mark.parametrize("provider_type", contract_types())
def test_checked_in_spec_is_what_the_builder_makes(provider_type: str) -> None:
    assert spec_path(provider_type).read_text(encoding="utf-8") == render(build_spec(provider_type)), (
        "stale spec: run python -m contracts.specbuilder"
    )


@pytest.mark.parametrize("provider_type", contract_types())
def test_spec_loads_in_schemathesis_with_its_operations(provider_type: str) -> None:
    schema = schemathesis.openapi.from_path(str(spec_path(provider_type)))
    assert [result.ok().label for result in schema.get_all_operations()] == OPERATIONS[provider_type]
    for schema_def in load_spec(provider_type)["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema_def)


def model(provider_type: str, **changes: Any) -> dict[str, Any]:
    entries = {
        "openai": {"id": "m", "object": "model", "created": 1, "owned_by": "openai"},
        "llama_cpp_python": {"id": "m", "object": "model", "owned_by": "me", "permissions": []},
    }
    return {**entries[provider_type], **changes}


def test_llama_cpp_python_models_have_no_created_and_fail_the_openai_schema() -> None:
    entry = model("llama_cpp_python")
    assert spec_schemas("llama_cpp_python").errors("Model", entry) == []
    assert spec_schemas("openai").errors("Model", entry) == ["(root): 'created' is a required property"]
    assert spec_schemas("llama_cpp_python").errors("Model", {**entry, "created": 1}) == [
        "(root): Additional properties are not allowed ('created' was unexpected)"
    ]


def test_vllm_health_has_an_empty_body_and_llama_cpp_a_status() -> None:
    vllm = load_spec("vllm")["paths"]["/health"]["get"]["responses"]
    assert ("content" in vllm["200"], "content" in vllm["503"]) == (False, False)
    llama = load_spec("llama_cpp")["paths"]["/health"]["get"]["responses"]
    assert llama["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
    assert spec_schemas("llama_cpp").errors("Health", {"status": "healthy"}) == ["status: 'ok' was expected"]
    assert spec_schemas("llama_cpp").errors("Error", {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}) == []


def test_llama_cpp_chat_requires_timings_and_lists_one_model_with_meta() -> None:
    schemas = spec_schemas("llama_cpp")
    chat = {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    assert schemas.errors("ChatCompletion", chat) == ["(root): 'timings' is a required property"]
    assert spec_schemas("openai").errors("ChatCompletion", chat) == []
    entry = {"id": "m.gguf", "object": "model", "created": 1, "owned_by": "llamacpp"}
    assert schemas.errors("ModelList", {"object": "list", "data": [entry, entry]}) == [
        "data/0: 'meta' is a required property",
        "data/1: 'meta' is a required property",
    ]


def test_ollama_durations_are_integer_nanoseconds_and_errors_a_string() -> None:
    schemas = spec_schemas("ollama")
    final = {
        "model": "m", "created_at": "2024-07-22T20:20:06.123456789-07:00", "message": {"role": "assistant", "content": ""},
        "done": True, "done_reason": "stop", "total_duration": 5043500667, "load_duration": 5025959,
        "prompt_eval_count": 26, "prompt_eval_duration": 325953000, "eval_count": 290, "eval_duration": 4709213000,
    }
    assert schemas.errors("ChatFinal", final) == []
    assert schemas.errors("ChatFinal", {**final, "eval_duration": 4.709}) == ["eval_duration: 4.709 is not of type 'integer'"]
    assert schemas.errors("ChatFinal", {**final, "created_at": "yesterday"}) == ["created_at: 'yesterday' is not a 'date-time'"]
    # api/types.go: every metric is omitempty, a zero one absent
    assert schemas.errors("ChatFinal", {k: v for k, v in final.items() if k not in ("prompt_eval_count", "load_duration")}) == []
    assert schemas.errors("Error", {"error": "model 'x' not found"}) == []
    assert schemas.errors("Error", {"error": {"message": "x"}}) == ["error: {'message': 'x'} is not of type 'string'"]


def test_error_bodies_as_their_upstream_defines_them() -> None:
    # OpenAI's Error: all four members, code a string or null; vLLM's ErrorInfo: code an integer.
    assert spec_schemas("openai").errors("Error", {"error": {"message": "m", "type": "t", "param": None, "code": "x"}}) == []
    assert spec_schemas("openai").errors("Error", {"error": {"message": "m", "type": "t", "param": None, "code": 404}}) != []
    assert spec_schemas("openai").errors("Error", {"detail": "m"}) == ["(root): 'error' is a required property"]
    assert spec_schemas("vllm").errors("Error", {"error": {"message": "m", "type": "t", "param": None, "code": 404}}) == []
    flat = {"object": "error", "message": "m", "type": "t", "param": None, "code": 404}
    assert spec_schemas("vllm").errors("Error", flat) == ["(root): 'error' is a required property"]


def test_request_schemas_say_what_servers_must_reject() -> None:
    schemas = spec_schemas("openai")
    ok = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "unknown_field": 1}
    assert schemas.errors("ChatCompletionRequest", ok) == []
    assert schemas.errors("ChatCompletionRequest", {**ok, "stream_options": {"include_usage": True}}) == [
        "(root): 'stream' is a required property"
    ]
    # OpenAI's document: chat max_tokens unbounded, n in [1, 128], temperature in [0, 2], top_p in [0, 1]
    assert schemas.errors("ChatCompletionRequest", {**ok, "temperature": 2.5, "top_p": -1, "max_tokens": 0, "n": 0}) == [
        "n: 0 is less than the minimum of 1",
        "temperature: 2.5 is greater than the maximum of 2",
        "top_p: -1 is less than the minimum of 0",
    ]
    assert schemas.errors("CompletionRequest", {"model": "m", "prompt": "p", "max_tokens": 0}) == []
    # an assistant message may carry tool calls instead of content
    assert schemas.errors("ChatCompletionRequest", {**ok, "messages": [{"role": "assistant", "tool_calls": []}]}) == []
    # vLLM: no model needed, any role, stream_options {} without stream, top_p above 0
    vllm = spec_schemas("vllm")
    assert vllm.errors("ChatCompletionRequest", {"messages": [{"role": "wizard"}], "stream_options": {}}) == []
    assert vllm.errors("ChatCompletionRequest", {"messages": [], "stream_options": {"include_usage": True}}) == [
        "(root): 'stream' is a required property"
    ]
    assert vllm.errors("ChatCompletionRequest", {"messages": [], "top_p": 0}) == ["top_p: 0 is less than or equal to the minimum of 0"]


def test_readme_table_is_up_to_date() -> None:
    readme = (ROOT / "contracts" / "README.md").read_text(encoding="utf-8")
    assert f"{BEGIN}\n{proof_table()}\n{END}" in readme, "stale table: run python -m contracts.proofs --write"


def test_readme_known_deviations_are_up_to_date() -> None:
    readme = (ROOT / "contracts" / "README.md").read_text(encoding="utf-8")
    table = deviation_table()
    assert f"{DEVIATIONS_BEGIN}\n{table}\n{DEVIATIONS_END}" in readme, "stale table: run python -m contracts.proofs --write"
    # one row per recorded deviation: llama-server 2 (suite) + 6 (fuzz), llama-cpp-python 0.3.36
    # 7 (suite) + 26 (fuzz) + 22 (its max_tokens overrun, in usage and in chunks: 6 suite, 16 fuzz),
    # LiteLLM 1.106.2 3
    rows = table.splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == (
        ["| `llama_cpp`"] * 8 + ["| `llama_cpp_python`"] * 55 + ["| `litellm`"] * 3
    )
