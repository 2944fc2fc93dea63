"""The ``openai`` contract: OpenAI's own API as its OpenAPI document defines it, for any ``/v1``
server (Ollama's own ``/v1`` included). ``usage`` is optional; chat and text completions have their
own finish reasons; the document lists no error status, so an error answer of any status is held
to ``ErrorResponse`` (how the official client reads one), and the rules about which request gets
which error status are advisory for this type (contracts/provenance/openai.yaml). No health
endpoint: a generic server's health is ``GET /v1/models`` answering 200.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import Schema, document, json_content, ref, response
from contracts.specbuilder.openai_family import (
    OPENAI_ERROR,
    OPENAI_REQUESTS,
    Responses,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "RESPONSES", "build"]

CONTRACT_TYPE = "openai"

RESPONSES = Responses(usage_required=False)


def build() -> Schema:
    schemas = {**openai_request_schemas(OPENAI_REQUESTS), **openai_response_schemas(RESPONSES), "Error": OPENAI_ERROR}
    # OpenAPI's `default`: any status the operation does not list (all of them, for errors).
    errors = {"default": response("an error (any status): ErrorResponse", json_content(ref("Error")))}
    return document(
        "OpenAI-compatible core",
        "OpenAI's API as its OpenAPI document defines it (what every /v1 server claims to honour). "
        "Health of a generic server: GET /v1/models answers 200.",
        openai_paths(errors),
        schemas,
    )
