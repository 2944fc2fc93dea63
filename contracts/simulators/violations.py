"""Which contract rules (ids of ``contracts/rules.py``) each simulator type can violate.

``--violate RULE`` breaks exactly that rule and nothing else; what each mode does is in
``VIOLATION_EFFECTS``. A rule the real server of a type does not honour itself (see
docs/simulators.md, "Differences") has no violation mode for that type.
"""

from __future__ import annotations

__all__ = ["VIOLATIONS", "VIOLATION_EFFECTS", "violations_for"]

_OPENAI_SURFACE = frozenset(
    {
        "models-schema",
        "chat-schema",
        "completion-schema",
        "json-content-type",
        "usage-arithmetic",
        "max-tokens",
        "sse-content-type",
        "sse-framing",
        "sse-chunk-json",
        "sse-chunk-schema",
        "sse-done",
        "sse-finish-reason",
        "sse-usage",
        "unknown-model",
        "malformed-body",
        "missing-field",
        "invalid-param",
        "stream-options-without-stream",
        "error-schema",
    }
)

_OLLAMA_NATIVE = frozenset(
    {
        "health",
        "ollama-tags-schema",
        "ollama-chat-schema",
        "ndjson-content-type",
        "ndjson-framing",
        "ndjson-done",
        "ollama-error",
        "ollama-max-tokens",
    }
)

VIOLATIONS: dict[str, frozenset[str]] = {
    "openai": _OPENAI_SURFACE,  # no standard health endpoint exists for a generic OpenAI server
    "vllm": _OPENAI_SURFACE | {"health"},
    "llama_cpp": _OPENAI_SURFACE | {"health"},
    # llama-cpp-python ignores stream_options (no include_usage, no 400 without stream) and has no
    # health endpoint; its own validation is FastAPI's (422), covered by missing-field/invalid-param.
    "llama_cpp_python": _OPENAI_SURFACE - {"sse-usage", "stream-options-without-stream"},
    # Ollama's /v1 surface is checked as the openai type (whose simulator proves those rules).
    "ollama": _OLLAMA_NATIVE,
}

VIOLATION_EFFECTS: dict[str, str] = {
    "models-schema": "GET /v1/models answers object='dict' instead of 'list' (data untouched)",
    "chat-schema": "non-streaming chat completion has object='chat.completion.chunk'",
    "completion-schema": "non-streaming text completion has object='completion'",
    "json-content-type": "non-streaming completions are sent as text/plain",
    "usage-arithmetic": "usage.total_tokens is prompt + completion + 1 (streams and not)",
    "max-tokens": "one token more than max_tokens is generated (usage consistent with it; llama_cpp_python: four, one past its known 1-3-token overrun)",
    "sse-content-type": "streams are sent as text/plain",
    "sse-framing": "events end with a single newline (no blank line between events)",
    "sse-chunk-json": "the second content chunk is truncated JSON (a 1-chunk answer: a broken event before it)",
    "sse-chunk-schema": "stream chunks have object='chat.completion' / no 'created'",
    "sse-done": "the stream ends without data: [DONE]",
    "sse-finish-reason": "no chunk carries a finish_reason",
    "sse-usage": "usage chunk missing when include_usage asked; usage sent when not asked",
    "unknown-model": "unknown models are served with 200 (llama_cpp/llama_cpp_python: answer 404 instead)",
    "malformed-body": "a body that is not JSON gives a JSON 500 'Internal Server Error: ...' (not the real servers' recorded 500s)",
    "missing-field": "a missing or ill-typed model/messages/prompt is served with 200 (llama_cpp: an invalid role, which llama-server serves, answers 500)",
    "invalid-param": "max_tokens/n < 1, temperature/top_p out of range are served with 200 (llama_cpp: those llama-server serves answer 500)",
    "stream-options-without-stream": "stream_options without stream is served with 200 (llama_cpp, which serves it: answers 500)",
    "error-schema": "error bodies are {'message': '<message>'} (status unchanged; llama_cpp_python: 422; llama_cpp: non-JSON body 400)",
    "health": "health answers a wrong body (vllm: {'status':'ok'}; llama_cpp: {'status':'healthy'}; ollama: 'Ollama is up')",
    "ollama-tags-schema": "GET /api/tags entries have no 'digest'",
    "ollama-chat-schema": "non-streaming /api/chat and /api/generate give durations as float seconds",
    "ndjson-content-type": "NDJSON streams are sent as application/json",
    "ndjson-framing": "two objects share one line",
    "ndjson-done": "the final done line has no done_reason",
    "ollama-error": "errors are {'error': {'message': ...}}; unknown model message 'model not found'",
    "ollama-max-tokens": "eval_count and tokens exceed options.num_predict by one",
}


def violations_for(provider_type: str) -> frozenset[str]:
    return VIOLATIONS[provider_type]
