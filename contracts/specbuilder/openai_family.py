"""The OpenAI-compatible core every ``/v1`` spec starts from (the ``openai`` type is exactly this;
vllm, llama_cpp, llama_cpp_python and litellm extend or narrow it): the request schemas a server
must accept and validate, the response and stream-chunk schemas, the error body and the three
``/v1`` paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.specbuilder.blocks import (
    INT,
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
    "CHAT_FINISH_REASONS",
    "OPENAI_ERROR",
    "OPENAI_ERRORS",
    "OPENAI_REQUESTS",
    "ROLES",
    "TEXT_FINISH_REASONS",
    "Requests",
    "Responses",
    "openai_paths",
    "openai_request_schemas",
    "openai_response_schemas",
]

# OpenAI's finish reasons: chat answers and chunks (CreateChatCompletionResponse, ...StreamResponse),
# text completions (CreateCompletionResponse: no tool_calls).
CHAT_FINISH_REASONS = ["stop", "length", "tool_calls", "content_filter", "function_call"]
TEXT_FINISH_REASONS = ["stop", "length", "content_filter"]
ROLES = ["developer", "system", "user", "assistant", "tool", "function"]


@dataclass(frozen=True)
class Requests:
    """What a type's server accepts and validates in a request, each from its upstream source
    (contracts/provenance/<type>.yaml cites them). The defaults are OpenAI's OpenAPI document."""

    model_required: bool = True
    message: Schema = field(default_factory=lambda: _openai_message())
    messages_min_items: int | None = 1
    prompt: Schema = field(default_factory=lambda: {"anyOf": [STR, {"type": "array"}]})
    chat_max_tokens: Schema = field(default_factory=lambda: {"type": "integer"})  # OpenAI: no bound
    completion_max_tokens: Schema = field(default_factory=lambda: {"type": "integer", "minimum": 0})
    n: Schema = field(default_factory=lambda: {"type": "integer", "minimum": 1, "maximum": 128})
    temperature: Schema = field(default_factory=lambda: {"type": "number", "minimum": 0, "maximum": 2})
    top_p: Schema = field(default_factory=lambda: {"type": "number", "minimum": 0, "maximum": 1})
    stop: Schema = field(default_factory=lambda: {"anyOf": [STR, {"type": "array", "items": STR, "minItems": 1, "maxItems": 4}]})
    # "stream_options ... only when stream: true": present (openai), truthy (vLLM's validator), or None.
    stream_options_needs_stream: str | None = "present"
    # An optional field may be null (OpenAI's `nullable: true`, vLLM's `X | None`).
    nullable_optionals: bool = True


def _openai_message() -> Schema:
    """ChatCompletionRequestMessage: a role from ROLES; an assistant message may lack content (tool
    calls); a tool message needs content and tool_call_id; content may be an array of parts."""
    content = {"anyOf": [STR, {"type": "array"}]}
    others = [role for role in ROLES if role not in ("assistant", "tool")]
    return {
        "anyOf": [
            obj({"role": {"enum": others}, "content": content}),
            obj({"role": {"const": "assistant"}}, {"content": nullable(content)}),
            obj({"role": {"const": "tool"}, "content": content, "tool_call_id": STR}),
        ]
    }


OPENAI_REQUESTS = Requests()


def _stream_options_rule(requests: Requests) -> Schema:
    needs_stream = {"required": ["stream"], "properties": {"stream": {"const": True}}}
    if requests.stream_options_needs_stream == "present":
        return {"dependentSchemas": {"stream_options": needs_stream}}
    if requests.stream_options_needs_stream == "truthy":
        # vLLM tests `data.get("stream_options")`: an empty {} (or null) passes without stream.
        truthy = {"required": ["stream_options"], "properties": {"stream_options": {"type": "object", "minProperties": 1}}}
        return {"if": truthy, "then": needs_stream}
    return {}


def openai_request_schemas(requests: Requests = OPENAI_REQUESTS) -> dict[str, Schema]:
    """What a /v1 server must accept (unknown fields included) and validate."""
    sampling: dict[str, Schema] = {
        "n": requests.n,
        "temperature": requests.temperature,
        "top_p": requests.top_p,
        "seed": {"type": "integer"},
        "stop": requests.stop,
        "stream": {"type": "boolean"},
        "stream_options": obj({}, {"include_usage": {"type": "boolean"}}),
    }
    if requests.nullable_optionals:
        sampling["stream_options"] = obj({}, {"include_usage": nullable({"type": "boolean"})})
    if requests.nullable_optionals:
        sampling = {name: nullable(schema) for name, schema in sampling.items()}
    optional = nullable if requests.nullable_optionals else (lambda schema: schema)
    messages: Schema = {"type": "array", "items": ref("ChatMessage")}
    if requests.messages_min_items is not None:
        messages["minItems"] = requests.messages_min_items
    model = {"model": STR}
    chat_required = {**(model if requests.model_required else {}), "messages": messages}
    text_required = {**(model if requests.model_required else {}), "prompt": requests.prompt}
    optional_model = {} if requests.model_required else {"model": optional(STR)}
    return {
        "ChatMessage": requests.message,
        "ChatCompletionRequest": {
            **obj(chat_required, {**optional_model, "max_tokens": optional(requests.chat_max_tokens), **sampling}),
            **_stream_options_rule(requests),
        },
        "CompletionRequest": {
            **obj(text_required, {**optional_model, "max_tokens": optional(requests.completion_max_tokens), **sampling}),
            **_stream_options_rule(requests),
        },
    }


@dataclass(frozen=True)
class Responses:
    """What a type's answers and chunks must hold, each from its upstream source."""

    usage_required: bool = True
    chat_finish_reasons: list[str] | None = field(default_factory=lambda: list(CHAT_FINISH_REASONS))
    text_finish_reasons: list[str] | None = field(default_factory=lambda: list(TEXT_FINISH_REASONS))
    message_role: Schema = field(default_factory=lambda: {"const": "assistant"})
    delta_role: Schema = field(default_factory=lambda: {"enum": ["developer", "system", "user", "assistant", "tool"]})
    text_chunk_object: Schema = field(default_factory=lambda: {"const": "text_completion"})


def _finish(reasons: list[str] | None) -> Schema:
    return {"enum": reasons} if reasons is not None else STR


def openai_response_schemas(
    responses: Responses = Responses(), *, chat_extra: Schema | None = None, model: Schema | None = None
) -> dict[str, Schema]:
    """The answers and stream chunks of the /v1 endpoints. ``chat_extra``: fields added to chat answers and
    chunks (llama-server's ``timings``); ``model``: the type's own Model schema."""
    usage = obj({"prompt_tokens": INT, "completion_tokens": INT, "total_tokens": INT})
    chat_finish, text_finish = _finish(responses.chat_finish_reasons), _finish(responses.text_finish_reasons)
    with_usage = {"usage": ref("Usage")}
    chat = obj(
        {
            "id": STR,
            "object": {"const": "chat.completion"},
            "created": INT,
            "model": STR,
            "choices": {
                "type": "array",
                "items": obj(
                    {
                        "index": INT,
                        "message": obj({"role": responses.message_role, "content": nullable(STR)}),
                        "finish_reason": chat_finish,
                    }
                ),
            },
            **(with_usage if responses.usage_required else {}),
        },
        {**({} if responses.usage_required else with_usage), **(chat_extra or {})},
    )
    chunk_delta = obj(
        {},
        {
            "role": responses.delta_role,
            "content": nullable(STR),
            "tool_calls": {"type": "array"},
            "reasoning_content": nullable(STR),
        },
    )
    chunk = obj(
        {
            "id": STR,
            "object": {"const": "chat.completion.chunk"},
            "created": INT,
            "model": STR,
            "choices": {
                "type": "array",
                "items": obj({"index": INT, "delta": chunk_delta, "finish_reason": nullable(chat_finish)}),
            },
        },
        {"usage": nullable(ref("Usage")), **(chat_extra or {})},
    )
    completion = obj(
        {
            "id": STR,
            "object": {"const": "text_completion"},
            "created": INT,
            "model": STR,
            "choices": {
                "type": "array",
                "items": obj({"index": INT, "text": STR, "finish_reason": text_finish}),
            },
            **(with_usage if responses.usage_required else {}),
        },
        {} if responses.usage_required else with_usage,
    )
    completion_chunk = obj(
        {
            "id": STR,
            "object": responses.text_chunk_object,
            "created": INT,
            "model": STR,
            "choices": {
                "type": "array",
                "items": obj({"index": INT, "text": STR, "finish_reason": nullable(text_finish)}),
            },
        },
        {"usage": nullable(ref("Usage"))},
    )
    model_list = obj({"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}})
    return {
        "Usage": usage,
        "ChatCompletion": chat,
        "ChatCompletionChunk": chunk,
        "TextCompletion": completion,
        "TextCompletionChunk": completion_chunk,
        "ModelList": model_list,
        "Model": model or obj({"id": STR, "object": {"const": "model"}, "created": INT, "owned_by": STR}),
    }


# OpenAI's error body (ErrorResponse, Error): all four members required; code a string or null.
OPENAI_ERROR = obj({"error": obj({"message": STR, "type": STR, "param": nullable(STR), "code": nullable(STR)})})


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


# The error statuses of the /v1 generation endpoints, for the types whose upstream documents them.
OPENAI_ERRORS = {"400": "invalid request", "404": "unknown model"}

