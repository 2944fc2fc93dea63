"""The ``openai`` contract: the OpenAI-compatible core as it is, for any ``/v1`` server (Ollama's own
``/v1`` included). No health endpoint: a generic server's health is ``GET /v1/models`` answering 200.
"""

from __future__ import annotations

from contracts.specbuilder.blocks import Schema, document, error_responses
from contracts.specbuilder.openai_family import (
    OPENAI_ERROR,
    OPENAI_ERRORS,
    openai_paths,
    openai_request_schemas,
    openai_response_schemas,
)

__all__ = ["CONTRACT_TYPE", "build"]

CONTRACT_TYPE = "openai"


def build() -> Schema:
    schemas = {**openai_request_schemas(), **openai_response_schemas(), "Error": OPENAI_ERROR}
    return document(
        "OpenAI-compatible core",
        "What every /v1 server must honour (provider-contracts.md, 'OpenAI-compatible core'). "
        "Health of a generic server: GET /v1/models answers 200.",
        openai_paths(error_responses(OPENAI_ERRORS)),
        schemas,
    )
