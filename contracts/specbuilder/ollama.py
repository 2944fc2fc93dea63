"""The ``ollama`` contract: Ollama's native ``/api`` surface, the part a gateway and an operator use
(model management is out of scope). Health is ``GET /`` answering ``Ollama is running``; streams are
NDJSON ending in a ``done: true`` line; durations are integer nanoseconds; errors are
``{"error": "<string>"}``. Ollama's ``/v1`` is checked as the ``openai`` type.
"""

from __future__ import annotations

import copy

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

__all__ = ["CONTRACT_TYPE", "build"]

CONTRACT_TYPE = "ollama"


def build() -> Schema:
    details = obj(
        {
            "format": STR,
            "family": STR,
            "families": nullable({"type": "array", "items": STR}),
            "parameter_size": STR,
            "quantization_level": STR,
        }
    )
    tag = obj(
        {
            "name": STR,
            "model": STR,
            "modified_at": {"type": "string", "format": "date-time"},
            "size": INT,
            "digest": STR,
            "details": ref("Details"),
        }
    )
    running = copy.deepcopy(tag)
    del running["properties"]["modified_at"]
    running["required"].remove("modified_at")
    running["required"] += ["expires_at", "size_vram"]
    running["properties"].update({"expires_at": {"type": "string", "format": "date-time"}, "size_vram": INT})
    # api/types.go: done_reason and every metric are omitempty (a zero is absent); a load answer
    # (no prompt, no messages) has only done_reason "load"; the done line of a finished generation
    # also has total_duration (server/routes.go), which the ndjson-done check holds it to.
    final_fields: dict[str, Schema] = {
        "done": {"const": True},
        "done_reason": {"enum": ["stop", "length", "load", "unload"]},
    }
    metrics: dict[str, Schema] = {
        "total_duration": INT,
        "load_duration": INT,
        "prompt_eval_count": INT,
        "prompt_eval_duration": INT,
        "eval_count": INT,
        "eval_duration": INT,
    }
    message = obj({"role": {"const": "assistant"}, "content": STR}, {"tool_calls": {"type": "array"}})
    common = {"model": STR, "created_at": {"type": "string", "format": "date-time"}}
    options = obj(
        {},
        {
            "num_predict": {"type": "integer"},
            "temperature": {"type": "number"},
            "top_p": {"type": "number"},
            "seed": {"type": "integer"},
            "num_ctx": {"type": "integer"},
        },
    )
    request_common: dict[str, Schema] = {
        "stream": {"type": "boolean"},
        "options": ref("Options"),
        "keep_alive": {"anyOf": [STR, {"type": "number"}]},
        "format": {"anyOf": [{"const": "json"}, {"type": "object"}]},
    }
    schemas: dict[str, Schema] = {
        "Details": details,
        "Tag": tag,
        "Tags": obj({"models": {"type": "array", "items": ref("Tag")}}),
        "RunningModel": running,
        "Running": obj({"models": {"type": "array", "items": ref("RunningModel")}}),
        "Version": obj({"version": STR}),
        "ShowRequest": obj({"model": STR}),
        "Show": obj(
            {
                "modified_at": {"type": "string", "format": "date-time"},
                "details": ref("Details"),
                "model_info": nullable({"type": "object"}),
            },
            {"capabilities": {"type": "array", "items": STR}, "parameters": STR, "license": STR, "template": STR},
        ),
        "Options": options,
        "Message": obj({"role": {"enum": ["system", "user", "assistant", "tool"]}, "content": STR}),
        "ChatRequest": obj(
            {"model": STR, "messages": {"type": "array", "items": ref("Message")}},
            {**request_common, "tools": {"type": "array"}},
        ),
        # An empty prompt (or no messages) only loads the model: done_reason "load".
        "GenerateRequest": obj({"model": STR}, {"prompt": STR, **request_common, "system": STR, "raw": {"type": "boolean"}}),
        "ChatChunk": obj({**common, "message": message, "done": {"const": False}}),
        "ChatFinal": obj({**common, "message": message, **final_fields}, metrics),
        "GenerateChunk": obj({**common, "response": STR, "done": {"const": False}}),
        "GenerateFinal": obj({**common, "response": STR, **final_fields}, {**metrics, "context": {"type": "array"}}),
        # Either a chunk or the final line: what one NDJSON line may be.
        "ChatLine": {"oneOf": [ref("ChatChunk"), ref("ChatFinal")]},
        "GenerateLine": {"oneOf": [ref("GenerateChunk"), ref("GenerateFinal")]},
        "Error": obj({"error": STR}),
    }
    errors = error_responses({"400": "ill-typed field or malformed body", "404": "model 'x' not found"})
    paths = {
        "/": {
            "get": {
                "summary": "liveness",
                "responses": {"200": response("running", {"text/plain": {"schema": {"const": "Ollama is running"}}})},
            }
        },
        "/api/version": {"get": {"summary": "server version", "responses": {"200": response("version", json_content(ref("Version")))}}},
        "/api/tags": {"get": {"summary": "local models", "responses": {"200": response("models", json_content(ref("Tags")))}}},
        "/api/ps": {"get": {"summary": "loaded models", "responses": {"200": response("models", json_content(ref("Running")))}}},
        "/api/show": {
            "post": {
                "summary": "model information",
                "requestBody": {"required": True, "content": json_content(ref("ShowRequest"))},
                "responses": {"200": response("model information", json_content(ref("Show"))), **errors},
            }
        },
        "/api/chat": {
            "post": generation_operation(
                "chat; streams NDJSON unless stream: false", "ChatRequest", "ChatFinal", "ChatLine", errors,
                stream_media="application/x-ndjson",
            )
        },
        "/api/generate": {
            "post": generation_operation(
                "generate; streams NDJSON unless stream: false", "GenerateRequest", "GenerateFinal", "GenerateLine",
                errors, stream_media="application/x-ndjson",
            )
        },
    }
    return document(
        "Ollama native API",
        "The /api surface a gateway and an operator use (model management is out of scope); "
        "Ollama's /v1 is checked as the openai type.",
        paths,
        schemas,
    )
