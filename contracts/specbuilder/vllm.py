"""The ``vllm`` contract: vLLM's OpenAI-compatible server as vLLM 0.34.0 defines it (its pydantic
models, validators and ``SamplingParams`` checks: ``contracts/upstream/derived/vllm.json``, compared
field by field with this spec by ``tests/unit/test_vllm_derived.py``).

A request may omit ``model`` (the served model answers) and a message may carry any role (custom
roles); ``stream_options`` is refused without ``stream`` only when it is not empty; top_p must be
above 0. Models carry ``owned_by: vllm``, nullable ``root``, ``parent`` and ``max_model_len``, and
``permission``; ``GET /health`` is 200 with an EMPTY body; errors are
``{"error": {message, type, param, code: <int>}}``. Where a check follows, see
``contracts/provenance/vllm.yaml``.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import INT, STR, Schema, document, error_responses, nullable, obj, response
from contracts.specbuilder.openai_family import (
    Requests,
    Responses,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "DERIVED_DIFFERENCES", "DERIVED_PAIRS", "REQUESTS", "RESPONSES", "build"]

CONTRACT_TYPE = "vllm"

# vLLM's FINISH_REASON_STRINGS, plus the chat server's tool_calls.
FINISH_REASONS = ["stop", "length", "abort", "error", "repetition", "tool_calls"]
REQUESTS = Requests(
    model_required=False,
    # CustomChatCompletionMessageParam: any role string; content optional.
    message=obj({"role": STR}),
    messages_min_items=None,
    prompt={"anyOf": [{"type": "string", "minLength": 1}, {"type": "array"}]},
    chat_max_tokens={"type": "integer", "minimum": 1},
    completion_max_tokens={"type": "integer", "minimum": 1},
    n={"type": "integer", "minimum": 1},
    temperature={"type": "number", "minimum": 0, "maximum": 2},
    top_p={"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    stop={"anyOf": [STR, {"type": "array", "items": STR, "maxItems": 4}]},
    stream_options_needs_stream="truthy",
)
RESPONSES = Responses(
    usage_required=True,
    chat_finish_reasons=FINISH_REASONS,
    text_finish_reasons=FINISH_REASONS,
    message_role=STR,  # the server's --response-role
    delta_role=nullable(STR),
)

# This spec's schemas and the vLLM classes they stand for (contracts/upstream/derived/vllm.json).
DERIVED_PAIRS = (
    ("ChatCompletionRequest", "ChatCompletionRequest"),
    ("CompletionRequest", "CompletionRequest"),
    ("ChatCompletion", "ChatCompletionResponse"),
    ("ChatCompletionChunk", "ChatCompletionStreamResponse"),
    ("TextCompletion", "CompletionResponse"),
    ("TextCompletionChunk", "CompletionStreamResponse"),
    ("ModelList", "ModelList"),
    ("Error", "ErrorResponse"),
)
# Where this spec says more than vLLM's pydantic models, and why (`*` patterns over the lines of
# contracts.upstream.compare.differences; tests/unit/test_vllm_derived.py holds both ways).
_WIRE = (
    "a field with a default is still on the wire: non-streamed answers go out as JSONResponse(model_dump()), "
    "every field written (vllm/chat-route-answers); the serving code sets id, object, created, model, usage "
    "and finish_reason on every chunk it sends (vllm/chat-sse-frames)"
)
DERIVED_DIFFERENCES: dict[str, str] = {
    "*Request: max_tokens: bounds: spec {'minimum': 1}, upstream {}": "SamplingParams._verify_args: max_tokens >= 1 (vllm/verify-max-tokens), a run-time check",
    "*Request: n: bounds: spec {'minimum': 1}, upstream {}": "SamplingParams._verify_args: n >= 1 (vllm/verify-n)",
    "*Request: temperature: bounds: *": "SamplingParams._verify_args: temperature in [0, 2] (vllm/verify-temperature)",
    "*Request: top_p: bounds: *": "SamplingParams._verify_args: 0 < top_p <= 1 (vllm/verify-top-p)",
    "*Request: stop: bounds: spec {'maxItems': 4}, upstream {}": "max_length=VLLM_MAX_STOP_STRINGS, an environment setting whose default is 4 (vllm/stop-param, vllm/max-stop-strings)",
    "CompletionRequest: prompt: required: spec True, upstream False": "validate_prompt_and_prompt_embeds refuses a request without a prompt (vllm/completion-prompt-required)",
    "CompletionRequest: prompt: types: *": "the same validator refuses a null prompt (vllm/completion-prompt-required)",
    "CompletionRequest: prompt: bounds: spec {'minLength': 1}, upstream {}": "the same validator refuses an empty prompt (vllm/completion-prompt-required)",
    "*: required: spec True, upstream False": _WIRE,
    "*: choices[].finish_reason: types: spec ['string'], upstream ['null', 'string']": (
        "a finished choice of a non-streamed answer has its reason (default 'stop'); null is for the chunks before the last"
    ),
    "*: choices[].finish_reason: enum: *": "typed str; the values vLLM sends are FINISH_REASON_STRINGS and the chat server's tool_calls (vllm/finish-reasons, vllm/tool-calls-finish)",
    "*: usage.completion_tokens: types: spec ['integer'], upstream ['integer', 'null']": "typed int | None, always set to a count by the serving code (vllm/chat-final-usage, vllm/completion-final-usage)",
    "CompletionRequest: n: types: spec ['integer', 'null'], upstream ['integer']": (
        "vLLM's CompletionRequest.n is a plain int (its chat n is nullable); the spec keeps one nullable n for "
        "both endpoints, so a null n on /v1/completions, which vLLM refuses, is not a request fuzzing calls invalid"
    ),
    "TextCompletionChunk: object: enum: *": "typed str with the constant default 'text_completion', never overridden (vllm/completion-chunk)",
    "ModelList: object: enum: *": "typed str with the constant default 'list' (vllm/model-card)",
    "ModelList: data[].object: enum: *": "typed str with the constant default 'model' (vllm/model-card)",
    "ModelList: data[].owned_by: enum: *": "typed str with the constant default 'vllm', which show_available_models keeps (vllm/show-models)",
    "ChatCompletionChunk: choices[].delta.reasoning_content: absent upstream": (
        "an optional field llama-server sends (vLLM 0.34 names it `reasoning`): allowed, never required"
    ),
}


def build() -> Schema:
    model = obj(
        {
            "id": STR,
            "object": {"const": "model"},
            "created": INT,
            "owned_by": {"const": "vllm"},
            "root": nullable(STR),
            "parent": nullable(STR),
            "max_model_len": nullable(INT),
            "permission": {"type": "array", "items": {"type": "object"}},
        }
    )
    error = obj({"error": obj({"message": STR, "type": STR, "param": nullable(STR), "code": INT})})
    schemas = {
        **openai_request_schemas(REQUESTS),
        **openai_response_schemas(RESPONSES, model=model),
        "Error": error,
    }
    paths = {
        "/health": {
            "get": {
                "summary": "engine health: 200 with an EMPTY body; 503 when the engine is dead",
                "responses": {"200": response("healthy, empty body"), "503": response("engine dead")},
            }
        },
        **openai_paths(error_responses({"400": "invalid request", "404": "unknown model"})),
    }
    return document("vLLM OpenAI-compatible server", "vLLM's /v1 surface and /health (vLLM 0.34.0).", paths, schemas)
