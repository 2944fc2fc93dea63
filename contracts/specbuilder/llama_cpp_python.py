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
    STR,
    Schema,
    document,
    json_content,
    nullable,
    obj,
    ref,
    response,
)
from contracts.specbuilder.deviations import FUZZ_INVALID_CASE, FUZZ_PATHS, fuzz_500
from contracts.specbuilder.openai_family import (
    Requests,
    Responses,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)
from contracts.suite.check import MAX_TOKENS

__all__ = ["CONTRACT_TYPE", "KNOWN_DEVIATIONS", "REQUESTS", "RESPONSES", "build"]

CONTRACT_TYPE = "llama_cpp_python"

_CONTENT = nullable(STR)
_PART = {
    "anyOf": [
        obj({"type": {"const": "text"}, "text": STR}),
        obj({"type": {"const": "image_url"}, "image_url": {"anyOf": [STR, obj({"url": STR})]}}),
    ]
}
_TOOL_CALL = obj({"id": STR, "type": {"const": "function"}, "function": obj({"name": STR, "arguments": STR})})
# llama_cpp/server/types.py and llama_types.py: messages default to [], a message is a system, user,
# assistant, tool (with tool_call_id) or function message; prompt defaults to ""; the model is ignored;
# top_p in [0, 1], the completions' max_tokens >= 0; no stream_options field.
REQUESTS = Requests(
    model_required=False,
    message={
        "anyOf": [
            obj({"role": {"const": "system"}, "content": _CONTENT}),
            obj({"role": {"const": "user"}, "content": nullable({"anyOf": [STR, {"type": "array", "items": _PART}]})}),
            obj({"role": {"const": "assistant"}}, {"content": STR, "tool_calls": {"type": "array", "items": _TOOL_CALL}}),
            obj({"role": {"const": "tool"}, "content": _CONTENT, "tool_call_id": STR}),
            obj({"role": {"const": "function"}, "content": _CONTENT, "name": STR}),
        ]
    },
    messages_min_items=None,
    prompt={"anyOf": [STR, {"type": "array", "items": STR}]},
    chat_max_tokens={"type": "integer"},
    completion_max_tokens={"type": "integer", "minimum": 0},
    n={"type": "integer"},
    temperature={"type": "number"},
    top_p={"type": "number", "minimum": 0, "maximum": 1},
    stop={"anyOf": [STR, {"type": "array", "items": STR}]},
    stream_options_needs_stream=None,
    nullable_optionals=False,
)
RESPONSES = Responses(
    usage_required=True,
    chat_finish_reasons=["stop", "length", "tool_calls", "function_call"],
    text_finish_reasons=["stop", "length"],
    delta_role={"const": "assistant"},
)

# --- known deviations (contracts/specbuilder/deviations.py says what a record is) -----------------

LCP_SERVER = "llama-cpp-python 0.3.36"
LCP_WHY = (
    "RouteErrorHandler (llama_cpp/server/errors.py) wraps every exception raised in a route, FastAPI's "
    "RequestValidationError included, into an OpenAI-style 500 internal_server_error (upstream PR #481 documents "
    "it; reported as a bug in ggml-org/llama.cpp#23463): the request IS rejected, with a JSON error body, but "
    "with a 5xx instead of FastAPI's 422."
)
_BATCH_WHY = (
    "create_completion (llama_cpp/server/app.py) serves one prompt only and asserts len(body.prompt) <= 1: "
    "a batch of prompts, valid per its own request model, raises AssertionError, which RouteErrorHandler "
    "wraps into a 500 whose message is the assertion's empty text."
)
_TEMPLATE_WHY = (
    "An assistant message may omit content (ChatCompletionRequestAssistantMessage: content NotRequired, "
    "llama_cpp/llama_types.py), but the chat template reads message.content of every message: jinja's "
    "UndefinedError, which RouteErrorHandler wraps into a 500."
)
_NULL_CONTENT_WHY = (
    "A message's content may be null (content: Optional[str], llama_cpp/llama_types.py), but the chat "
    "template concatenates it as a string: TypeError, which RouteErrorHandler wraps into a 500."
)
_STREAM_WHY = (
    " Streamed, the same request is answered 200 text/event-stream with an EMPTY body: "
    "create_chat_completion (llama_cpp/server/app.py) returns the EventSourceResponse first and only then "
    "calls Llama.create_chat_completion inside get_event_publisher, whose try catches nothing but "
    "cancellation, so the exception ends the stream before its first event (no chunk, no [DONE])."
)
# What contracts/streaming.py reports for a 200 stream with an empty body: (rule, expected, actual).
_EMPTY_STREAM = (
    ("sse-framing", "'data: <payload>' events each followed by a blank line", "empty body"),
    ("sse-done", "the last event is 'data: [DONE]'", "last event: (no events)"),
    ("sse-finish-reason", "exactly one non-null finish_reason for choice 0", "0: []"),
)


def _empty_stream(request_class: str, exchange: str, why: str) -> list[Schema]:
    """The records of a valid streamed chat request whose chat template raises: 200, empty stream."""
    return [
        {
            "check": "fuzz POST /v1/chat/completions (positive)",
            "rule": rule,
            "endpoint": "POST /v1/chat/completions",
            "case": expected,
            "request_class": request_class,
            "match": {"actual": actual},
            "server": LCP_SERVER,
            "exchange": f"llama_cpp_python/{exchange}.json",
            "evidence": f"fixtures/exchanges/llama_cpp_python/{exchange}.json",
            "why": why + _STREAM_WHY,
        }
        for rule, expected, actual in _EMPTY_STREAM
    ]


_EMPTY_PROMPT_WHY = (
    "A completion's prompt defaults to \"\" (CreateCompletionRequest, llama_cpp/server/types.py). With a model "
    "that adds no BOS token (the bytes and large-vocab tiny models: tokenizer.ggml.add_bos_token false) an "
    "empty prompt is zero tokens and Llama.sample's `assert self.n_tokens > 0` (llama_cpp/llama.py:822) fails: "
    "RouteErrorHandler wraps the AssertionError into a 500 with an empty message. With a model that adds BOS the "
    "same request is served (200)."
)
_EMPTY_PROMPT_EVIDENCE = (
    'tests/contract/test_engine_contract.py, fuzzing the bytes and large-vocab tiny models: POST /v1/completions '
    '{"prompt": "", "max_tokens": 4} (and a body without prompt) -> 500 '
    '{"error":{"message":"","type":"internal_server_error","param":null,"code":null}}; the ascii model answers 200'
)


def _empty_prompt(check: str, rule: str, case: str) -> Schema:
    return {
        "check": check,
        "rule": rule,
        "endpoint": "POST /v1/completions",
        "case": case,
        "request_class": "an empty prompt",
        "match": {"status": 500, "body": "AssertionInternalServerError"},
        "server": LCP_SERVER,
        "evidence": _EMPTY_PROMPT_EVIDENCE,
        "why": _EMPTY_PROMPT_WHY,
    }


LCP_NOT_JSON_WHY = (
    "RouteErrorHandler's except clause calls request.json() on the broken body, which raises again; "
    "Starlette's outermost middleware answers a plain-text 500 and uvicorn drops the connection."
)


def _lcp_validation_500(check: str, rule: str, endpoint: str, what: str, exchange: str) -> Schema:
    return {
        "check": check,
        "rule": rule,
        "endpoint": endpoint,
        "case": f"422 for {what}",
        "match": {"status": 500, "body": "ValidationInternalServerError"},
        "server": LCP_SERVER,
        "exchange": f"llama_cpp_python/{exchange}.json",
        "evidence": f"fixtures/exchanges/llama_cpp_python/{exchange}.json",
        "why": LCP_WHY,
    }


# Fuzzing's invalid requests: a body that is no JSON (the plain-text 500), and any request its pydantic
# models reject (the wrapped validation error, "N validation error(s): ...").
LCP_FUZZ_DEVIATIONS: list[Schema] = [
    *(
        fuzz_500(path, "malformed-body", "not JSON", {"status": 500, "text": "Internal Server Error"}, LCP_SERVER,
                 f"llama_cpp_python/{name}.json", LCP_NOT_JSON_WHY)
        for path, name in (("/v1/chat/completions", "not-json-fuzz"), ("/v1/completions", "not-json-completion"))
    ),
    *(
        fuzz_500(path, rule, "a request its request schema rejects", {"status": 500, "body": "ValidationInternalServerError"},
                 LCP_SERVER, f"llama_cpp_python/{name}.json", LCP_WHY)
        for path, name in (("/v1/chat/completions", "temperature-wrong-type-fuzz"), ("/v1/completions", "prompt-number"))
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
        "exchange": "llama_cpp_python/malformed-body.json",
        "evidence": "fixtures/exchanges/llama_cpp_python/malformed-body.json (the keep-alive connection is then closed)",
        "why": LCP_NOT_JSON_WHY,
    },
    _lcp_validation_500("missing-field", "missing-field", "POST /v1/chat/completions", "messages that is a string", "messages-string"),
    _lcp_validation_500("missing-field", "missing-field", "POST /v1/chat/completions", "a message with an invalid role", "role-wizard"),
    _lcp_validation_500("missing-field", "missing-field", "POST /v1/completions", "a prompt that is a number", "prompt-number"),
    _lcp_validation_500("invalid-param", "invalid-param", "POST /v1/chat/completions", "top_p=1.5", "top-p-1.5"),
    _lcp_validation_500("invalid-param", "invalid-param", "POST /v1/chat/completions", "top_p=-0.1", "top-p-negative"),
    _lcp_validation_500("invalid-param", "invalid-param", "POST /v1/completions", "max_tokens=-1", "max-tokens-negative"),
    *LCP_FUZZ_DEVIATIONS,
    *(
        {
            "check": "fuzz POST /v1/completions (positive)",
            "rule": "completion-schema",
            "endpoint": "POST /v1/completions",
            "case": "no 5xx for a valid request",
            "request_class": "a batch of prompts",
            "match": {"status": 500, "body": "AssertionInternalServerError"},
            "server": LCP_SERVER,
            "exchange": "llama_cpp_python/prompt-batch-fuzz.json",
            "evidence": "fixtures/exchanges/llama_cpp_python/prompt-batch-fuzz.json",
            "why": _BATCH_WHY,
        },
        *(fuzz_500("/v1/completions", rule, "a batch of prompts", {"status": 500, "body": "AssertionInternalServerError"},
                   LCP_SERVER, "llama_cpp_python/prompt-batch-fuzz.json", _BATCH_WHY)
          for rule in ("missing-field", "invalid-param")),
        {
            "check": "fuzz POST /v1/chat/completions (positive)",
            "rule": "chat-schema",
            "endpoint": "POST /v1/chat/completions",
            "case": "no 5xx for a valid request",
            "request_class": "an assistant message without content",
            "match": {"status": 500, "body": "TemplateInternalServerError"},
            "server": LCP_SERVER,
            "exchange": "llama_cpp_python/assistant-without-content.json",
            "evidence": "fixtures/exchanges/llama_cpp_python/assistant-without-content.json",
            "why": _TEMPLATE_WHY,
        },
        *(fuzz_500("/v1/chat/completions", rule, "an assistant message without content",
                   {"status": 500, "body": "TemplateInternalServerError"}, LCP_SERVER,
                   "llama_cpp_python/assistant-without-content.json", _TEMPLATE_WHY)
          for rule in ("missing-field", "invalid-param")),
        {
            "check": "fuzz POST /v1/chat/completions (positive)",
            "rule": "chat-schema",
            "endpoint": "POST /v1/chat/completions",
            "case": "no 5xx for a valid request",
            "request_class": "a message whose content is null",
            "match": {"status": 500, "body": "NullContentInternalServerError"},
            "server": LCP_SERVER,
            "exchange": "llama_cpp_python/null-content.json",
            "evidence": "fixtures/exchanges/llama_cpp_python/null-content.json",
            "why": _NULL_CONTENT_WHY,
        },
        *(fuzz_500("/v1/chat/completions", rule, "a message whose content is null",
                   {"status": 500, "body": "NullContentInternalServerError"}, LCP_SERVER,
                   "llama_cpp_python/null-content.json", _NULL_CONTENT_WHY)
          for rule in ("missing-field", "invalid-param")),
        *_empty_stream("a message whose content is null", "null-content-stream", _NULL_CONTENT_WHY),
        *_empty_stream("an assistant message without content", "assistant-without-content-stream", _TEMPLATE_WHY),
    ),
    *LCP_OVERRUN_DEVIATIONS,
    _empty_prompt("fuzz POST /v1/completions (positive)", "completion-schema", "no 5xx for a valid request"),
    *(_empty_prompt("fuzz POST /v1/completions (negative)", rule, FUZZ_INVALID_CASE) for rule in ("missing-field", "invalid-param")),
]


# --- the spec ------------------------------------------------------------------------------------


def build() -> Schema:
    model = obj(
        {
            "id": STR,
            "object": {"const": "model"},
            "owned_by": {"const": "me"},
            "permissions": {"type": "array"},
        },
        closed=True,  # no `created`: the real server omits it (fails OpenAI's own Model schema)
    )
    validation_error = obj({"detail": {"type": "array", "items": obj({"loc": {"type": "array"}, "msg": STR, "type": STR})}})
    schemas = {
        **openai_request_schemas(REQUESTS),
        **openai_response_schemas(RESPONSES, model=model),
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
        ("TemplateInternalServerError", {"const": "'dict object' has no attribute 'content'"}),
        ("NullContentInternalServerError", {"const": 'can only concatenate str (not "NoneType") to str'}),
    ):
        schemas[name] = copy.deepcopy(schemas["InternalServerError"])
        schemas[name]["properties"]["error"]["properties"]["message"] = message
    errors = {"422": response("FastAPI request validation error", json_content(ref("ValidationError")))}
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
