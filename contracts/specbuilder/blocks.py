"""The pieces every spec is built from: JSON-schema shorthands (``ref``, ``nullable``, ``obj``),
OpenAPI responses and operations, and ``document``, which assembles one spec.

Nothing here knows a provider type; the type modules of this package compose these.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "INT",
    "INT0",
    "NONEMPTY",
    "STR",
    "Schema",
    "document",
    "error_responses",
    "generation_operation",
    "json_content",
    "nullable",
    "obj",
    "ref",
    "response",
]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, *, closed: bool = False) -> Schema:
    """An object schema: every key of ``required`` is required; ``closed`` forbids unknown keys."""
    schema: Schema = {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


INT: Schema = {"type": "integer"}
INT0: Schema = {"type": "integer", "minimum": 0}
STR: Schema = {"type": "string"}
NONEMPTY: Schema = {"type": "string", "minLength": 1}


# --- OpenAPI responses and operations ---------------------------------------------------------


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def response(description: str, content: Schema | None = None, headers: Schema | None = None) -> Schema:
    result: Schema = {"description": description}
    if content is not None:
        result["content"] = content
    if headers:
        result["headers"] = headers
    return result


def error_responses(statuses: dict[str, str], schema_name: str = "Error") -> dict[str, Schema]:
    return {status: response(text, json_content(ref(schema_name))) for status, text in statuses.items()}


def generation_operation(
    summary: str,
    request: str,
    result: str,
    chunk: str,
    errors: dict[str, Schema],
    stream_media: str = "text/event-stream",
) -> Schema:
    """A POST that answers ``result`` as JSON or, with ``stream: true``, a stream of ``chunk``s."""
    return {
        "summary": summary,
        "requestBody": {"required": True, "content": json_content(ref(request))},
        "responses": {
            "200": response(
                f"{result} (JSON) or, with stream: true, a stream of {chunk} events",
                {**json_content(ref(result)), stream_media: {"schema": ref(chunk)}},
            ),
            **errors,
        },
    }


# --- the document ---------------------------------------------------------------------------------


def _breakable(text: str) -> str:
    """Evidence quotes raw JSON exchanges; a space after each `,` / `:` between JSON tokens lets the
    YAML emitter fold them within yamllint's line length (the data is the same)."""
    return re.sub(r'([,:])(?=["{\[0-9a-z])', r"\1 ", text)


def document(title: str, description: str, paths: dict[str, Schema], schemas: dict[str, Schema], **extra: Any) -> Schema:
    """One spec. ``extra``: top-level keys (``security``, ``x-known-deviations``), and
    ``securitySchemes``, which goes under ``components``."""
    doc: Schema = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    for key, value in extra.items():
        if key == "x-known-deviations":
            value = [{**entry, "evidence": _breakable(entry["evidence"])} for entry in value]
        if key == "securitySchemes":
            doc["components"]["securitySchemes"] = value
        else:
            doc[key] = value
    return doc
