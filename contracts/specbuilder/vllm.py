"""The ``vllm`` contract: vLLM's OpenAI-compatible server. Its models carry ``owned_by: vllm``,
``root``, ``max_model_len`` and ``permission``; ``GET /health`` is 200 with an EMPTY body; errors
come nested (OpenAI's) or, before vLLM 0.10.1, flat.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import (
    INT0,
    NONEMPTY,
    STR,
    Schema,
    document,
    error_responses,
    nullable,
    obj,
    response,
)
from contracts.specbuilder.openai_family import (
    OPENAI_ERROR,
    OPENAI_ERRORS,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "build"]

CONTRACT_TYPE = "vllm"


def build() -> Schema:
    model = obj(
        {
            "id": NONEMPTY,
            "object": {"const": "model"},
            "created": INT0,
            "owned_by": {"const": "vllm"},
            "root": NONEMPTY,
            "parent": nullable(STR),
            "max_model_len": {"type": "integer", "minimum": 1},
            "permission": {"type": "array", "items": {"type": "object"}},
        }
    )
    # vLLM < 0.10.1 answered errors flat ({"object": "error", ...}); both are the real server.
    flat_error = obj(
        {
            "object": {"const": "error"},
            "message": STR,
            "type": STR,
            "param": nullable(STR),
            "code": {"anyOf": [STR, {"type": "integer"}, {"type": "null"}]},
        },
        closed=True,
    )
    schemas = {
        **openai_request_schemas(),
        **openai_response_schemas(model=model),
        "Error": {"oneOf": [OPENAI_ERROR, flat_error]},
    }
    paths = {
        "/health": {
            "get": {
                "summary": "engine health: 200 with an EMPTY body; 503 when the engine is dead",
                "responses": {"200": response("healthy, empty body"), "503": response("engine dead")},
            }
        },
        **openai_paths(error_responses(OPENAI_ERRORS)),
    }
    return document("vLLM OpenAI-compatible server", "vLLM's /v1 surface and /health.", paths, schemas)
