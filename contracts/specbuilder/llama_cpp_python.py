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
from contracts.suite.check import MAX_TOKENS

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

# max_tokens overrun (found with the byte-level tiny models, contracts/engines/tiny_model.py):
# Llama._create_completion (llama_cpp/llama.py, 0.3.36) skips its `len(completion_tokens) >= max_tokens` test
# with `continue` while the text ends inside a multi-byte UTF-8 character (`multibyte_fix`), so a character
# begun at the limit is finished: 1-3 tokens more than asked (a 4-byte character needs 3 more), all generated
# and counted in usage. A stream shows it only when the text is not UTF-8 (then every token may be its own
# chunk, one "" each for stray bytes): content chunks never outnumber its tokens, so N + 1..3 chunks is the
# same overrun. The records list exactly max_tokens + 1..3, in usage and in content chunks; anything longer
# (only a text that is not UTF-8 can re-arm the wait: a random-byte model) still fails.
LCP_OVERRUN_EVIDENCE = (
    "the bytes tiny model (2-byte characters, one token per byte): POST /v1/chat/completions "
    '{"model": "tiny-llama", "messages": [{"role": "user", "content": "Say hello in three words."}], '
    '"max_tokens": 3} -> 200 {"id":"chatcmpl-ffc97ae4-...","object":"chat.completion",...,"choices":[{"index":0,'
    '"message":{"content":"\\u014d\\u02d0","role":"assistant"},"logprobs":null,"finish_reason":"length"}],'
    '"usage":{"prompt_tokens":42,"completion_tokens":4,"total_tokens":46}}; llama-server answers the same request '
    '{"content":"\\u073d"} with completion_tokens 3. The bytes-3 and bytes-4 models overrun max_tokens 4 and 5 '
    "by 2 and 3 (tests/contract/test_engine_overrun.py)"
)
LCP_OVERRUN_WHY = (
    "Llama._create_completion (llama_cpp/llama.py) `continue`s past the max_tokens test while multibyte_fix > 0, "
    "i.e. while the generated text ends in an incomplete UTF-8 character, and so finishes that character: up to "
    "3 more tokens (a 4-byte character begun at the limit), generated and counted in usage.completion_tokens."
)
LCP_OVERRUN_CHUNK_EVIDENCE = (
    "the random-bytes tiny model (byte tokens at random, text often not UTF-8): POST /v1/chat/completions "
    '{"model": "tiny-llama", "messages": [{"role": "user", "content": "Say hello in three words."}], '
    '"max_tokens": 3, "seed": 0, "stream": true} -> content deltas "7", " o", "", "X", "", "b" (4 non-empty) '
    "then finish_reason length; without the seed 27 of 300 such streams had 4 content chunks, 7 had 5, 1 had 6, "
    "1 had 7 (tests/contract/test_engine_overrun.py replays the seeded one)"
)
# The suite asks for MAX_TOKENS; fuzzing for 1..FUZZ_MAX_TOKENS (contracts/fuzz.py caps every request at 4).
FUZZ_MAX_TOKENS = 4


def _overrun(check: str, endpoint: str, limit: int, *, in_chunks: bool = False) -> Schema:
    """The record of the overrun at ``limit`` as the check reports it: in usage, or in content chunks."""
    if in_chunks:
        case, seen = f"at most max_tokens = {limit} tokens", [f"{limit + extra} content chunks for choice 0" for extra in (1, 2, 3)]
    else:
        case, seen = f"completion_tokens <= max_tokens = {limit}", [f"completion_tokens = {limit + extra}" for extra in (1, 2, 3)]
    return {
        "check": check,
        "rule": "max-tokens",
        "endpoint": endpoint,
        "case": case,
        "match": {"actual_in": seen},
        "server": LCP_SERVER,
        "evidence": LCP_OVERRUN_CHUNK_EVIDENCE if in_chunks else LCP_OVERRUN_EVIDENCE,
        "why": LCP_OVERRUN_WHY,
    }


LCP_OVERRUN_DEVIATIONS: list[Schema] = [
    _overrun("chat", "POST /v1/chat/completions", MAX_TOKENS),
    _overrun("completion", "POST /v1/completions", MAX_TOKENS),
    *(_overrun(check, "POST /v1/chat/completions", MAX_TOKENS, in_chunks=True) for check in ("chat-stream", "chat-stream-usage")),
    *(_overrun(check, "POST /v1/completions", MAX_TOKENS, in_chunks=True)
      for check in ("completion-stream", "completion-stream-usage")),
    *(
        _overrun(f"fuzz POST {path} (positive)", f"POST {path}", limit, in_chunks=in_chunks)
        for path in FUZZ_PATHS
        for limit in range(1, FUZZ_MAX_TOKENS + 1)
        for in_chunks in (False, True)
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
    *LCP_OVERRUN_DEVIATIONS,
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
