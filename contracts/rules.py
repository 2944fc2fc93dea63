"""The catalogue of contract rules: one stable id per rule.

Shared vocabulary of the contract suite (which reports violations by rule id) and the
simulators (whose ``--violate RULE`` breaks exactly that rule). Every rule here must have a
check in the suite, a violation mode in the simulators, and a meta-test proving the suite
fails on that rule when the violation mode is on (table in contracts/README.md).

``applies_to`` names the contract types whose contract includes the rule, by API family as the
provider registry (``generator/providers/``) declares it: the OpenAI-compatible ``/v1`` surface
(vllm, llama_cpp, llama_cpp_python, openai and the gateway, litellm) or Ollama's native ``/api``.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.providers import REGISTRY, contract_types, openai_family_contract_types

__all__ = ["ALL_TYPES", "OLLAMA_NATIVE", "OPENAI_LIKE", "RULES", "Rule", "rules_for"]

OPENAI_LIKE = openai_family_contract_types()
# A generic OpenAI-compatible server and llama-cpp-python have no health endpoint; llama-cpp-python
# has no stream_options field (llama_cpp/server/types.py): neither rule is part of their contract.
NO_HEALTH = frozenset({"openai", "llama_cpp_python"})
NO_STREAM_OPTIONS = frozenset({"llama_cpp_python"})
OLLAMA_NATIVE = frozenset(t.contract_type for t in REGISTRY.values() if t.contract_type and t.api_family == "ollama")
ALL_TYPES = frozenset(contract_types())


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    applies_to: frozenset[str]


def _rule(rule_id: str, summary: str, applies_to: frozenset[str] = OPENAI_LIKE) -> Rule:
    return Rule(rule_id, summary, applies_to)


RULES: dict[str, Rule] = {
    r.id: r
    for r in [
        # --- OpenAI-compatible surface (/v1) ---------------------------------------------
        _rule("models-schema", "GET /v1/models matches the type's model-list schema (object=list, data[].id, ...)"),
        _rule("chat-schema", "non-streaming chat completion matches the schema (object=chat.completion, choices[].message, usage)"),
        _rule("completion-schema", "non-streaming text completion matches the schema (object=text_completion, choices[].text, usage)"),
        _rule("json-content-type", "non-streaming responses are Content-Type: application/json"),
        _rule("usage-arithmetic", "usage.total_tokens == prompt_tokens + completion_tokens"),
        _rule("max-tokens", "completion_tokens (and streamed tokens) never exceed max_tokens"),
        _rule("sse-content-type", "streams are Content-Type: text/event-stream"),
        _rule("sse-framing", "each event is 'data: <payload>' followed by a blank line (every type, llama_cpp_python included: checked on the real 0.3.36)"),
        _rule("sse-chunk-json", "every data payload except [DONE] is valid JSON"),
        _rule("sse-chunk-schema", "every chunk matches the chunk schema (object=chat.completion.chunk, id, created, model, choices[].delta)"),
        _rule("sse-done", "the stream ends with 'data: [DONE]' and nothing after it"),
        _rule("sse-finish-reason", "exactly one chunk per choice carries a non-null finish_reason, from the allowed enum"),
        _rule("sse-usage", "usage appears only in the last chunk and only when stream_options.include_usage asked; then it is present"),
        _rule("unknown-model", "an unknown model gives 404 (litellm: 400, or a catch-all backend's 404; llama_cpp, llama_cpp_python: ignored, one model per server) with the type's error body"),
        _rule("malformed-body", "a body that is not JSON gives 400 with the type's error body, never 5xx"),
        _rule("missing-field", "a missing or ill-typed model/messages/prompt gives a 4xx (400; 422 for FastAPI-style servers) with an error body, never a 5xx"),
        _rule("invalid-param", "max_tokens/n < 1, temperature outside [0,2], top_p outside [0,1] give 400 with an error body"),
        _rule("stream-options-without-stream", "stream_options without stream=true gives 400", OPENAI_LIKE - NO_STREAM_OPTIONS),
        _rule("error-schema", "every error body matches the type's error schema"),
        _rule("health", "the health endpoint answers as the real server does (vllm: 200 empty; llama_cpp: {status: ok}; ollama: 'Ollama is running')", ALL_TYPES - NO_HEALTH),
        # --- Ollama native (/api) ---------------------------------------------------------
        _rule("ollama-tags-schema", "GET /api/tags matches the schema (models[].name, model, modified_at, size, digest, details)", OLLAMA_NATIVE),
        _rule("ollama-chat-schema", "non-streaming /api/chat and /api/generate match the schema, durations as integer nanoseconds", OLLAMA_NATIVE),
        _rule("ndjson-content-type", "streams are Content-Type: application/x-ndjson", OLLAMA_NATIVE),
        _rule("ndjson-framing", "one complete JSON object per line", OLLAMA_NATIVE),
        _rule("ndjson-done", "the last line has done=true, done_reason, integer nanosecond durations and eval_count; no line after it", OLLAMA_NATIVE),
        _rule("ollama-error", "errors are {\"error\": \"<string>\"}; unknown model 404 \"model 'x' not found\"; ill-typed fields 400", OLLAMA_NATIVE),
        _rule("ollama-max-tokens", "eval_count never exceeds options.num_predict", OLLAMA_NATIVE),
    ]
}


def rules_for(provider_type: str) -> list[Rule]:
    return [rule for rule in RULES.values() if provider_type in rule.applies_to]
