"""What a check is, and the helpers checks judge answers with.

A ``Check`` is a small function of a ``Probe`` returning the ``Violation``s it found, declared with
the contract types it applies to and the rules it can report (``declare_check`` refuses ids not
in ``contracts/rules.py``). The helpers below turn an answer into violations the same way for
every API family: a wrong status, a body against a schema of the type's spec, an error answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from contracts.rules import RULES
from contracts.streaming import split_sse
from contracts.suite.probe import Probe
from contracts.violation import Exchange, Violation

__all__ = [
    "MAX_TOKENS",
    "PROMPT",
    "UNKNOWN_MODEL",
    "Check",
    "CheckFunction",
    "clip",
    "declare_check",
    "endpoint_of",
    "exchange_of",
    "expect_error",
    "expect_status",
    "json_body",
    "schema_violations",
]

MAX_TOKENS = 3  # small: a contract run exercises the protocol, not the model
PROMPT = "Say hello in three words."
UNKNOWN_MODEL = "no-such-model-for-contract-check"

CheckFunction = Callable[[Probe], list[Violation]]


@dataclass(frozen=True)
class Check:
    name: str
    types: frozenset[str]
    rules: tuple[str, ...]  # the rules this check can report (the README's table)
    run: CheckFunction
    description: str = ""
    # The rule a broken exchange (dropped connection, timeout) breaks; default: the first rule.
    transport_rule: str | None = None


def declare_check(name: str, types: Iterable[str], rules: tuple[str, ...], run: CheckFunction) -> Check:
    """A ``Check`` whose description is ``run``'s docstring; a typo in a rule id fails at import."""
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"check {name} names unknown rules {unknown}")
    # A stream cut short is a stream without its end marker.
    transport = "sse-done" if "sse-done" in rules else "ndjson-done" if "ndjson-done" in rules else None
    return Check(name, frozenset(types), rules, run, (run.__doc__ or "").strip(), transport)


# --- judging answers -----------------------------------------------------------------------------


def clip(text: str, limit: int = 200) -> str:
    """An answer's text as a one-line excerpt for a violation's ``actual``."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def endpoint_of(method: str, path: str) -> str:
    return f"{method} {path}"


REQUEST_CLIP = 300
RESPONSE_CLIP = 300


def exchange_of(response: httpx.Response, actual: str = "") -> Exchange:
    """The exchange behind a finding: the request as sent (body clipped) and the part of the answer
    ``actual`` is about (the JSON value at the path it names, the SSE event or NDJSON line it
    counts), else the answer's beginning."""
    request = response.request
    body = request.content.decode("utf-8", "replace") if request.content else ""
    return Exchange(
        request.method, request.url.path, clip(body, REQUEST_CLIP), response.status_code,
        response.headers.get("content-type", ""), response_excerpt(response, actual),
    )


def _content_pieces(payloads: list[str], choice: int) -> list[str]:
    """The content (chat ``delta.content``, text ``text``) each SSE chunk carries for ``choice``."""
    pieces = []
    for payload in payloads:
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError:
            continue
        for entry in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
            if isinstance(entry, dict) and entry.get("index", 0) == choice:
                delta = entry.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else entry.get("text")
                if isinstance(text, str) and text:
                    pieces.append(text)
    return pieces


def _usage(response: httpx.Response) -> Any:
    """The ``usage`` of a JSON answer, or of a stream's last chunk that carries one."""
    document = json_body(response)
    if isinstance(document, dict):
        return document.get("usage")
    payloads, _ = split_sse(response.content)
    for payload in reversed(payloads):
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError:
            continue
        if isinstance(chunk, dict) and chunk.get("usage"):
            return chunk["usage"]
    return None


def response_excerpt(response: httpx.Response, actual: str) -> str:
    """The part of ``response`` the finding ``actual`` is about (see ``exchange_of``)."""
    # What a token count is judged by: the pieces counted, or the usage reported.
    chunks = re.match(r"(\d+) content chunks for choice (\d+)", actual)
    if chunks:
        pieces = _content_pieces(split_sse(response.content)[0], int(chunks.group(2)))
        return f"choice {chunks.group(2)} content chunks: {clip(json.dumps(pieces, ensure_ascii=False), RESPONSE_CLIP)}"
    if re.match(r"(prompt|completion|total)_tokens = ", actual):
        usage = _usage(response)
        if usage is not None:
            return f"usage = {clip(json.dumps(usage), 160)} in {clip(response.text, RESPONSE_CLIP - 180)}"
    event = re.match(r"event (\d+)", actual)
    if event:
        payloads, _ = split_sse(response.content)
        index = int(event.group(1))
        if index < len(payloads):
            return f"event {index}: data: {clip(payloads[index], RESPONSE_CLIP)}"
    line = re.match(r"line (\d+)", actual)
    if line:
        lines = response.text.split("\n")
        number = int(line.group(1))
        if 0 < number <= len(lines):
            return f"line {number}: {clip(lines[number - 1], RESPONSE_CLIP)}"
    path = re.match(r"([A-Za-z_][\w-]*(?:/[\w-]+)*): ", actual)
    document = json_body(response) if path else None
    if path and document is not None:
        value: Any = document
        for part in path.group(1).split("/"):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                break
        else:
            return f"{path.group(1)} = {clip(json.dumps(value), 120)} in {clip(response.text, RESPONSE_CLIP - 140)}"
    return clip(response.text, RESPONSE_CLIP)


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON document; None when it is not JSON (the schema check then says so)."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def schema_violations(probe: Probe, rule: str, endpoint: str, schema: str, document: Any) -> list[Violation]:
    """``document`` against the named schema of the probe's spec: one violation naming every error."""
    errors = probe.schemas.errors(schema, document)
    if not errors:
        return []
    actual = "; ".join(errors)
    answer = probe.answers.get(endpoint)
    return [Violation(rule, endpoint, f"a body matching the {probe.type} {schema} schema", actual,
                      exchange_of(answer, actual) if answer is not None else None)]


def expect_status(
    rule: str, endpoint: str, response: httpx.Response, wanted: int, what: str, probe: Probe | None = None
) -> list[Violation]:
    """A violation unless the answer has the ``wanted`` status; with ``probe``, the answer is kept
    for known-deviation matching."""
    if response.status_code == wanted:
        return []
    violation = Violation(rule, endpoint, f"{wanted} {what}", f"{response.status_code}: {clip(response.text)}",
                          exchange_of(response))
    if probe is not None:
        probe.observed[violation] = response
    return [violation]


def expect_error(
    probe: Probe,
    rule: str,
    path: str,
    wanted: int,
    *,
    body: Any = None,
    raw: bytes | None = None,
    what: str,
    schema_rule: str = "error-schema",
    also: frozenset[int] = frozenset(),
) -> list[Violation]:
    """POST an invalid request: ``wanted`` (or a status in ``also``) with the spec's error body for it."""
    endpoint = endpoint_of("POST", path)
    response = probe.request("POST", path, body=body, raw=raw)
    if response.status_code in also:
        wanted = response.status_code  # an equally correct answer, held to its own error body
    if response.status_code != wanted:
        violation = Violation(rule, endpoint, f"{wanted} for {what}", f"{response.status_code}: {clip(response.text)}",
                              exchange_of(response))
        probe.observed[violation] = response
        return [violation]
    schema = probe.error_schema("POST", path, wanted)
    if schema is None:
        return []
    document = json_body(response)
    errors = probe.schemas.errors(schema, document) if document is not None else [f"not JSON: {clip(response.text)}"]
    if errors:
        actual = "; ".join(errors)
        return [Violation(schema_rule, endpoint, f"the {probe.type} {schema} body for {what}", actual,
                          exchange_of(response, actual))]
    return []

