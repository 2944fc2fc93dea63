"""The ``llama_cpp`` contract: llama-server's OpenAI surface, ``/health`` and native ``/completion``,
and what the real server (llama.cpp as vendored by llama-cpp-python 0.3.36) serves or 500s against it
(known deviations).

One model per server (the name in a request is ignored, so no 404); chat answers carry ``timings``
and models ``meta``. llama-server validates only what it needs to run a request: what it clamps,
ignores or answers with a 500 is recorded below, each with the source line that explains it.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import (
    INT,
    STR,
    Schema,
    document,
    error_responses,
    generation_operation,
    json_content,
    nullable,
    obj,
    ref,
    response,
)
from contracts.specbuilder.deviations import fuzz_500
from contracts.specbuilder.openai_family import (
    Requests,
    Responses,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "KNOWN_DEVIATIONS", "REQUESTS", "RESPONSES", "build"]

CONTRACT_TYPE = "llama_cpp"

# What llama-server validates (tools/server/server-schema.cpp, server-common.cpp): messages an array
# of messages with a role (any string) and content unless from the assistant; n_predict (max_tokens)
# hard-limited to >= -1, n to >= 1; temperature and top_p soft limits (clamped, never refused);
# stream_options read only by chat streams. The model name is ignored (one model per server).
REQUESTS = Requests(
    model_required=False,
    message={
        "anyOf": [
            obj({"role": STR, "content": nullable({"anyOf": [STR, {"type": "array"}]})}),
            obj({"role": {"const": "assistant"}}),
        ]
    },
    messages_min_items=None,
    prompt={"anyOf": [STR, {"type": "array"}]},
    chat_max_tokens={"type": "integer", "minimum": -1},
    completion_max_tokens={"type": "integer", "minimum": -1},
    n={"type": "integer", "minimum": 1},
    temperature={"type": "number"},
    top_p={"type": "number"},
    stop={"anyOf": [STR, {"type": "array", "items": STR}]},
    stream_options_needs_stream=None,
    nullable_optionals=False,
)
RESPONSES = Responses(
    usage_required=True,
    chat_finish_reasons=["stop", "length", "tool_calls"],
    text_finish_reasons=["stop", "length"],
    delta_role={"const": "assistant"},
)

# --- known deviations (contracts/specbuilder/deviations.py says what a record is) -----------------

LLAMA_SERVER = "llama.cpp as vendored by llama-cpp-python 0.3.36"


def _exchange(name: str) -> str:
    """The evidence: a recorded exchange with the real server (fixtures/exchanges/llama_cpp/)."""
    return f"fixtures/exchanges/llama_cpp/{name}.json"


_JSON_PARSE_WHY = (
    "The route handler calls json::parse(req.body) first; nlohmann's parse_error is not a "
    "std::invalid_argument, so ex_wrapper (tools/server/server.cpp) maps it to ERROR_TYPE_SERVER, a 500 "
    "server_error. The request IS rejected with a JSON error body, but with a 5xx: LiteLLM counts it as a "
    "deployment failure."
)
KNOWN_DEVIATIONS: list[Schema] = [
    {
        "check": "completion-stream",
        "rule": "sse-usage",
        "endpoint": "POST /v1/completions",
        "case": "no usage (stream_options.include_usage not requested)",
        "match": {"actual": "usage in 1 chunk(s)"},
        "server": LLAMA_SERVER,
        "exchange": "llama_cpp/completion-stream.json",
        "evidence": _exchange("completion-stream") + ": the last event before data: [DONE] carries usage",
        "why": (
            "The final text-completion result is rendered by server_task_result_cmpl_final::to_json_oaicompat "
            "(tools/server/server-task.cpp), which always adds usage_json_oaicompat(), streamed or not; "
            "include_usage is consulted only for chat streams. Harmless to a client: one extra object on the "
            "last chunk."
        ),
    },
    {
        "check": "malformed-body",
        "rule": "malformed-body",
        "endpoint": "POST /v1/chat/completions",
        "case": "400 for a body that is not JSON",
        "match": {"status": 500, "body": "JsonParseError"},
        "server": LLAMA_SERVER,
        "exchange": "llama_cpp/malformed-body.json",
        "evidence": _exchange("malformed-body"),
        "why": _JSON_PARSE_WHY,
    },
    {
        "check": "fuzz POST /v1/completions (positive)",
        "rule": "sse-usage",
        "endpoint": "POST /v1/completions",
        "case": "no usage (stream_options.include_usage not requested)",
        "match": {"actual": "usage in 1 chunk(s)"},
        "server": LLAMA_SERVER,
        "exchange": "llama_cpp/completion-stream.json",
        "evidence": _exchange("completion-stream") + " (a valid streamed text completion without stream_options)",
        "why": "As in the completion-stream check: the final text-completion chunk always carries usage.",
    },
    *(
        fuzz_500(path, "malformed-body", "not JSON", {"status": 500, "body": "JsonParseError"}, LLAMA_SERVER,
                 f"llama_cpp/{name}.json", _JSON_PARSE_WHY)
        for path, name in (("/v1/chat/completions", "not-json-fuzz"), ("/v1/completions", "not-json-completion"),
                           ("/completion", "not-json-native"))
    ),
    *(
        fuzz_500(
            "/v1/chat/completions", "missing-field", request_class, {"status": 500, "body": "MessageParseError"},
            LLAMA_SERVER, f"llama_cpp/{name}.json",
            "common_chat_msgs_parse_oaicompat (common/chat.cpp) rethrows every error in a message (no role, a "
            "role that is not a string) as std::runtime_error(\"Failed to parse messages: ...\"), which "
            "ex_wrapper (tools/server/server.cpp) answers as a 500 server_error instead of a 400.",
        )
        for request_class, name in (("a message without a role", "message-without-role-fuzz"),
                                    ("a message whose role is not a string", "message-role-null-fuzz"))
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
            "prompt_n": INT,
            "prompt_ms": {"type": "number"},
            "prompt_per_second": {"type": "number"},
            "predicted_n": INT,
            "predicted_ms": {"type": "number"},
            "predicted_per_second": {"type": "number"},
        }
    )
    meta = obj(
        {
            "vocab_type": INT,
            "n_vocab": INT,
            "n_ctx_train": INT,
            "n_embd": INT,
            "n_params": INT,
            "size": INT,
        }
    )
    model = obj(
        {
            "id": STR,
            "object": {"const": "model"},
            "created": INT,
            "owned_by": {"const": "llamacpp"},
            "meta": ref("Meta"),
        }
    )
    schemas = {
        **openai_request_schemas(REQUESTS),
        **openai_response_schemas(RESPONSES, chat_extra={"timings": ref("Timings")}, model=model),
        "Timings": timings,
        "Meta": meta,
        # exceed_context_size_error adds n_prompt_tokens and n_ctx (a prompt longer than the context).
        "Error": obj(
            {
                "error": obj(
                    {"code": {"type": "integer"}, "message": STR, "type": STR},
                    {"n_prompt_tokens": INT, "n_ctx": INT},
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
            {"prompt": {"anyOf": [STR, {"type": "array"}]}},
            {"n_predict": {"type": "integer", "minimum": -1}, "stream": {"type": "boolean"}},
        ),
        "NativeCompletion": obj(
            {
                "content": STR,
                "stop": {"const": True},
                "stop_type": {"enum": ["none", "eos", "limit", "word"]},
                "timings": ref("Timings"),
                "tokens_predicted": INT,
                "tokens_evaluated": INT,
            }
        ),
        "NativeCompletionChunk": obj({"content": STR, "stop": {"type": "boolean"}}),
    }
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
