"""The ``litellm`` contract: the gateway itself (the LiteLLM proxy), the OpenAI core behind a bearer
key, with health probes that need none; and what LiteLLM 1.106.2 was seen to do against it.

LiteLLM differs from the core where it drops or adds fields (no ``finish_reason`` while it is null,
no ``text`` in some text-completion chunks, a nullable error ``type``): the spec says so, so
those are not violations. Its known deviations are the answers a strict gateway would not give.
"""

from __future__ import annotations

import copy

from contracts.specbuilder.blocks import (
    STR,
    Schema,
    document,
    error_responses,
    json_content,
    nullable,
    obj,
    ref,
    response,
)
from contracts.specbuilder.openai_family import (
    OPENAI_REQUESTS,
    Responses,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "KNOWN_DEVIATIONS", "build"]

CONTRACT_TYPE = "litellm"

# --- known deviations (contracts/specbuilder/deviations.py says what a record is) -----------------

LITELLM_SERVER = "LiteLLM proxy 1.106.2"
KNOWN_DEVIATIONS: list[Schema] = [
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


# --- the spec ------------------------------------------------------------------------------------


def build() -> Schema:
    schemas = {
        # The gateway speaks OpenAI's API: OpenAI's document is its contract (usage optional).
        **openai_request_schemas(OPENAI_REQUESTS),
        **openai_response_schemas(Responses(usage_required=False)),
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
        **{"x-known-deviations": KNOWN_DEVIATIONS},
    )
