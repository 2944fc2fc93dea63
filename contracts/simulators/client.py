"""Small client-side helpers for tests that talk to simulators: split SSE / NDJSON bodies and
blank out the values that legitimately change between runs (timestamps), so whole bodies can be
compared exactly."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["TIMESTAMP", "chat_request", "ndjson_lines", "normalize", "sse_payloads"]

TIMESTAMP = "<timestamp>"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_TIME_KEYS = frozenset({"created", "created_at", "expires_at"})


def sse_payloads(body: str) -> list[str]:
    """The ``data:`` payloads of an SSE body whose events are separated by blank lines."""
    payloads = []
    for event in body.split("\n\n"):
        if not event:
            continue
        lines = event.split("\n")
        if not all(line.startswith("data: ") for line in lines):
            raise ValueError(f"not an SSE data event: {event!r}")
        payloads.append("\n".join(line[len("data: "):] for line in lines))
    return payloads


def ndjson_lines(body: str) -> list[Any]:
    if not body.endswith("\n"):
        raise ValueError("NDJSON body does not end with a newline")
    return [json.loads(line) for line in body[:-1].split("\n")]


def normalize(value: Any) -> Any:
    """``created`` integers and RFC 3339 ``created_at``/``expires_at`` strings become TIMESTAMP."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _TIME_KEYS and (isinstance(item, int) or (isinstance(item, str) and _RFC3339.match(item))):
                out[key] = TIMESTAMP
            else:
                out[key] = normalize(item)
        return out
    if isinstance(value, list):
        return [normalize(item) for item in value]
    return value


def chat_request(model: str, content: str = "a b c", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}
