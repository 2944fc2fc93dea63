"""The ``llama_cpp_python`` contract: llama-cpp-python's FastAPI server, and the 500s its 0.3.36
really sends (known deviations).

Its models have no ``created`` and ``owned_by: me``; the model name and ``stream_options`` are
ignored; no health endpoint. Request validation must answer 4xx (FastAPI's 422 ``{detail: [...]}``);
the real server wraps every error raised in a route into a 500, which the records below excuse
exactly, shape by shape.
"""

from __future__ import annotations

import copy

from contracts.specbuilder.blocks import (
    NONEMPTY,
    STR,
    Schema,
    document,
    error_responses,
    json_content,
    obj,
    ref,
    response,
)
from contracts.specbuilder.deviations import FUZZ_PATHS, fuzz_500
from contracts.specbuilder.openai_family import (
    OPENAI_ERROR,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "KNOWN_DEVIATIONS", "build"]

CONTRACT_TYPE = "llama_cpp_python"

# --- known deviations (contracts/specbuilder/deviations.py says what a record is) -----------------

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


LCP_FUZZ_EVIDENCE = (
    "aibackend contract --fuzz-examples 6 --seed 20240611: negative cases, e.g. a body that is the string "
    '"\\u0000" -> 500 text/plain Internal Server Error; {"temperature": [[], {}], ...} -> 500 '
    '{"error":{"message":"1 validation error:\\n  {\'type\': \'union_tag_invalid\', ...","type":'
    '"internal_server_error","param":null,"code":null}}'
)
LCP_FUZZ_DEVIATIONS: list[Schema] = [
    *(
        fuzz_500(path, "malformed-body", {"status": 500, "text": "Internal Server Error"}, LCP_SERVER, LCP_FUZZ_EVIDENCE,
                  "A body FastAPI cannot parse as JSON: RouteErrorHandler's except clause calls request.json() "
                  "again, which raises; Starlette's plain-text 500 (deviation 2 of docs/llama-cpp.md).")
        for path in FUZZ_PATHS
    ),
    *(
        fuzz_500(path, rule, {"status": 500, "body": "InternalServerError"}, LCP_SERVER, LCP_FUZZ_EVIDENCE, LCP_WHY)
        for path in FUZZ_PATHS
        for rule in ("malformed-body", "missing-field", "invalid-param")
    ),
]

KNOWN_DEVIATIONS: list[Schema] = [
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


# --- the spec ------------------------------------------------------------------------------------


def build() -> Schema:
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
        **{"x-known-deviations": KNOWN_DEVIATIONS},
    )
