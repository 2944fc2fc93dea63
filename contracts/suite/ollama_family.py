"""The checks of the Ollama API family: Ollama's native ``/api`` surface (``GET /``, ``/api/version``,
``/api/tags``, ``/api/ps``, ``/api/show``, ``/api/chat``, ``/api/generate``), NDJSON streams and its
``{"error": "<string>"}`` errors. Ollama's own ``/v1`` is checked by the OpenAI family's checks, as
the ``openai`` type.
"""

from __future__ import annotations

import json
from typing import Any

from contracts.rules import OLLAMA_NATIVE
from contracts.streaming import NdjsonExpectations, check_json_content_type, check_ndjson_stream
from contracts.suite.check import (
    MAX_TOKENS,
    PROMPT,
    UNKNOWN_MODEL,
    Check,
    clip,
    declare_check,
    endpoint_of,
    exchange_of,
    expect_error,
    expect_status,
    json_body,
    schema_violations,
)
from contracts.suite.probe import Probe
from contracts.violation import Violation

__all__ = ["CHECKS", "ollama_chat_body", "ollama_generate_body"]


# --- health, models and generation -----------------------------------------------------------------


def check_health(probe: Probe) -> list[Violation]:
    """GET /: 200 'Ollama is running'."""
    response = probe.request("GET", "/")
    found = expect_status("health", "GET /", response, 200, "'Ollama is running'")
    if not found and response.text != "Ollama is running":
        found.append(Violation("health", "GET /", "the body 'Ollama is running'", repr(clip(response.text))))
    return found


def ollama_chat_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "messages": [{"role": "user", "content": PROMPT}], "options": {"num_predict": MAX_TOKENS}, **extra}


def ollama_generate_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "prompt": PROMPT, "options": {"num_predict": MAX_TOKENS}, **extra}


def _ollama_get(probe: Probe, path: str, schema: str, rule: str) -> list[Violation]:
    endpoint = endpoint_of("GET", path)
    response = probe.request("GET", path)
    found = expect_status(rule, endpoint, response, 200, f"with {schema}")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint, rule)
    return found + schema_violations(probe, rule, endpoint, schema, json_body(response))


def check_ollama_tags(probe: Probe) -> list[Violation]:
    """GET /api/tags: 200 JSON valid against Tags."""
    return _ollama_get(probe, "/api/tags", "Tags", "ollama-tags-schema")


def check_ollama_ps(probe: Probe) -> list[Violation]:
    """GET /api/ps: 200 JSON valid against Running."""
    return _ollama_get(probe, "/api/ps", "Running", "ollama-tags-schema")


def check_ollama_version(probe: Probe) -> list[Violation]:
    """GET /api/version: 200 JSON {version}."""
    return _ollama_get(probe, "/api/version", "Version", "health")


def check_ollama_show(probe: Probe) -> list[Violation]:
    """POST /api/show: 200 JSON valid against Show."""
    endpoint = "POST /api/show"
    response = probe.request("POST", "/api/show", body={"model": probe.model})
    found = expect_status("ollama-tags-schema", endpoint, response, 200, "with the model information")
    return found or schema_violations(probe, "ollama-tags-schema", endpoint, "Show", json_body(response))


def _ollama_non_stream(probe: Probe, path: str, body: dict[str, Any], schema: str) -> list[Violation]:
    endpoint = endpoint_of("POST", path)
    response = probe.request("POST", path, body=body)
    found = expect_status("ollama-chat-schema", endpoint, response, 200, f"with {schema}")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint, "ollama-chat-schema")
    document = json_body(response)
    found += schema_violations(probe, "ollama-chat-schema", endpoint, schema, document)
    eval_count = document.get("eval_count") if isinstance(document, dict) else None
    if isinstance(eval_count, int) and eval_count > MAX_TOKENS:
        found.append(Violation("ollama-max-tokens", endpoint, f"eval_count <= num_predict = {MAX_TOKENS}", f"eval_count = {eval_count}"))
    return found


def check_ollama_chat(probe: Probe) -> list[Violation]:
    """POST /api/chat, stream false: ChatFinal; eval_count within num_predict."""
    return _ollama_non_stream(probe, "/api/chat", ollama_chat_body(probe, stream=False), "ChatFinal")


def check_ollama_generate(probe: Probe) -> list[Violation]:
    """POST /api/generate, stream false: GenerateFinal; eval_count within num_predict."""
    return _ollama_non_stream(probe, "/api/generate", ollama_generate_body(probe, stream=False), "GenerateFinal")


def _ollama_stream(probe: Probe, path: str, body: dict[str, Any], kind: str) -> list[Violation]:
    endpoint = endpoint_of("POST", path)
    response = probe.request("POST", path, body=body)
    found = expect_status("ollama-chat-schema", endpoint, response, 200, "with an NDJSON stream")
    if found:
        return found
    chunk, final = ("ChatChunk", "ChatFinal") if kind == "chat" else ("GenerateChunk", "GenerateFinal")
    expect = NdjsonExpectations(
        num_predict=MAX_TOKENS,
        content_key="message" if kind == "chat" else "response",
        chunk_errors=lambda doc: probe.schemas.errors(chunk, doc),
        final_errors=lambda doc: probe.schemas.errors(final, doc),
    )
    return check_ndjson_stream(response.content, response.headers, endpoint, expect)


def check_ollama_chat_stream(probe: Probe) -> list[Violation]:
    """POST /api/chat streamed (the default): NDJSON lines, a done line last with done_reason and total_duration; no more content lines than num_predict."""
    # No `stream` field: Ollama streams by default, and a client relying on that must get NDJSON.
    return _ollama_stream(probe, "/api/chat", ollama_chat_body(probe), "chat")


def check_ollama_generate_stream(probe: Probe) -> list[Violation]:
    """POST /api/generate streamed, judged as the chat stream."""
    return _ollama_stream(probe, "/api/generate", ollama_generate_body(probe, stream=True), "generate")


# --- errors ----------------------------------------------------------------------------------------


def check_ollama_errors(probe: Probe) -> list[Violation]:
    """Unknown models: 404 "model 'NAME' not found" (/api/show: NAME:latest); broken or ill-typed bodies: 400 {error}."""
    found: list[Violation] = []
    # chat and generate name the model as sent; /api/show its shortest display form, which always
    # ends in a tag (server/routes.go ShowHandler, types/model/name.go DisplayShortest).
    for path, body, name in [
        ("/api/chat", ollama_chat_body(probe, model=UNKNOWN_MODEL, stream=False), UNKNOWN_MODEL),
        ("/api/generate", ollama_generate_body(probe, model=UNKNOWN_MODEL, stream=False), UNKNOWN_MODEL),
        ("/api/show", {"model": UNKNOWN_MODEL}, f"{UNKNOWN_MODEL}:latest"),
    ]:
        not_found = {"error": f"model '{name}' not found"}
        endpoint = endpoint_of("POST", path)
        response = probe.request("POST", path, body=body)
        if response.status_code != 404 or json_body(response) != not_found:
            found.append(
                Violation("ollama-error", endpoint, f"404 {json.dumps(not_found)}", f"{response.status_code}: {clip(response.text)}",
                          exchange_of(response))
            )
    bad_requests: list[tuple[str, Any, bytes | None, str]] = [
        ("/api/chat", None, b'{"model": "x", "messages": [', "a body that is not JSON"),
        ("/api/chat", ollama_chat_body(probe, messages="hello"), None, "messages that is a string"),
        ("/api/chat", ollama_chat_body(probe, stream="yes"), None, "stream that is a string"),
        ("/api/chat", ollama_chat_body(probe, options="fast"), None, "options that is a string"),
        ("/api/generate", ollama_generate_body(probe, prompt=42), None, "prompt that is a number"),
    ]
    for path, body, raw, what in bad_requests:
        found += expect_error(probe, "ollama-error", path, 400, body=body, raw=raw, what=what, schema_rule="ollama-error")
    return found


# --- the family's catalogue ------------------------------------------------------------------------

CHECKS: tuple[Check, ...] = (
    declare_check("health", OLLAMA_NATIVE, ("health",), check_health),
    declare_check("ollama-version", OLLAMA_NATIVE, ("health",), check_ollama_version),
    declare_check("ollama-tags", OLLAMA_NATIVE, ("ollama-tags-schema",), check_ollama_tags),
    declare_check("ollama-ps", OLLAMA_NATIVE, ("ollama-tags-schema",), check_ollama_ps),
    declare_check("ollama-show", OLLAMA_NATIVE, ("ollama-tags-schema",), check_ollama_show),
    declare_check("ollama-chat", OLLAMA_NATIVE, ("ollama-chat-schema", "ollama-max-tokens"), check_ollama_chat),
    declare_check("ollama-generate", OLLAMA_NATIVE, ("ollama-chat-schema", "ollama-max-tokens"), check_ollama_generate),
    declare_check(
        "ollama-chat-stream",
        OLLAMA_NATIVE,
        ("ndjson-content-type", "ndjson-framing", "ndjson-done", "ollama-chat-schema", "ollama-max-tokens"),
        check_ollama_chat_stream,
    ),
    declare_check(
        "ollama-generate-stream",
        OLLAMA_NATIVE,
        ("ndjson-content-type", "ndjson-framing", "ndjson-done", "ollama-chat-schema", "ollama-max-tokens"),
        check_ollama_generate_stream,
    ),
    declare_check("ollama-errors", OLLAMA_NATIVE, ("ollama-error",), check_ollama_errors),
)
