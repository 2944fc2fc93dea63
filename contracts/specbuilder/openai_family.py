"""The OpenAI-compatible core every ``/v1`` spec starts from (the ``openai`` type is exactly this;
vllm, llama_cpp, llama_cpp_python and litellm extend or narrow it): the request schemas a server
must accept and validate, the response and stream-chunk schemas, the error body and the three
``/v1`` paths.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import (
    INT0,
    NONEMPTY,
    STR,
    Schema,
    generation_operation,
    json_content,
    nullable,
    obj,
    ref,
    response,
)

__all__ = [
    "FINISH_REASONS",
    "OPENAI_ERROR",
    "OPENAI_ERRORS",
    "ROLES",
    "openai_paths",
    "openai_request_schemas",
    "openai_response_schemas",
]

FINISH_REASONS = ["stop", "length", "tool_calls", "content_filter"]
ROLES = ["system", "user", "assistant", "tool", "developer"]


def openai_request_schemas() -> dict[str, Schema]:
    """What a /v1 server must accept (unknown fields included) and validate (provider-contracts.md)."""
    sampling: dict[str, Schema] = {
        "max_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "seed": {"type": "integer"},
        "stop": {"anyOf": [STR, {"type": "array", "items": STR, "maxItems": 4}]},
        "stream": {"type": "boolean"},
        "stream_options": obj({}, {"include_usage": {"type": "boolean"}}),
    }
    return {
        # A tool message answers a tool call: OpenAI requires its tool_call_id (llama-cpp-python
        # rejects one without it; found by fuzzing the real server).
        "ChatMessage": {
            "anyOf": [
                obj({"role": {"enum": [role for role in ROLES if role != "tool"]}, "content": STR}),
                obj({"role": {"const": "tool"}, "content": STR, "tool_call_id": NONEMPTY}),
            ]
        },
        "ChatCompletionRequest": {
            **obj({"model": NONEMPTY, "messages": {"type": "array", "minItems": 1, "items": ref("ChatMessage")}}, sampling),
            # stream_options is only valid together with stream: true.
            "dependentSchemas": {
                "stream_options": {"required": ["stream"], "properties": {"stream": {"const": True}}}
            },
        },
        "CompletionRequest": {
            **obj(
                {"model": NONEMPTY, "prompt": {"anyOf": [STR, {"type": "array", "minItems": 1, "items": STR}]}},
                sampling,
            ),
            "dependentSchemas": {
                "stream_options": {"required": ["stream"], "properties": {"stream": {"const": True}}}
            },
        },
    }


def openai_response_schemas(*, chat_extra: Schema | None = None, model: Schema | None = None) -> dict[str, Schema]:
    """The answers and stream chunks of the /v1 endpoints. ``chat_extra``: fields added to chat answers and
    chunks (llama-server's ``timings``); ``model``: the type's own Model schema."""
    usage = obj({"prompt_tokens": INT0, "completion_tokens": INT0, "total_tokens": INT0})
    finish = {"enum": FINISH_REASONS}
    chat = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "chat.completion"},
            "created": INT0,
            "model": NONEMPTY,
            "choices": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    {
                        "index": INT0,
                        "message": obj({"role": {"const": "assistant"}, "content": nullable(STR)}),
                        "finish_reason": finish,
                    }
                ),
            },
            "usage": ref("Usage"),
        },
        chat_extra,
    )
    chunk_delta = obj(
        {},
        {
            "role": {"enum": ["assistant"]},
            "content": nullable(STR),
            "tool_calls": {"type": "array"},
            "reasoning_content": nullable(STR),
        },
    )
    chunk = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "chat.completion.chunk"},
            "created": INT0,
            "model": NONEMPTY,
            "choices": {
                "type": "array",
                "items": obj({"index": INT0, "delta": chunk_delta, "finish_reason": nullable(finish)}),
            },
        },
        {"usage": nullable(ref("Usage")), **(chat_extra or {})},
    )
    completion = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "text_completion"},
            "created": INT0,
            "model": NONEMPTY,
            "choices": {
                "type": "array",
                "minItems": 1,
                "items": obj({"index": INT0, "text": STR, "finish_reason": finish}),
            },
            "usage": ref("Usage"),
        },
    )
    completion_chunk = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "text_completion"},
            "created": INT0,
            "model": NONEMPTY,
            "choices": {
                "type": "array",
                "items": obj({"index": INT0, "text": STR, "finish_reason": nullable(finish)}),
            },
        },
        {"usage": nullable(ref("Usage"))},
    )
    model_list = obj(
        {"object": {"const": "list"}, "data": {"type": "array", "minItems": 1, "items": ref("Model")}}
    )
    return {
        "Usage": usage,
        "ChatCompletion": chat,
        "ChatCompletionChunk": chunk,
        "TextCompletion": completion,
        "TextCompletionChunk": completion_chunk,
        "ModelList": model_list,
        "Model": model
        or obj({"id": NONEMPTY, "object": {"const": "model"}, "created": INT0, "owned_by": STR}),
    }


# OpenAI's error body: closed, so a server's extra members (or a FastAPI {detail}) are caught.
OPENAI_ERROR = obj(
    {
        "error": obj(
            {
                "message": STR,
                "type": STR,
                "param": nullable(STR),
                "code": {"anyOf": [STR, {"type": "integer"}, {"type": "null"}]},
            },
            closed=True,
        )
    },
    closed=True,
)


def openai_paths(errors: dict[str, Schema], *, list_errors: dict[str, Schema] | None = None) -> dict[str, Schema]:
    """``GET /v1/models`` and the two generation endpoints, with the type's error responses."""
    return {
        "/v1/models": {
            "get": {
                "summary": "the models this server serves",
                "responses": {"200": response("model list", json_content(ref("ModelList"))), **(list_errors or {})},
            }
        },
        "/v1/chat/completions": {
            "post": generation_operation(
                "chat completion", "ChatCompletionRequest", "ChatCompletion", "ChatCompletionChunk", errors
            )
        },
        "/v1/completions": {
            "post": generation_operation(
                "text completion", "CompletionRequest", "TextCompletion", "TextCompletionChunk", errors
            )
        },
    }


# The error statuses of the OpenAI core's generation endpoints (as documented responses).
OPENAI_ERRORS = {"400": "invalid request", "404": "unknown model"}

