"""The project's own stream checkers: SSE (OpenAI-compatible ``/v1``) and NDJSON (Ollama ``/api``).

Pure functions over a response's raw body bytes and headers, returning ``Violation``s keyed by
the rule ids of ``contracts/rules.py``: usable from pytest, from the suite
(``contracts/suite/``) and, wrapped by ``contracts/fuzz.py``, as schemathesis custom checks.
Schemathesis' own SSE validation cannot be used: it reads ``data: [DONE]`` as a JSON chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from contracts.violation import Violation

__all__ = [
    "ChunkValidator",
    "NdjsonExpectations",
    "SseExpectations",
    "check_json_content_type",
    "check_ndjson_stream",
    "check_sse_stream",
    "check_usage",
    "header",
    "split_sse",
]

# A schema check: the document → readable errors (empty list when it conforms).
ChunkValidator = Callable[[Any], list[str]]

def _no_errors(_document: Any) -> list[str]:
    return []


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup over any mapping ('' when absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


def _media_type(headers: Mapping[str, str]) -> str:
    return header(headers, "content-type").split(";")[0].strip().lower()


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_json_content_type(headers: Mapping[str, str], endpoint: str, rule: str = "json-content-type") -> list[Violation]:
    got = _media_type(headers)
    if got == "application/json":
        return []
    return [Violation(rule, endpoint, "Content-Type: application/json", f"Content-Type: {got or '(none)'}")]


def check_usage(usage: Any, endpoint: str, max_tokens: int | None) -> list[Violation]:
    """``total_tokens`` = prompt + completion, and no more completion tokens than ``max_tokens``
    (the caller multiplies by ``n``: usage counts every choice's tokens)."""
    if not isinstance(usage, dict):
        return []  # the schema check reports a missing or ill-typed usage
    found: list[Violation] = []
    prompt, completion, total = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if all(isinstance(v, int) for v in (prompt, completion, total)):
        assert isinstance(prompt, int) and isinstance(completion, int)
        if total != prompt + completion:
            found.append(
                Violation(
                    "usage-arithmetic",
                    endpoint,
                    f"total_tokens = prompt_tokens + completion_tokens = {prompt} + {completion} = {prompt + completion}",
                    f"total_tokens = {total}",
                )
            )
    if max_tokens is not None and isinstance(completion, int) and completion > max_tokens:
        found.append(
            Violation("max-tokens", endpoint, f"completion_tokens <= max_tokens = {max_tokens}", f"completion_tokens = {completion}")
        )
    return found


# --- SSE -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SseExpectations:
    """What the request asked for, which decides what a correct stream looks like."""

    kind: Literal["chat", "completion"] = "chat"
    include_usage: bool = False
    # The finish reasons the type's spec allows for this endpoint (None: any string).
    finish_reasons: frozenset[str] | None = None
    max_tokens: int | None = None
    choices: int = 1
    # Accept events ended by a single newline. rules.py and provider-contracts.md name this a
    # llama-cpp-python quirk, but its server (sse-starlette) ends every event with "\r\n\r\n",
    # and so does the simulator: the suite holds every type to the blank line; kept for servers
    # that really do it.
    single_newline: bool = False
    chunk_errors: ChunkValidator = field(default=_no_errors, compare=False)


def split_sse(body: bytes, *, single_newline: bool = False) -> tuple[list[str], list[str]]:
    """The ``data`` payloads of an SSE body and the framing problems found on the way."""
    problems: list[str] = []
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [f"body is not UTF-8 ({exc.reason} at byte {exc.start})"]
    text = text.replace("\r\n", "\n")
    if not text:
        return [], ["empty body"]
    if single_newline:
        if not text.endswith("\n"):
            problems.append(f"stream does not end with a newline: ...{text[-40:]!r}")
        events = [line for line in text.split("\n") if line.strip()]
    else:
        if not text.endswith("\n\n"):
            problems.append(f"last event not followed by a blank line: ...{text[-40:]!r}")
        events = [block for block in text.split("\n\n") if block.strip()]
    payloads: list[str] = []
    for event in events:
        lines = [line for line in event.split("\n") if line and not line.startswith(":")]  # ':' = SSE comment
        if not lines:
            continue
        data_lines = [line for line in lines if line.startswith("data: ")]
        if len(lines) != 1 or len(data_lines) != 1:
            problems.append(f"event is not one 'data: <payload>' line: {_clip(event)!r}")
        payloads.extend(line[len("data: ") :] for line in data_lines)
    return payloads, problems


def check_sse_stream(
    body: bytes, headers: Mapping[str, str], endpoint: str, expect: SseExpectations
) -> list[Violation]:
    found: list[Violation] = []
    media = _media_type(headers)
    if media != "text/event-stream":
        found.append(Violation("sse-content-type", endpoint, "Content-Type: text/event-stream", f"Content-Type: {media or '(none)'}"))

    payloads, problems = split_sse(body, single_newline=expect.single_newline)
    framing = "events separated by a single newline" if expect.single_newline else "'data: <payload>' events each followed by a blank line"
    found.extend(Violation("sse-framing", endpoint, framing, problem) for problem in problems[:3])

    if not payloads or payloads[-1] != "[DONE]":
        last = _clip(payloads[-1]) if payloads else "(no events)"
        found.append(Violation("sse-done", endpoint, "the last event is 'data: [DONE]'", f"last event: {last}"))
    early = [i for i, payload in enumerate(payloads[:-1]) if payload == "[DONE]"]
    if early:
        found.append(
            Violation("sse-done", endpoint, "nothing after 'data: [DONE]'", f"{len(payloads) - 1 - early[0]} event(s) after [DONE]")
        )

    chunks: list[dict[str, Any]] = []
    for index, payload in enumerate(payloads):
        if payload == "[DONE]":
            continue
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            found.append(Violation("sse-chunk-json", endpoint, "every data payload is valid JSON", f"event {index}: {exc.msg}: {_clip(payload)!r}"))
            continue
        errors = expect.chunk_errors(chunk)
        if errors:
            found.append(Violation("sse-chunk-schema", endpoint, "every chunk matches the chunk schema", f"event {index}: {'; '.join(errors)}"))
        if isinstance(chunk, dict):
            chunks.append(chunk)
    found.extend(_check_finish_reasons(chunks, endpoint, expect.choices, expect.finish_reasons))
    found.extend(_check_stream_usage(chunks, endpoint, expect))
    found.extend(_check_stream_length(chunks, endpoint, expect))
    return found


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _check_finish_reasons(
    chunks: list[dict[str, Any]], endpoint: str, expected_choices: int, allowed: frozenset[str] | None
) -> list[Violation]:
    reasons: dict[Any, list[Any]] = {index: [] for index in range(expected_choices)}
    for chunk in chunks:
        for choice in _choices(chunk):
            reason = choice.get("finish_reason")
            if reason is not None:
                reasons.setdefault(choice.get("index"), []).append(reason)
    found = []
    for index, seen in reasons.items():
        if len(seen) != 1:
            found.append(
                Violation("sse-finish-reason", endpoint, f"exactly one non-null finish_reason for choice {index}", f"{len(seen)}: {seen}")
            )
        elif allowed is not None and seen[0] not in allowed:
            found.append(
                Violation("sse-finish-reason", endpoint, f"finish_reason one of {sorted(allowed)}", f"{seen[0]!r} (choice {index})")
            )
    return found


def _check_stream_usage(chunks: list[dict[str, Any]], endpoint: str, expect: SseExpectations) -> list[Violation]:
    # `usage: null` in intermediate chunks is what OpenAI itself sends: it counts as absent.
    carriers = [i for i, chunk in enumerate(chunks) if chunk.get("usage") is not None]
    if not expect.include_usage:
        if carriers:
            return [
                Violation("sse-usage", endpoint, "no usage (stream_options.include_usage not requested)", f"usage in {len(carriers)} chunk(s)")
            ]
        return []
    if not chunks:
        return []
    last = len(chunks) - 1
    found = []
    if last not in carriers:
        found.append(Violation("sse-usage", endpoint, "usage in the last chunk (include_usage: true)", "no usage in the last chunk"))
    early = [i for i in carriers if i != last]
    if early:
        found.append(Violation("sse-usage", endpoint, "usage only in the last chunk", f"usage also in chunk(s) {early[:5]} of {len(chunks)}"))
    if last in carriers:
        # usage counts the tokens of every choice: n choices may hold n * max_tokens.
        limit = expect.max_tokens * expect.choices if expect.max_tokens is not None else None
        found.extend(check_usage(chunks[last]["usage"], endpoint, limit))
    return found


def _check_stream_length(chunks: list[dict[str, Any]], endpoint: str, expect: SseExpectations) -> list[Violation]:
    # Token counts are not visible in a stream without usage; a chunk carries at least one token,
    # so more content-bearing chunks than max_tokens proves too many tokens were generated.
    if expect.max_tokens is None:
        return []
    counts: dict[Any, int] = {}
    for chunk in chunks:
        for choice in _choices(chunk):
            if expect.kind == "chat":
                delta = choice.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else None
            else:
                text = choice.get("text")
            if isinstance(text, str) and text:
                counts[choice.get("index")] = counts.get(choice.get("index"), 0) + 1
    return [
        Violation("max-tokens", endpoint, f"at most max_tokens = {expect.max_tokens} tokens", f"{count} content chunks for choice {index}")
        for index, count in counts.items()
        if count > expect.max_tokens
    ]


# --- NDJSON ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NdjsonExpectations:
    num_predict: int | None = None
    content_key: Literal["message", "response"] = "message"
    chunk_errors: ChunkValidator = field(default=_no_errors, compare=False)
    final_errors: ChunkValidator = field(default=_no_errors, compare=False)


# api/types.go (Ollama v0.32.15): every metric is omitempty, so a zero one is absent; the done line
# of a finished generation always has done_reason and total_duration (server/routes.go).
METRICS = ("load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")


def check_ndjson_stream(
    body: bytes, headers: Mapping[str, str], endpoint: str, expect: NdjsonExpectations
) -> list[Violation]:
    found: list[Violation] = []
    media = _media_type(headers)
    if media != "application/x-ndjson":
        found.append(Violation("ndjson-content-type", endpoint, "Content-Type: application/x-ndjson", f"Content-Type: {media or '(none)'}"))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [*found, Violation("ndjson-framing", endpoint, "UTF-8 JSON lines", f"undecodable byte at {exc.start}")]
    if text and not text.endswith("\n"):
        found.append(Violation("ndjson-framing", endpoint, "every line ends with a newline", f"unterminated last line: ...{text[-40:]!r}"))
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), start=1):
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            found.append(Violation("ndjson-framing", endpoint, "one complete JSON object per line", f"line {number}: {exc.msg}: {_clip(line)!r}"))
            continue
        if not isinstance(document, dict):
            found.append(Violation("ndjson-framing", endpoint, "one JSON object per line", f"line {number}: {_clip(line)!r}"))
            continue
        objects.append(document)
    if not objects:
        return [*found, Violation("ndjson-done", endpoint, "a final line with done: true", "no JSON lines")]

    done_at = next((i for i, o in enumerate(objects) if o.get("done") is True), None)
    if done_at is None:
        last = objects[-1]
        actual = f"in-stream error line {last['error']!r}" if "error" in last else f"last line: {_clip(json.dumps(last))}"
        found.append(Violation("ndjson-done", endpoint, "a final line with done: true", actual))
    elif done_at != len(objects) - 1:
        found.append(Violation("ndjson-done", endpoint, "no line after the done: true line", f"{len(objects) - 1 - done_at} line(s) after it"))
    body_lines = objects if done_at is None else objects[:done_at]
    for number, document in enumerate(body_lines, start=1):
        errors = expect.chunk_errors(document)
        if errors:
            found.append(Violation("ollama-chat-schema", endpoint, "every streamed line matches the chunk schema", f"line {number}: {'; '.join(errors)}"))
            break
    if done_at is not None:
        final = objects[done_at]
        problems = expect.final_errors(final) + _final_line_problems(final)
        if problems:
            found.append(
                Violation("ndjson-done", endpoint, "done_reason, total_duration and integer metrics on the done line", "; ".join(dict.fromkeys(problems)))
            )
        found.extend(_check_eval_count(final, body_lines, endpoint, expect))
    return found


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _final_line_problems(final: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(final.get("done_reason"), str):
        problems.append(f"done_reason = {final.get('done_reason')!r}")
    if not _is_integer(final.get("total_duration")):
        problems.append(f"total_duration = {final.get('total_duration')!r} (not integer nanoseconds)")
    for name in METRICS:
        if name in final and not _is_integer(final[name]):
            problems.append(f"{name} = {final[name]!r} (not an integer)")
    return problems


def _check_eval_count(final: dict[str, Any], lines: list[dict[str, Any]], endpoint: str, expect: NdjsonExpectations) -> list[Violation]:
    if expect.num_predict is None or expect.num_predict < 0:
        return []
    found = []
    eval_count = final.get("eval_count")
    if isinstance(eval_count, int) and eval_count > expect.num_predict:
        found.append(Violation("ollama-max-tokens", endpoint, f"eval_count <= num_predict = {expect.num_predict}", f"eval_count = {eval_count}"))
    content_lines = sum(1 for line in lines if _ndjson_text(line, expect.content_key))
    if content_lines > expect.num_predict:
        found.append(
            Violation("ollama-max-tokens", endpoint, f"at most num_predict = {expect.num_predict} tokens", f"{content_lines} content lines")
        )
    return found


def _ndjson_text(line: dict[str, Any], key: str) -> str:
    value = line.get(key)
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""
