"""The ``llama_cpp`` contract: llama-server's OpenAI surface, ``/health`` and native ``/completion``,
and what the real server (llama.cpp as vendored by llama-cpp-python 0.3.36) serves or 500s against it
(known deviations).

One model per server (the name in a request is ignored, so no 404); chat answers carry ``timings``
and models ``meta``. llama-server validates only what it needs to run a request: what it clamps,
ignores or answers with a 500 is recorded below, each with the source line that explains it.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import (
    INT0,
    NONEMPTY,
    STR,
    Schema,
    document,
    error_responses,
    generation_operation,
    json_content,
    obj,
    ref,
    response,
)
from contracts.specbuilder.deviations import FUZZ_PATHS, fuzz_500
from contracts.specbuilder.openai_family import openai_paths, openai_request_schemas, openai_response_schemas

__all__ = ["CONTRACT_TYPE", "KNOWN_DEVIATIONS", "build"]

CONTRACT_TYPE = "llama_cpp"

# --- known deviations (contracts/specbuilder/deviations.py says what a record is) -----------------

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
KNOWN_DEVIATIONS: list[Schema] = [
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

KNOWN_DEVIATIONS += [
    {
        **KNOWN_DEVIATIONS[0],
        "check": "fuzz POST /v1/completions (positive)",
        "evidence": "aibackend contract --fuzz-examples 6 --seed 1: a valid streamed text completion without "
        "stream_options -> usage in the final chunk (as in the completion-stream check)",
    },
    *(
        fuzz_500(path, "malformed-body", {"status": 500, "body": "JsonParseError"}, LLAMA_SERVER,
                  "aibackend contract --fuzz-examples 6: a negative case whose body is not JSON (the bytes "
                  '"\\u0000") -> 500 {"error":{"code":500,"message":"[json.exception.parse_error.101] parse error '
                  'at line 1, column 1: ...","type":"server_error"}}',
                  KNOWN_DEVIATIONS[1]["why"])
        for path in (*FUZZ_PATHS, "/completion")
    ),
    *(
        fuzz_500(
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


# --- the spec ------------------------------------------------------------------------------------


def _ls_server_error(message_pattern: str) -> Schema:
    """llama-server's 500 error body (`server_error`) with a message matching ``message_pattern``."""
    error = obj(
        {"code": {"const": 500}, "message": {"type": "string", "pattern": message_pattern}, "type": {"const": "server_error"}},
        closed=True,
    )
    return obj({"error": error}, closed=True)


def build() -> Schema:
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
        **{"x-known-deviations": KNOWN_DEVIATIONS},
    )
