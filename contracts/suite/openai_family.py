"""The checks of the OpenAI API family: every contract type serving the OpenAI-compatible ``/v1``
surface (vllm, llama_cpp, llama_cpp_python, openai and the gateway, litellm; the registry's
``openai_family_contract_types()``), plus the health endpoint of those that have one and
llama-server's native ``POST /completion``.

Where a real server of the family differs on purpose (one model per server, FastAPI's 422,
``stream_options`` ignored), the constants below say which types; everything else a check expects
comes from the type's spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.provenance import not_checked
from contracts.rules import OPENAI_LIKE
from contracts.streaming import SseExpectations, check_json_content_type, check_sse_stream, check_usage
from contracts.suite.check import (
    MAX_TOKENS,
    PROMPT,
    UNKNOWN_MODEL,
    Check,
    clip,
    declare_check,
    endpoint_of,
    expect_error,
    expect_status,
    json_body,
    schema_violations,
)
from contracts.suite.probe import Probe
from contracts.violation import Violation
from generator.providers import GATEWAY_CONTRACT_TYPE

__all__ = ["CHECKS", "chat_body", "completion_body"]

# Types whose server serves one model and ignores the name in a request (no 404).
IGNORES_MODEL_NAME = frozenset({"llama_cpp", "llama_cpp_python"})
# FastAPI answers request-validation errors with 422 and its own {"detail": [...]} body.
VALIDATION_STATUS = {"llama_cpp_python": 422}
# llama-cpp-python ignores stream_options: no usage in streams, no 400 without stream.
IGNORES_STREAM_OPTIONS = frozenset({"llama_cpp_python"})
# llama-cpp-python's request models default a missing `messages` to [] and `prompt` to "".
FASTAPI_DEFAULTS = frozenset({"llama_cpp_python"})


# --- models and generation -------------------------------------------------------------------------


def chat_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS, **extra}


def completion_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "prompt": PROMPT, "max_tokens": MAX_TOKENS, **extra}


def check_models(probe: Probe) -> list[Violation]:
    """GET /v1/models: 200, application/json, a body valid against the type's ModelList."""
    endpoint = "GET /v1/models"
    response = probe.request("GET", "/v1/models")
    found = expect_status("models-schema", endpoint, response, 200, "with the model list")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint)
    found += schema_violations(probe, "models-schema", endpoint, "ModelList", json_body(response))
    return found


def _non_stream(probe: Probe, path: str, body: dict[str, Any], schema: str, rule: str) -> list[Violation]:
    endpoint = endpoint_of("POST", path)
    response = probe.request("POST", path, body=body)
    found = expect_status(rule, endpoint, response, 200, f"with a {schema}")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint)
    document = json_body(response)
    if document is None:
        return [*found, Violation(rule, endpoint, f"a JSON {schema}", f"not JSON: {clip(response.text)}")]
    found += schema_violations(probe, rule, endpoint, schema, document)
    found += check_usage(document.get("usage") if isinstance(document, dict) else None, endpoint, MAX_TOKENS)
    return found


def check_chat(probe: Probe) -> list[Violation]:
    """A chat completion (max_tokens 3): 200 JSON valid against ChatCompletion; usage adds up and stays within max_tokens."""
    return _non_stream(probe, "/v1/chat/completions", chat_body(probe), "ChatCompletion", "chat-schema")


def check_completion(probe: Probe) -> list[Violation]:
    """A text completion (max_tokens 3): 200 JSON valid against TextCompletion; usage adds up and stays within max_tokens."""
    return _non_stream(probe, "/v1/completions", completion_body(probe), "TextCompletion", "completion-schema")


def _stream(probe: Probe, path: str, body: dict[str, Any], kind: str, include_usage: bool) -> list[Violation]:
    endpoint = endpoint_of("POST", path)
    response = probe.request("POST", path, body=body)
    rule = "chat-schema" if kind == "chat" else "completion-schema"
    found = expect_status(rule, endpoint, response, 200, "with a stream")
    if found:
        return found
    schema = "ChatCompletionChunk" if kind == "chat" else "TextCompletionChunk"
    expect = SseExpectations(
        kind="chat" if kind == "chat" else "completion",
        include_usage=include_usage,
        finish_reasons=probe.schemas.finish_reasons(schema),
        max_tokens=MAX_TOKENS,
        chunk_errors=lambda doc: probe.schemas.errors(schema, doc),
    )
    return check_sse_stream(response.content, response.headers, endpoint, expect)


def _stream_body(probe: Probe, make: Callable[..., dict[str, Any]], include_usage: bool) -> dict[str, Any]:
    if include_usage:
        return make(probe, stream=True, stream_options={"include_usage": True})
    return make(probe, stream=True)


def check_chat_stream(probe: Probe) -> list[Violation]:
    """A streamed chat completion without stream_options: SSE framing, JSON chunks valid against ChatCompletionChunk, one finish_reason per choice from the spec's enum, no usage, data: [DONE] last, no more content chunks than max_tokens."""
    return _stream(probe, "/v1/chat/completions", _stream_body(probe, chat_body, False), "chat", False)


def check_chat_stream_usage(probe: Probe) -> list[Violation]:
    """The same stream with stream_options.include_usage: usage in the last chunk only, adding up."""
    return _stream(probe, "/v1/chat/completions", _stream_body(probe, chat_body, True), "chat", True)


def check_completion_stream(probe: Probe) -> list[Violation]:
    """A streamed text completion without stream_options, judged as the chat stream."""
    return _stream(probe, "/v1/completions", _stream_body(probe, completion_body, False), "completion", False)


def check_completion_stream_usage(probe: Probe) -> list[Violation]:
    """A streamed text completion with stream_options.include_usage."""
    return _stream(probe, "/v1/completions", _stream_body(probe, completion_body, True), "completion", True)


def check_llama_native_completion(probe: Probe) -> list[Violation]:
    """llama-server's own POST /completion: {content, stop, stop_type, timings, tokens_predicted}."""
    endpoint = "POST /completion"
    response = probe.request("POST", "/completion", body={"prompt": PROMPT, "n_predict": MAX_TOKENS})
    found = expect_status("completion-schema", endpoint, response, 200, "with a NativeCompletion")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint)
    document = json_body(response)
    found += schema_violations(probe, "completion-schema", endpoint, "NativeCompletion", document)
    predicted = document.get("tokens_predicted") if isinstance(document, dict) else None
    if isinstance(predicted, int) and predicted > MAX_TOKENS:
        found.append(Violation("max-tokens", endpoint, f"tokens_predicted <= n_predict = {MAX_TOKENS}", f"tokens_predicted = {predicted}"))
    return found


# --- invalid requests and unknown models -----------------------------------------------------------


def _validation_status(probe: Probe) -> int:
    return VALIDATION_STATUS.get(probe.type, 400)


def check_unknown_model(probe: Probe) -> list[Violation]:
    """Chat and text completions naming a model the server does not serve: the type's status (404; litellm 400; served by one-model servers) with its error body."""
    if probe.type in IGNORES_MODEL_NAME:
        # One model per server: the name is ignored and the request served.
        endpoint = "POST /v1/chat/completions"
        response = probe.request("POST", "/v1/chat/completions", body={**chat_body(probe), "model": UNKNOWN_MODEL})
        return expect_status("unknown-model", endpoint, response, 200, f"(a {probe.type} server ignores the model name)", probe)
    # LiteLLM answers an unknown model group with 400 (litellm.BadRequestError), the others 404.
    # A gateway with a catch-all group (`model_name: "*"`) HAS a group for any name: it forwards the
    # request and the backend's 404 comes back in LiteLLM's Error body (litellm.NotFoundError) —
    # correct for that configuration, so the litellm contract accepts it.
    wanted, also = (400, frozenset({404})) if probe.type == GATEWAY_CONTRACT_TYPE else (404, frozenset())
    found = expect_error(
        probe, "unknown-model", "/v1/chat/completions", wanted, body={**chat_body(probe), "model": UNKNOWN_MODEL}, what="an unknown model", also=also
    )
    found += expect_error(
        probe, "unknown-model", "/v1/completions", wanted, body={**completion_body(probe), "model": UNKNOWN_MODEL}, what="an unknown model", also=also
    )
    return found


def check_malformed_body(probe: Probe) -> list[Violation]:
    """A chat request whose body is not JSON: 400 (422 for FastAPI servers) with the error body."""
    return expect_error(
        probe, "malformed-body", "/v1/chat/completions", _validation_status(probe), raw=b'{"model": "x", "messages": [', what="a body that is not JSON"
    )


def _run_cases(probe: Probe, rule: str, status: int, cases: list[tuple[str, dict[str, Any], str]]) -> list[Violation]:
    """Each case (path, body, what) but those the type's upstream answers otherwise by design
    (``not_checked`` in contracts/provenance/<type>.yaml, each with its source)."""
    skipped = not_checked(probe.type, rule)
    found: list[Violation] = []
    for path, body, what in cases:
        if what not in skipped:
            found += expect_error(probe, rule, path, status, body=body, what=what)
    return found


def check_missing_field(probe: Probe) -> list[Violation]:
    """Requests without, or with ill-typed, model/messages/prompt: 400 (422) with the error body; cases the type's upstream serves by design are not run."""
    status = _validation_status(probe)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/chat/completions", {**chat_body(probe), "messages": "hello"}, "messages that is a string"),
        ("/v1/chat/completions", {**chat_body(probe), "messages": [{"role": "wizard", "content": "hi"}]}, "a message with an invalid role"),
        ("/v1/completions", {**completion_body(probe), "prompt": 42}, "a prompt that is a number"),
    ]
    if probe.type not in FASTAPI_DEFAULTS:
        cases += [
            ("/v1/chat/completions", {"model": probe.model, "max_tokens": MAX_TOKENS}, "a chat request without messages"),
            ("/v1/completions", {"model": probe.model, "max_tokens": MAX_TOKENS}, "a completion request without prompt"),
        ]
    if probe.type not in IGNORES_MODEL_NAME:
        cases += [
            ("/v1/chat/completions", {k: v for k, v in chat_body(probe).items() if k != "model"}, "a request without model"),
            ("/v1/chat/completions", {**chat_body(probe), "model": 123}, "a model that is a number"),
        ]
    return _run_cases(probe, "missing-field", status, cases)


def check_invalid_param(probe: Probe) -> list[Violation]:
    """max_tokens, n, temperature, top_p out of range: 400 (422) with the error body; cases the type's upstream serves by design are not run."""
    status = _validation_status(probe)
    if probe.type in FASTAPI_DEFAULTS:
        # llama-cpp-python's pydantic models bound only top_p (chat and completions) and the
        # completions' max_tokens; it accepts temperature 2.5 or n=0 as the real server does.
        params = [("/v1/chat/completions", "top_p", 1.5), ("/v1/chat/completions", "top_p", -0.1), ("/v1/completions", "max_tokens", -1)]
    else:
        params = [("/v1/chat/completions", name, value) for name, value in
                  [("max_tokens", 0), ("n", 0), ("temperature", 2.5), ("temperature", -0.5), ("top_p", 1.5)]]
        params.append(("/v1/completions", "max_tokens", 0))
    cases = []
    for path, name, value in params:
        make = chat_body if path == "/v1/chat/completions" else completion_body
        # A completions case named apart from the chat case of the same value.
        what = f"{name}={value}" if path == "/v1/chat/completions" or probe.type in FASTAPI_DEFAULTS else f"completions {name}={value}"
        cases.append((path, {**make(probe), name: value}, what))
    return _run_cases(probe, "invalid-param", status, cases)


def check_stream_options_without_stream(probe: Probe) -> list[Violation]:
    """stream_options without stream, and with stream false: 400 with the error body."""
    found: list[Violation] = []
    for stream in (None, False):
        body = chat_body(probe, stream_options={"include_usage": True})
        if stream is not None:
            body["stream"] = stream
        what = "stream_options without stream" if stream is None else "stream_options with stream: false"
        found += expect_error(probe, "stream-options-without-stream", "/v1/chat/completions", 400, body=body, what=what)
    return found


# --- health, per type ----------------------------------------------------------------------------

# The types of the family with a health endpoint (llama_cpp_python and a generic server have none).
HEALTH_TYPES = frozenset({"vllm", "llama_cpp", GATEWAY_CONTRACT_TYPE})


def check_health(probe: Probe) -> list[Violation]:
    """The type's health endpoint: vllm GET /health 200 empty; llama_cpp {status: ok}; litellm liveliness and readiness."""
    if probe.type == "vllm":
        response = probe.request("GET", "/health")
        found = expect_status("health", "GET /health", response, 200, "with an empty body")
        if not found and response.content:
            found.append(Violation("health", "GET /health", "200 with an EMPTY body", f"body {clip(response.text)!r}"))
        return found
    if probe.type == "llama_cpp":
        response = probe.request("GET", "/health")
        found = expect_status("health", "GET /health", response, 200, 'with {"status": "ok"}')
        return found or schema_violations(probe, "health", "GET /health", "Health", json_body(response))
    # the gateway (litellm)
    found = []
    live = probe.request("GET", "/health/liveliness")
    found += expect_status("health", "GET /health/liveliness", live, 200, "\"I'm alive!\"")
    if not found and json_body(live) != "I'm alive!":
        found.append(Violation("health", "GET /health/liveliness", "the JSON string \"I'm alive!\"", clip(live.text)))
    ready = probe.request("GET", "/health/readiness")
    bad = expect_status("health", "GET /health/readiness", ready, 200, '{"status": "healthy", ...}')
    found += bad or schema_violations(probe, "health", "GET /health/readiness", "Readiness", json_body(ready))
    return found


# --- the family's catalogue ------------------------------------------------------------------------

STREAM_RULES = ("sse-content-type", "sse-framing", "sse-chunk-json", "sse-chunk-schema", "sse-done", "sse-finish-reason", "sse-usage", "usage-arithmetic", "max-tokens")

CHECKS: tuple[Check, ...] = (
    declare_check("health", HEALTH_TYPES, ("health",), check_health),
    declare_check("models", OPENAI_LIKE, ("models-schema", "json-content-type"), check_models),
    declare_check("chat", OPENAI_LIKE, ("chat-schema", "json-content-type", "usage-arithmetic", "max-tokens"), check_chat),
    declare_check("completion", OPENAI_LIKE, ("completion-schema", "json-content-type", "usage-arithmetic", "max-tokens"), check_completion),
    declare_check(
        "native-completion",
        {"llama_cpp"},
        ("completion-schema", "json-content-type", "max-tokens"),
        check_llama_native_completion,
    ),
    declare_check("chat-stream", OPENAI_LIKE, STREAM_RULES, check_chat_stream),
    declare_check("chat-stream-usage", OPENAI_LIKE - IGNORES_STREAM_OPTIONS, STREAM_RULES, check_chat_stream_usage),
    declare_check("completion-stream", OPENAI_LIKE, STREAM_RULES, check_completion_stream),
    declare_check("completion-stream-usage", OPENAI_LIKE - IGNORES_STREAM_OPTIONS, STREAM_RULES, check_completion_stream_usage),
    declare_check("unknown-model", OPENAI_LIKE, ("unknown-model", "error-schema"), check_unknown_model),
    declare_check("malformed-body", OPENAI_LIKE, ("malformed-body", "error-schema"), check_malformed_body),
    declare_check("missing-field", OPENAI_LIKE, ("missing-field", "error-schema"), check_missing_field),
    declare_check("invalid-param", OPENAI_LIKE, ("invalid-param", "error-schema"), check_invalid_param),
    declare_check(
        "stream-options-without-stream",
        OPENAI_LIKE - IGNORES_STREAM_OPTIONS,
        ("stream-options-without-stream", "error-schema"),
        check_stream_options_without_stream,
    ),
)
