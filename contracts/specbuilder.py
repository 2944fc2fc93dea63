"""Builds the strict OpenAPI 3.1 spec of each provider type (``contracts/specs/<type>.yaml``).

The specs share most of their schemas (the OpenAI-compatible core), so they are generated from
the Python builders below rather than copied by hand; each generated file is self-contained (no
external ``$ref``), which keeps schemathesis and jsonschema simple. Regenerate with
``python -m contracts.specbuilder`` after editing; a unit test fails when a checked-in spec and
its builder disagree.

Where the real servers differ, the type's spec says so (facts: provider-contracts.md):
llama-cpp-python models have no ``created`` and ``owned_by: "me"``, vLLM's ``/health`` has an
empty body, llama-server adds ``timings`` and ``meta``, Ollama's durations are integer ns.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PROVIDER_TYPES", "SPEC_DIR", "build_spec", "spec_path", "write_specs"]

Schema = dict[str, Any]

SPEC_DIR = Path(__file__).resolve().parent / "specs"
PROVIDER_TYPES = ("ollama", "vllm", "llama_cpp", "llama_cpp_python", "openai", "litellm")

FINISH_REASONS = ["stop", "length", "tool_calls", "content_filter"]
ROLES = ["system", "user", "assistant", "tool", "developer"]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, *, closed: bool = False) -> Schema:
    """An object schema: every key of ``required`` is required; ``closed`` forbids unknown keys."""
    schema: Schema = {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


INT0: Schema = {"type": "integer", "minimum": 0}
STR: Schema = {"type": "string"}
NONEMPTY: Schema = {"type": "string", "minLength": 1}


# --- the OpenAI-compatible core ------------------------------------------------------------


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


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def response(description: str, content: Schema | None = None, headers: Schema | None = None) -> Schema:
    result: Schema = {"description": description}
    if content is not None:
        result["content"] = content
    if headers:
        result["headers"] = headers
    return result


def error_responses(statuses: dict[str, str], schema_name: str = "Error") -> dict[str, Schema]:
    return {status: response(text, json_content(ref(schema_name))) for status, text in statuses.items()}


def generation_operation(
    summary: str,
    request: str,
    result: str,
    chunk: str,
    errors: dict[str, Schema],
    stream_media: str = "text/event-stream",
) -> Schema:
    return {
        "summary": summary,
        "requestBody": {"required": True, "content": json_content(ref(request))},
        "responses": {
            "200": response(
                f"{result} (JSON) or, with stream: true, a stream of {chunk} events",
                {**json_content(ref(result)), stream_media: {"schema": ref(chunk)}},
            ),
            **errors,
        },
    }


def openai_paths(errors: dict[str, Schema], *, list_errors: dict[str, Schema] | None = None) -> dict[str, Schema]:
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


def _breakable(text: str) -> str:
    """Evidence quotes raw JSON exchanges; a space after each `,` / `:` between JSON tokens lets the
    YAML emitter fold them within yamllint's line length (the data is the same)."""
    return re.sub(r'([,:])(?=["{\[0-9a-z])', r"\1 ", text)


def document(title: str, description: str, paths: dict[str, Schema], schemas: dict[str, Schema], **extra: Any) -> Schema:
    doc: Schema = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    for key, value in extra.items():
        if key == "x-known-deviations":
            value = [{**entry, "evidence": _breakable(entry["evidence"])} for entry in value]
        if key == "securitySchemes":
            doc["components"]["securitySchemes"] = value
        else:
            doc[key] = value
    return doc


# --- known deviations: what a real server does that its contract forbids ---------------------
#
# Each entry names ONE violation exactly (check, rule, endpoint, and `case` = the violation's
# `expected` text) and the ONE observed behaviour that is excused (`match`): a status with a body
# matching a named schema of the spec, a status with an exact text body, or an exact `actual`.
# The suite reports such a violation as a known deviation instead of a failure; the same rule
# broken any other way still fails. `server`, `evidence` and `why` say who does it and how we know.

LCP_SERVER = "llama-cpp-python 0.3.36"
LCP_WHY = (
    "RouteErrorHandler (llama_cpp/server/errors.py) wraps every exception raised in a route, FastAPI's "
    "RequestValidationError included, into an OpenAI-style 500 internal_server_error (upstream PR #481 documents "
    "it; reported as a bug in ggml-org/llama.cpp#23463): the request IS rejected, with a JSON error body, but "
    "with a 5xx instead of the 4xx the contract asks for."
)
LCP_EVIDENCE = (
    'HTTP/1.1 500, content-type: application/json, {"error":{"message":"1 validation error:\\n  {\'type\': '
    "'list_type', 'loc': ('body', 'messages'), 'msg': 'Input should be a valid list', 'input': 'hi'}\\n\\n  File "
    '\\".../llama_cpp/server/app.py\\", line 376, in create_chat_completion\\n    POST /v1/chat/completions",'
    '"type":"internal_server_error","param":null,"code":null}} (docs/llama-cpp.md, deviation 1)'
)


def _lcp_validation_500(check: str, rule: str, endpoint: str, what: str) -> Schema:
    return {
        "check": check,
        "rule": rule,
        "endpoint": endpoint,
        "case": f"422 for {what}",
        "match": {"status": 500, "body": "InternalServerError"},
        "server": LCP_SERVER,
        "evidence": LCP_EVIDENCE,
        "why": LCP_WHY,
    }


# Fuzzing (contracts/fuzz.py) meets the same rejections with generated bodies. Its findings name the
# check `fuzz METHOD PATH (mode)` and, without the generated request, the case below; the rule is the
# kind of invalid request (a body that is no JSON object: malformed-body; a missing or ill-typed
# model/messages/prompt: missing-field; anything else: invalid-param).
FUZZ_INVALID_CASE = "no 5xx for an invalid request"
FUZZ_PATHS = ("/v1/chat/completions", "/v1/completions")


def _fuzz_500(path: str, rule: str, match: Schema, server: str, evidence: str, why: str) -> Schema:
    return {
        "check": f"fuzz POST {path} (negative)",
        "rule": rule,
        "endpoint": f"POST {path}",
        "case": FUZZ_INVALID_CASE,
        "match": match,
        "server": server,
        "evidence": evidence,
        "why": why,
    }


LCP_FUZZ_EVIDENCE = (
    "aibackend contract --fuzz-examples 6 --seed 20240611: negative cases, e.g. a body that is the string "
    '"\\u0000" -> 500 text/plain Internal Server Error; {"temperature": [[], {}], ...} -> 500 '
    '{"error":{"message":"1 validation error:\\n  {\'type\': \'union_tag_invalid\', ...","type":'
    '"internal_server_error","param":null,"code":null}}'
)
LCP_FUZZ_DEVIATIONS: list[Schema] = [
    *(
        _fuzz_500(path, "malformed-body", {"status": 500, "text": "Internal Server Error"}, LCP_SERVER, LCP_FUZZ_EVIDENCE,
                  "A body FastAPI cannot parse as JSON: RouteErrorHandler's except clause calls request.json() "
                  "again, which raises; Starlette's plain-text 500 (deviation 2 of docs/llama-cpp.md).")
        for path in FUZZ_PATHS
    ),
    *(
        _fuzz_500(path, rule, {"status": 500, "body": "InternalServerError"}, LCP_SERVER, LCP_FUZZ_EVIDENCE, LCP_WHY)
        for path in FUZZ_PATHS
        for rule in ("malformed-body", "missing-field", "invalid-param")
    ),
]

LLAMA_CPP_PYTHON_DEVIATIONS: list[Schema] = [
    {
        "check": "malformed-body",
        "rule": "malformed-body",
        "endpoint": "POST /v1/chat/completions",
        "case": "422 for a body that is not JSON",
        "match": {"status": 500, "text": "Internal Server Error"},
        "server": LCP_SERVER,
        "evidence": (
            "HTTP/1.1 500 Internal Server Error, content-length: 21, content-type: text/plain; charset=utf-8, "
            "body 'Internal Server Error'; the keep-alive connection is then closed without Connection: close "
            "(docs/llama-cpp.md, deviation 2)"
        ),
        "why": (
            "RouteErrorHandler's except clause calls request.json() on the broken body, which raises again; "
            "Starlette's outermost middleware answers a plain-text 500 and uvicorn drops the connection."
        ),
    },
    _lcp_validation_500("missing-field", "missing-field", "POST /v1/chat/completions", "messages that is a string"),
    _lcp_validation_500("missing-field", "missing-field", "POST /v1/chat/completions", "a message with an invalid role"),
    _lcp_validation_500("missing-field", "missing-field", "POST /v1/completions", "a prompt that is a number"),
    _lcp_validation_500("invalid-param", "invalid-param", "POST /v1/chat/completions", "top_p=1.5"),
    _lcp_validation_500("invalid-param", "invalid-param", "POST /v1/chat/completions", "top_p=-0.1"),
    _lcp_validation_500("invalid-param", "invalid-param", "POST /v1/completions", "max_tokens=-1"),
    *LCP_FUZZ_DEVIATIONS,
    {
        "check": "fuzz POST /v1/chat/completions (positive)",
        "rule": "chat-schema",
        "endpoint": "POST /v1/chat/completions",
        "case": "no 5xx for a valid request",
        "match": {"status": 500, "body": "ValidationInternalServerError"},
        "server": LCP_SERVER,
        "evidence": (
            'aibackend contract --fuzz-examples 6: {"messages": [{"content": "", "role": "developer"}], ...} -> 500 '
            '{"error":{"message":"6 validation errors:\\n  {\'type\': \'literal_error\', \'loc\': (\'body\', '
            "'messages', 0, 'ChatCompletionRequestSystemMessage', 'role'), ...\",\"type\":\"internal_server_error\","
            '"param":null,"code":null}}'
        ),
        "why": (
            "llama-cpp-python's message union (llama_cpp/llama_types.py, ChatCompletionRequestMessage: system, user, "
            "assistant, tool, function) predates OpenAI's `developer` role, so a valid developer message fails its "
            "pydantic validation, which RouteErrorHandler turns into a 500."
        ),
    },
    {
        "check": "fuzz POST /v1/completions (positive)",
        "rule": "completion-schema",
        "endpoint": "POST /v1/completions",
        "case": "no 5xx for a valid request",
        "match": {"status": 500, "body": "AssertionInternalServerError"},
        "server": LCP_SERVER,
        "evidence": (
            'aibackend contract --fuzz-examples 6 --seed 20240611: {"prompt": ["...", "..."], ...} -> 500 '
            '{"error":{"message":"","type":"internal_server_error","param":null,"code":null}}; server log: '
            "llama_cpp/server/app.py, line 308, in create_completion: assert len(body.prompt) <= 1, AssertionError"
        ),
        "why": (
            "create_completion (llama_cpp/server/app.py) serves one prompt only and asserts len(body.prompt) <= 1: "
            "a batch of prompts, valid per OpenAI, raises AssertionError, which RouteErrorHandler wraps into a 500 "
            "whose message is the assertion's empty text."
        ),
    },
]

LLAMA_SERVER = "llama.cpp as vendored by llama-cpp-python 0.3.36"
LS_SOURCE = "vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist"
LS_ACCEPTS_WHY = (
    "llama-server validates only what it needs to run a request. {detail} The request is served "
    "(200, a normal completion) instead of rejected with 400."
)


_LS_MESSAGES = '"messages": [{"role": "user", "content": "Say hello in three words."}]'
_LS_CHAT_200 = (
    ' -> 200 {{"choices":[{{"finish_reason":"length","index":0,"message":{{"role":"assistant","content":"{text}"}}}}],'
    '"created":...,"model":"tiny-llama","system_fingerprint":"b1-0c1e570","object":"chat.completion","usage":'
    '{{"completion_tokens":{n},"prompt_tokens":{p},"total_tokens":{t},"prompt_tokens_details":{{"cached_tokens":{c}}}}},'
    '"id":"chatcmpl-...","timings":{{...}}}}'
)


def _ls_chat(request: str, text: str, n: int = 3, p: int = 37, c: int = 36) -> str:
    """The evidence: a real exchange with the tiny model (aibackend contract, 2026-11-30)."""
    return f"POST /v1/chat/completions {{{request}}}" + _LS_CHAT_200.format(text=text, n=n, p=p, t=p + n, c=c)


def _ls_served(check: str, endpoint: str, what: str, schema: str, evidence: str, detail: str) -> Schema:
    """A contract-invalid request llama-server serves with a 200 and a valid ``schema`` body."""
    return {
        "check": check,
        "rule": check,
        "endpoint": endpoint,
        "case": f"400 for {what}",
        "match": {"status": 200, "body": schema},
        "server": LLAMA_SERVER,
        "evidence": evidence,
        "why": LS_ACCEPTS_WHY.format(detail=detail),
    }


_LS_CLAMPS = (
    "tools/server/server-schema.cpp declares temperature with set_limits(0, inf) and top_p with "
    "set_limits(0, 1): soft limits, which field_num::eval CLAMPS (std::max(min, std::min(max, v))) "
    "instead of rejecting; only hard limits (set_hard_limits: n_predict/max_tokens >= -1, n in "
    "[1, n_parallel]) raise the 400 \"Value must be between ...\"."
)
_LS_N_PREDICT = (
    "tools/server/server-schema.cpp gives n_predict (aliases max_tokens, max_completion_tokens) the hard "
    "limits [-1, INT32_MAX]: -1 means unlimited, 0 'evaluates the prompt only' (observed: one token is "
    "still sampled, completion_tokens 1)."
)
_LS_STREAM_OPTIONS = (
    "tools/server/server-schema.cpp reads stream_options.include_usage into the task's params whether or not "
    "`stream` is set, and only the chat STREAM formatter consults it (server-task.cpp, "
    "to_json_oaicompat_chat_stream); nothing cross-checks it against `stream`, so it is ignored."
)
LLAMA_CPP_DEVIATIONS: list[Schema] = [
    {
        "check": "completion-stream",
        "rule": "sse-usage",
        "endpoint": "POST /v1/completions",
        "case": "no usage (stream_options.include_usage not requested)",
        "match": {"actual": "usage in 1 chunk(s)"},
        "server": LLAMA_SERVER,
        "evidence": (
            'POST /v1/completions {"model": "tiny-llama", "prompt": "Say hello in three words.", "max_tokens": 3, '
            '"stream": true} -> the last event before data: [DONE] is {"choices":[{"text":"","index":0,"logprobs":null,'
            '"finish_reason":"length"}],"created":...,"model":"tiny-llama","system_fingerprint":"b1-0c1e570",'
            '"object":"text_completion","usage":{"completion_tokens":3,"prompt_tokens":21,"total_tokens":24,'
            '"prompt_tokens_details":{"cached_tokens":20}},"id":"chatcmpl-...","timings":{...}}'
        ),
        "why": (
            "The final text-completion result is rendered by server_task_result_cmpl_final::to_json_oaicompat "
            f"(tools/server/server-task.cpp, {LS_SOURCE}), which always adds usage_json_oaicompat(), streamed or "
            "not; include_usage is consulted only for chat streams (upstream PR ggml-org/llama.cpp#22081 proposes "
            "usage in every stream). Harmless to a client: one extra object on the last chunk."
        ),
    },
    {
        "check": "malformed-body",
        "rule": "malformed-body",
        "endpoint": "POST /v1/chat/completions",
        "case": "400 for a body that is not JSON",
        "match": {"status": 500, "body": "JsonParseError"},
        "server": LLAMA_SERVER,
        "evidence": (
            'POST /v1/chat/completions {"model": "x", "messages": [ -> 500 application/json {"error":{"code":500,'
            '"message":"[json.exception.parse_error.101] parse error at line 1, column 29: syntax error while '
            "parsing value - unexpected end of input; expected '[', '{', or a literal\",\"type\":\"server_error\"}}"
        ),
        "why": (
            "The route handler calls json::parse(req.body) first; nlohmann's parse_error is not a "
            "std::invalid_argument, so ex_wrapper (tools/server/server.cpp) maps it to ERROR_TYPE_SERVER, a 500 "
            "server_error (same body seen in containers/ramalama#752). The request IS rejected with a JSON error "
            "body, but with a 5xx: LiteLLM counts it as a deployment failure."
        ),
    },
    _ls_served(
        "missing-field", "POST /v1/chat/completions", "a message with an invalid role", "ChatCompletion",
        _ls_chat('"model": "tiny-llama", "messages": [{"role": "wizard", "content": "hi"}], "max_tokens": 3', " qster",
                 p=23, c=22),
        "Its chat parser checks that non-assistant messages have `content` and never checks the role string, "
        "which goes to the chat template as it is (oaicompat_chat_params_parse, tools/server/server-common.cpp).",
    ),
    _ls_served(
        "invalid-param", "POST /v1/chat/completions", "max_tokens=0", "ChatCompletion",
        _ls_chat(f'"model": "tiny-llama", {_LS_MESSAGES}, "max_tokens": 0', "M", n=1),
        _LS_N_PREDICT,
    ),
    _ls_served(
        "invalid-param", "POST /v1/chat/completions", "temperature=2.5", "ChatCompletion",
        _ls_chat(f'"model": "tiny-llama", {_LS_MESSAGES}, "max_tokens": 3, "temperature": 2.5', " m7an"), _LS_CLAMPS,
    ),
    _ls_served(
        "invalid-param", "POST /v1/chat/completions", "temperature=-0.5", "ChatCompletion",
        _ls_chat(f'"model": "tiny-llama", {_LS_MESSAGES}, "max_tokens": 3, "temperature": -0.5', " m7-")
        + " (clamped to 0: the greedy answer)",
        _LS_CLAMPS,
    ),
    _ls_served(
        "invalid-param", "POST /v1/chat/completions", "top_p=1.5", "ChatCompletion",
        _ls_chat(f'"model": "tiny-llama", {_LS_MESSAGES}, "max_tokens": 3, "top_p": 1.5', "j eer"), _LS_CLAMPS,
    ),
    _ls_served(
        "invalid-param", "POST /v1/completions", "max_tokens=0", "TextCompletion",
        'POST /v1/completions {"model": "tiny-llama", "prompt": "Say hello in three words.", "max_tokens": 0} -> 200 '
        '{"choices":[{"text":"re","index":0,"logprobs":null,"finish_reason":"length"}],...,"object":"text_completion",'
        '"usage":{"completion_tokens":1,"prompt_tokens":21,"total_tokens":22,"prompt_tokens_details":'
        '{"cached_tokens":20}},"id":"chatcmpl-...","timings":{...}}',
        _LS_N_PREDICT,
    ),
    _ls_served(
        "stream-options-without-stream", "POST /v1/chat/completions", "stream_options without stream",
        "ChatCompletion",
        _ls_chat(f'"model": "tiny-llama", {_LS_MESSAGES}, "max_tokens": 3, "stream_options": {{"include_usage": true}}',
                 "r7-"),
        _LS_STREAM_OPTIONS,
    ),
    _ls_served(
        "stream-options-without-stream", "POST /v1/chat/completions", "stream_options with stream: false",
        "ChatCompletion",
        _ls_chat(f'"model": "tiny-llama", {_LS_MESSAGES}, "max_tokens": 3, "stream": false, "stream_options": '
                 '{"include_usage": true}', "C:es"),
        _LS_STREAM_OPTIONS,
    ),
]

LLAMA_CPP_DEVIATIONS += [
    {
        **LLAMA_CPP_DEVIATIONS[0],
        "check": "fuzz POST /v1/completions (positive)",
        "evidence": "aibackend contract --fuzz-examples 6 --seed 1: a valid streamed text completion without "
        "stream_options -> usage in the final chunk (as in the completion-stream check)",
    },
    *(
        _fuzz_500(path, "malformed-body", {"status": 500, "body": "JsonParseError"}, LLAMA_SERVER,
                  "aibackend contract --fuzz-examples 6: a negative case whose body is not JSON (the bytes "
                  '"\\u0000") -> 500 {"error":{"code":500,"message":"[json.exception.parse_error.101] parse error '
                  'at line 1, column 1: ...","type":"server_error"}}',
                  LLAMA_CPP_DEVIATIONS[1]["why"])
        for path in (*FUZZ_PATHS, "/completion")
    ),
    *(
        _fuzz_500(
            "/v1/chat/completions", rule, {"status": 500, "body": "MessageParseError"}, LLAMA_SERVER,
            "aibackend contract --fuzz-examples 6 --seed 20240611: negative cases whose messages lack a role or carry a "
            'non-string one -> 500 {"error":{"code":500,"message":"Failed to parse messages: Missing \'role\' in '
            'message: {\\"content\\":\\"Infinity\\"}","type":"server_error"}} (seed 2: "Failed to parse messages: '
            '[json.exception.type_error.302] type must be string, but is null")',
            "common_chat_msgs_parse_oaicompat (common/chat.cpp) rethrows every error in a message (no role, a "
            "role or content of the wrong JSON type) as std::runtime_error(\"Failed to parse messages: ...\"), "
            "which ex_wrapper (tools/server/server.cpp) answers as a 500 server_error instead of a 400.",
        )
        for rule in ("missing-field", "invalid-param")
    ),
]

LITELLM_SERVER = "LiteLLM proxy 1.106.2"
LITELLM_DEVIATIONS: list[Schema] = [
    {
        "check": "missing-field",
        "rule": "missing-field",
        "endpoint": "POST /v1/completions",
        "case": "400 for a prompt that is a number",
        "match": {"status": 500, "body": "APIConnectionError"},
        "server": LITELLM_SERVER,
        "evidence": (
            'POST /v1/completions {"model": "qwen", "prompt": 42, "max_tokens": 3} -> 500 '
            '{"error": {"message": "litellm.APIConnectionError: ...", "type": null, "param": null, "code": "500"}}; seen by '
            "tests/contract/test_contract_litellm.py, the real proxy in front of a vLLM simulator"
        ),
        "why": (
            "The proxy does not validate `prompt`; the integer reaches the provider call, which fails inside "
            "LiteLLM and is mapped to APIConnectionError, a 500."
        ),
    },
    {
        "check": "missing-field",
        "rule": "missing-field",
        "endpoint": "POST /v1/chat/completions",
        "case": "400 for a request without model",
        "match": {"status": 404, "body": "Error"},
        "server": LITELLM_SERVER,
        "evidence": (
            'POST /v1/chat/completions without "model", on a config with a catch-all (model_name: "*", '
            "routing_rules.default_provider: ollama) -> 404 "
            '{"error": {"message": "litellm.NotFoundError: Ollama_chatException - '
            '{\\"error\\":\\"model \'None/None\' not found\\"}", "type": "invalid_request_error", '
            '"param": null, "code": "404"}} (tests/integration/test_reference_config.py)'
        ),
        "why": (
            "The proxy does not require `model`: behind a `*` route the missing name becomes 'None/None' and is "
            "sent to the default provider, whose 404 comes back. Still a 4xx with LiteLLM's error body, never a 5xx."
        ),
    },
    {
        "check": "completion-stream",
        "rule": "sse-usage",
        "endpoint": "POST /v1/completions",
        "case": "no usage (stream_options.include_usage not requested)",
        "match": {"actual": "usage in 4 chunk(s)"},
        "server": LITELLM_SERVER,
        "evidence": (
            "POST /v1/completions stream: true, max_tokens 3, no stream_options -> every one of the 4 SSE chunks "
            "carries a `usage` object (tests/contract/test_contract_litellm.py)"
        ),
        "why": (
            "LiteLLM's text-completion stream wrapper copies the usage it computes into every chunk, asked or not; "
            "chat streams are not affected."
        ),
    },
]


# --- one builder per provider type ---------------------------------------------------------

OPENAI_ERRORS = {"400": "invalid request", "404": "unknown model"}


def build_openai() -> Schema:
    schemas = {**openai_request_schemas(), **openai_response_schemas(), "Error": OPENAI_ERROR}
    return document(
        "OpenAI-compatible core",
        "What every /v1 server must honour (provider-contracts.md, 'OpenAI-compatible core'). "
        "Health of a generic server: GET /v1/models answers 200.",
        openai_paths(error_responses(OPENAI_ERRORS)),
        schemas,
    )


def build_vllm() -> Schema:
    model = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "model"},
            "created": INT0,
            "owned_by": {"const": "vllm"},
            "root": NONEMPTY,
            "parent": nullable(STR),
            "max_model_len": {"type": "integer", "minimum": 1},
            "permission": {"type": "array", "items": {"type": "object"}},
        }
    )
    # vLLM < 0.10.1 answered errors flat ({"object": "error", ...}); both are the real server.
    flat_error = obj(
        {
            "object": {"const": "error"},
            "message": STR,
            "type": STR,
            "param": nullable(STR),
            "code": {"anyOf": [STR, {"type": "integer"}, {"type": "null"}]},
        },
        closed=True,
    )
    schemas = {
        **openai_request_schemas(),
        **openai_response_schemas(model=model),
        "Error": {"oneOf": [OPENAI_ERROR, flat_error]},
    }
    paths = {
        "/health": {
            "get": {
                "summary": "engine health: 200 with an EMPTY body; 503 when the engine is dead",
                "responses": {"200": response("healthy, empty body"), "503": response("engine dead")},
            }
        },
        **openai_paths(error_responses(OPENAI_ERRORS)),
    }
    return document("vLLM OpenAI-compatible server", "vLLM's /v1 surface and /health.", paths, schemas)



def _ls_server_error(message_pattern: str) -> Schema:
    """llama-server's 500 error body (`server_error`) with a message matching ``message_pattern``."""
    error = obj(
        {"code": {"const": 500}, "message": {"type": "string", "pattern": message_pattern}, "type": {"const": "server_error"}},
        closed=True,
    )
    return obj({"error": error}, closed=True)

def build_llama_cpp() -> Schema:
    timings = obj(
        {
            "prompt_n": INT0,
            "prompt_ms": {"type": "number", "minimum": 0},
            "prompt_per_second": {"type": "number", "minimum": 0},
            "predicted_n": INT0,
            "predicted_ms": {"type": "number", "minimum": 0},
            "predicted_per_second": {"type": "number", "minimum": 0},
        }
    )
    meta = obj(
        {
            "vocab_type": INT0,
            "n_vocab": INT0,
            "n_ctx_train": INT0,
            "n_embd": INT0,
            "n_params": INT0,
            "size": INT0,
        }
    )
    model = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "model"},
            "created": INT0,
            "owned_by": {"const": "llamacpp"},
            "meta": ref("Meta"),
        }
    )
    schemas = {
        **openai_request_schemas(),
        **openai_response_schemas(chat_extra={"timings": ref("Timings")}, model=model),
        "Timings": timings,
        "Meta": meta,
        # exceed_context_size_error adds n_prompt_tokens and n_ctx (a prompt longer than the context).
        "Error": obj(
            {
                "error": obj(
                    {"code": {"type": "integer"}, "message": STR, "type": STR},
                    {"n_prompt_tokens": INT0, "n_ctx": INT0},
                    closed=True,
                )
            },
            closed=True,
        ),
        # ex_wrapper's 500 for a body json::parse rejects (a known deviation, below).
        "JsonParseError": _ls_server_error("^\\[json\\.exception\\.parse_error\\.[0-9]+\\] "),
        # common_chat_msgs_parse_oaicompat's 500 for a message without a (string) role (a known deviation).
        "MessageParseError": _ls_server_error("^Failed to parse messages: "),
        "Health": obj({"status": {"const": "ok"}}, closed=True),
        "NativeCompletionRequest": obj(
            {"prompt": {"anyOf": [STR, {"type": "array", "minItems": 1}]}},
            {"n_predict": {"type": "integer", "minimum": -1}, "stream": {"type": "boolean"}},
        ),
        "NativeCompletion": obj(
            {
                "content": STR,
                "stop": {"const": True},
                "stop_type": {"enum": ["none", "eos", "limit", "word"]},
                "timings": ref("Timings"),
                "tokens_predicted": INT0,
                "tokens_evaluated": INT0,
            }
        ),
        "NativeCompletionChunk": obj({"content": STR, "stop": {"type": "boolean"}}),
    }
    # One model per server: the model named in a request is ignored, so no 404.
    schemas["ModelList"]["properties"]["data"]["maxItems"] = 1
    schemas["ChatCompletion"]["required"].append("timings")
    errors = error_responses({"400": "invalid request"})
    paths = {
        "/health": {
            "get": {
                "summary": "200 {status: ok} when ready; 503 with an error body while loading the model",
                "responses": {
                    "200": response("ready", json_content(ref("Health"))),
                    "503": response("loading model", json_content(ref("Error"))),
                },
            }
        },
        **openai_paths(errors),
        "/completion": {
            "post": generation_operation(
                "llama-server's native completion (not OpenAI): SSE of {content, stop}, no [DONE]",
                "NativeCompletionRequest",
                "NativeCompletion",
                "NativeCompletionChunk",
                errors,
            )
        },
    }
    return document(
        "llama.cpp llama-server",
        "llama-server's OpenAI surface, /health and native /completion. Request validation is held to the "
        "OpenAI core; what the real server (llama.cpp as vendored by llama-cpp-python 0.3.36) serves or "
        "500s instead is listed in x-known-deviations.",
        paths,
        schemas,
        **{"x-known-deviations": LLAMA_CPP_DEVIATIONS},
    )


def build_llama_cpp_python() -> Schema:
    model = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "model"},
            "owned_by": {"const": "me"},
            "permissions": {"type": "array"},
        },
        closed=True,  # no `created`: the real server omits it (fails OpenAI's own Model schema)
    )
    validation_error = obj(
        {
            "detail": {
                "type": "array",
                "minItems": 1,
                "items": obj({"loc": {"type": "array"}, "msg": STR, "type": STR}),
            }
        },
        closed=True,
    )
    schemas = {
        **openai_request_schemas(),
        **openai_response_schemas(model=model),
        "Error": OPENAI_ERROR,
        "ValidationError": validation_error,
        # RouteErrorHandler's wrapping of every exception raised in a route (validation included).
        "InternalServerError": obj(
            {
                "error": obj(
                    {"message": STR, "type": {"const": "internal_server_error"}, "param": {"type": "null"}, "code": {"type": "null"}},
                    closed=True,
                )
            },
            closed=True,
        ),
    }
    # Two narrower shapes of it (known deviations met by fuzzing): a wrapped pydantic error, and the
    # empty message of a failed `assert`.
    for name, message in (
        ("ValidationInternalServerError", {"type": "string", "pattern": "^[0-9]+ validation errors?:"}),
        ("AssertionInternalServerError", {"const": ""}),
    ):
        schemas[name] = copy.deepcopy(schemas["InternalServerError"])
        schemas[name]["properties"]["error"]["properties"]["message"] = message
    errors = {
        **error_responses({"400": "invalid request", "404": "unknown model"}),
        "422": response("FastAPI request validation error", json_content(ref("ValidationError"))),
    }
    return document(
        "llama-cpp-python server",
        "FastAPI server of llama-cpp-python: models without `created`, `owned_by: me`; the model name and "
        "stream_options are ignored. Request validation must answer 4xx: FastAPI's 422 {detail: [...]} "
        "(llama-cpp-python 0.3.x answers 500 instead, which the contract suite reports as violations). "
        "No health endpoint. The 500s it really sends are listed in x-known-deviations.",
        openai_paths(errors),
        schemas,
        **{"x-known-deviations": LLAMA_CPP_PYTHON_DEVIATIONS},
    )


def build_litellm() -> Schema:
    schemas = {
        **openai_request_schemas(),
        **openai_response_schemas(),
        # LiteLLM 1.106 (seen): error.type may be null and the error carries
        # provider_specific_fields; message, type, param and code are always there.
        "Error": obj(
            {
                "error": obj(
                    {
                        "message": STR,
                        "type": nullable(STR),
                        "param": nullable(STR),
                        "code": {"anyOf": [STR, {"type": "integer"}, {"type": "null"}]},
                    }
                )
            },
            closed=True,
        ),
        "Readiness": obj({"status": {"const": "healthy"}}),
    }
    # The body LiteLLM sends when the backend call itself blew up (a known deviation, below).
    schemas["APIConnectionError"] = copy.deepcopy(schemas["Error"])
    schemas["APIConnectionError"]["properties"]["error"]["properties"]["message"] = {
        "type": "string",
        "pattern": "^litellm\\.APIConnectionError: ",
    }
    # LiteLLM drops null fields from stream chunks: a choice without finish_reason is one whose
    # finish_reason is null, and a text-completion chunk may carry no text.
    schemas["ChatCompletionChunk"]["properties"]["choices"]["items"]["required"].remove("finish_reason")
    text_choice = schemas["TextCompletionChunk"]["properties"]["choices"]["items"]
    text_choice["required"] = ["index"]
    auth_errors = error_responses({"401": "missing or wrong key", "400": "invalid request", "404": "unknown model"})
    paths = {
        "/health/liveliness": {
            "get": {
                "security": [],
                "summary": "liveness, no auth",
                "responses": {"200": response("alive", json_content({"const": "I'm alive!"}))},
            }
        },
        "/health/readiness": {
            "get": {
                "security": [],
                "summary": "readiness, no auth (never the expensive /health)",
                "responses": {"200": response("ready", json_content(ref("Readiness")))},
            }
        },
        **openai_paths(auth_errors, list_errors=error_responses({"401": "missing or wrong key"})),
    }
    return document(
        "LiteLLM gateway",
        "The gateway's surface: health probes without auth; models and completions need the master key.",
        paths,
        schemas,
        securitySchemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
        **{"x-known-deviations": LITELLM_DEVIATIONS},
    )


def build_ollama() -> Schema:
    details = obj(
        {
            "format": STR,
            "family": STR,
            "families": nullable({"type": "array", "items": STR}),
            "parameter_size": STR,
            "quantization_level": STR,
        }
    )
    tag = obj(
        {
            "name": NONEMPTY,
            "model": NONEMPTY,
            "modified_at": {"type": "string", "format": "date-time"},
            "size": INT0,
            "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "details": ref("Details"),
        }
    )
    running = copy.deepcopy(tag)
    del running["properties"]["modified_at"]
    running["required"].remove("modified_at")
    running["required"] += ["expires_at", "size_vram"]
    running["properties"].update({"expires_at": {"type": "string", "format": "date-time"}, "size_vram": INT0})
    ns = {"type": "integer", "minimum": 0}
    final_fields: dict[str, Schema] = {
        "done": {"const": True},
        "done_reason": {"enum": ["stop", "length", "load", "unload"]},
        "total_duration": ns,
        "load_duration": ns,
        "prompt_eval_count": INT0,
        "prompt_eval_duration": ns,
        "eval_count": INT0,
        "eval_duration": ns,
    }
    message = obj({"role": {"const": "assistant"}, "content": STR}, {"tool_calls": {"type": "array"}})
    common = {"model": NONEMPTY, "created_at": {"type": "string", "format": "date-time"}}
    options = obj(
        {},
        {
            "num_predict": {"type": "integer"},
            "temperature": {"type": "number"},
            "top_p": {"type": "number"},
            "seed": {"type": "integer"},
            "num_ctx": {"type": "integer", "minimum": 1},
        },
    )
    request_common: dict[str, Schema] = {
        "stream": {"type": "boolean"},
        "options": ref("Options"),
        "keep_alive": {"anyOf": [STR, {"type": "number"}]},
        "format": {"anyOf": [{"const": "json"}, {"type": "object"}]},
    }
    schemas: dict[str, Schema] = {
        "Details": details,
        "Tag": tag,
        "Tags": obj({"models": {"type": "array", "items": ref("Tag")}}, closed=True),
        "RunningModel": running,
        "Running": obj({"models": {"type": "array", "items": ref("RunningModel")}}, closed=True),
        "Version": obj({"version": NONEMPTY}, closed=True),
        "ShowRequest": obj({"model": NONEMPTY}),
        "Show": obj(
            {
                "modified_at": {"type": "string", "format": "date-time"},
                "details": ref("Details"),
                "model_info": {"type": "object"},
                "capabilities": {"type": "array", "items": STR},
            },
            {"parameters": STR, "license": STR, "template": STR},
        ),
        "Options": options,
        "Message": obj({"role": {"enum": ["system", "user", "assistant", "tool"]}, "content": STR}),
        "ChatRequest": obj(
            {"model": NONEMPTY, "messages": {"type": "array", "minItems": 1, "items": ref("Message")}},
            {**request_common, "tools": {"type": "array"}},
        ),
        # An empty prompt (or no messages) only loads the model: a different, bodiless answer.
        "GenerateRequest": obj({"model": NONEMPTY, "prompt": NONEMPTY}, {**request_common, "system": STR, "raw": {"type": "boolean"}}),
        "ChatChunk": obj({**common, "message": message, "done": {"const": False}}),
        "ChatFinal": obj({**common, "message": message, **final_fields}),
        "GenerateChunk": obj({**common, "response": STR, "done": {"const": False}}),
        "GenerateFinal": obj({**common, "response": STR, **final_fields}, {"context": {"type": "array"}}),
        # Either a chunk or the final line: what one NDJSON line may be.
        "ChatLine": {"oneOf": [ref("ChatChunk"), ref("ChatFinal")]},
        "GenerateLine": {"oneOf": [ref("GenerateChunk"), ref("GenerateFinal")]},
        "Error": obj({"error": NONEMPTY}, closed=True),
    }
    errors = error_responses({"400": "ill-typed field or malformed body", "404": "model 'x' not found"})
    paths = {
        "/": {
            "get": {
                "summary": "liveness",
                "responses": {"200": response("running", {"text/plain": {"schema": {"const": "Ollama is running"}}})},
            }
        },
        "/api/version": {"get": {"summary": "server version", "responses": {"200": response("version", json_content(ref("Version")))}}},
        "/api/tags": {"get": {"summary": "local models", "responses": {"200": response("models", json_content(ref("Tags")))}}},
        "/api/ps": {"get": {"summary": "loaded models", "responses": {"200": response("models", json_content(ref("Running")))}}},
        "/api/show": {
            "post": {
                "summary": "model information",
                "requestBody": {"required": True, "content": json_content(ref("ShowRequest"))},
                "responses": {"200": response("model information", json_content(ref("Show"))), **errors},
            }
        },
        "/api/chat": {
            "post": generation_operation(
                "chat; streams NDJSON unless stream: false", "ChatRequest", "ChatFinal", "ChatLine", errors,
                stream_media="application/x-ndjson",
            )
        },
        "/api/generate": {
            "post": generation_operation(
                "generate; streams NDJSON unless stream: false", "GenerateRequest", "GenerateFinal", "GenerateLine",
                errors, stream_media="application/x-ndjson",
            )
        },
    }
    return document(
        "Ollama native API",
        "The /api surface a gateway and an operator use (model management is out of scope); "
        "Ollama's /v1 is checked as the openai type.",
        paths,
        schemas,
    )


BUILDERS = {
    "ollama": build_ollama,
    "vllm": build_vllm,
    "llama_cpp": build_llama_cpp,
    "llama_cpp_python": build_llama_cpp_python,
    "openai": build_openai,
    "litellm": build_litellm,
}


def build_spec(provider_type: str) -> Schema:
    return BUILDERS[provider_type]()


def spec_path(provider_type: str) -> Path:
    return SPEC_DIR / f"{provider_type}.yaml"


class _IndentedDumper(yaml.SafeDumper):
    # Indent list items under their key, as the project's yamllint config expects.
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: object) -> bool:
        return True  # shared components are written out in full: no &id001 anchors


def render(spec: Schema) -> str:
    header = "# GENERATED by `python -m contracts.specbuilder` from contracts/specbuilder.py: edit the builder, not this file.\n"
    return header + yaml.dump(spec, Dumper=_IndentedDumper, sort_keys=False, width=100, allow_unicode=True)


def write_specs(directory: Path = SPEC_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for provider_type in PROVIDER_TYPES:
        path = directory / f"{provider_type}.yaml"
        path.write_text(render(build_spec(provider_type)), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_specs():
        print(written_path, file=sys.stdout)
