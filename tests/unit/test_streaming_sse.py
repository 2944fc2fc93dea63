"""SSE checker (contracts/streaming.py) on handwritten streams: a correct one passes, each break
is reported as exactly the rule it breaks, with the message a user reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.schemas import spec_schemas
from contracts.streaming import SseExpectations, check_sse_stream, split_sse
from contracts.violation import Violation

pytestmark = [pytest.mark.unit]

EP = "POST /v1/chat/completions"
SSE = {"Content-Type": "text/event-stream; charset=utf-8"}


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None, index: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        doc["usage"] = usage
    return doc


def usage_chunk(prompt: int = 3, completion: int = 2, total: int = 5) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total},
    }


def good_chunks() -> list[dict[str, Any]]:
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " world"}),
        chunk({}, finish="length"),
    ]


def sse(events: list[Any], sep: str = "\n\n", done: bool = True) -> bytes:
    payloads = [e if isinstance(e, str) else json.dumps(e) for e in events]
    if done:
        payloads.append("[DONE]")
    return "".join(f"data: {p}{sep}" for p in payloads).encode()


def check(body: bytes, headers: dict[str, str] = SSE, **expect: Any) -> list[Violation]:
    expect.setdefault("max_tokens", 2)
    validator = spec_schemas("openai")
    return check_sse_stream(
        body, headers, EP, SseExpectations(chunk_errors=lambda d: validator.errors("ChatCompletionChunk", d),
                                           finish_reasons=validator.finish_reasons("ChatCompletionChunk"), **expect)
    )


def rules(found: list[Violation]) -> list[str]:
    return sorted(v.rule for v in found)


def test_a_correct_stream_passes() -> None:
    assert check(sse(good_chunks())) == []


def test_a_correct_stream_with_usage_passes() -> None:
    assert check(sse([*good_chunks(), usage_chunk()]), include_usage=True) == []


def test_crlf_line_endings_are_valid_framing() -> None:
    assert check(sse(good_chunks(), sep="\r\n\r\n")) == []


def test_sse_comments_are_ignored() -> None:
    body = b": keep-alive\n\n" + sse(good_chunks())
    assert check(body) == []


def test_wrong_content_type() -> None:
    assert check(sse(good_chunks()), headers={"content-type": "application/json"}) == [
        Violation("sse-content-type", EP, "Content-Type: text/event-stream", "Content-Type: application/json")
    ]


def test_missing_content_type() -> None:
    assert check(sse(good_chunks()), headers={}) == [
        Violation("sse-content-type", EP, "Content-Type: text/event-stream", "Content-Type: (none)")
    ]


def test_single_newline_is_a_framing_violation_for_strict_types() -> None:
    found = check(sse(good_chunks(), sep="\n"))
    # the whole stream reads as one event of five data lines; the payloads are still checked
    assert [(v.rule, v.actual[:45]) for v in found] == [
        ("sse-framing", "last event not followed by a blank line: ...'"),
        ("sse-framing", "event is not one 'data: <payload>' line: 'dat"),
    ]


def test_single_newline_is_the_documented_framing_of_llama_cpp_python() -> None:
    assert check(sse(good_chunks(), sep="\n"), single_newline=True) == []


def test_event_with_two_data_lines() -> None:
    body = b'data: {"a": 1}\ndata: {"b": 2}\n\n' + sse(good_chunks())
    found = check(body)
    assert "sse-framing" in rules(found)
    assert any("event is not one 'data: <payload>' line" in v.actual for v in found)


def test_field_without_space_is_a_framing_violation() -> None:
    body = sse(good_chunks()).replace(b"data: [DONE]", b"data:[DONE]")
    found = check(body)
    assert rules(found) == ["sse-done", "sse-framing"]


def test_missing_done() -> None:
    found = check(sse(good_chunks(), done=False))
    assert rules(found) == ["sse-done"]
    assert found[0].expected == "the last event is 'data: [DONE]'"


def test_event_after_done() -> None:
    body = sse(good_chunks()) + sse([chunk({"content": "x"})], done=False)
    found = check(body, max_tokens=5)
    assert [(v.rule, v.actual) for v in found if v.rule == "sse-done"] == [
        ("sse-done", "last event: " + json.dumps(chunk({"content": "x"}))[:157] + "..."),
        ("sse-done", "1 event(s) after [DONE]"),
    ]


def test_invalid_json_chunk() -> None:
    events: list[Any] = good_chunks()
    events.insert(2, '{"id": "chatcmpl-1", "choices": [')
    found = check(sse(events))
    assert rules(found) == ["sse-chunk-json"]
    assert found[0].actual.startswith("event 2: Expecting value")


def test_chunk_schema_violation_names_the_field() -> None:
    events = good_chunks()
    events[1]["object"] = "chat.completion"
    found = check(sse(events))
    assert found == [
        Violation("sse-chunk-schema", EP, "every chunk matches the chunk schema", "event 1: object: 'chat.completion.chunk' was expected")
    ]


def test_no_finish_reason() -> None:
    events = good_chunks()[:-1]
    assert check(sse(events)) == [
        Violation("sse-finish-reason", EP, "exactly one non-null finish_reason for choice 0", "0: []")
    ]


def test_two_finish_reasons() -> None:
    events = good_chunks()
    events[2]["choices"][0]["finish_reason"] = "stop"
    assert check(sse(events)) == [
        Violation("sse-finish-reason", EP, "exactly one non-null finish_reason for choice 0", "2: ['stop', 'length']")
    ]


def test_finish_reason_outside_the_enum() -> None:
    events = good_chunks()
    events[-1]["choices"][0]["finish_reason"] = "eos"
    found = check(sse(events))
    # the chunk schema also rejects it; the finish-reason rule names the value
    assert rules(found) == ["sse-chunk-schema", "sse-finish-reason"]
    assert found[1].actual == "'eos' (choice 0)"


def test_every_choice_needs_its_finish_reason() -> None:
    events = [*good_chunks(), chunk({"content": "b"}, index=1)]
    found = check(sse(events), choices=2)
    assert found == [Violation("sse-finish-reason", EP, "exactly one non-null finish_reason for choice 1", "0: []")]


def test_usage_without_include_usage() -> None:
    found = check(sse([*good_chunks(), usage_chunk()]))
    assert found == [
        Violation("sse-usage", EP, "no usage (stream_options.include_usage not requested)", "usage in 1 chunk(s)")
    ]


def test_null_usage_counts_as_absent() -> None:
    events = good_chunks()
    for event in events:
        event["usage"] = None
    assert check(sse(events)) == []


def test_include_usage_but_no_usage() -> None:
    assert check(sse(good_chunks()), include_usage=True) == [
        Violation("sse-usage", EP, "usage in the last chunk (include_usage: true)", "no usage in the last chunk")
    ]


def test_usage_in_every_chunk() -> None:
    events = [chunk(c["choices"][0]["delta"], c["choices"][0]["finish_reason"], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}) for c in good_chunks()]
    found = check(sse(events), include_usage=True)
    assert found == [Violation("sse-usage", EP, "usage only in the last chunk", "usage also in chunk(s) [0, 1, 2] of 4")]


def test_usage_arithmetic_in_the_stream() -> None:
    found = check(sse([*good_chunks(), usage_chunk(total=6)]), include_usage=True)
    assert found == [
        Violation("usage-arithmetic", EP, "total_tokens = prompt_tokens + completion_tokens = 3 + 2 = 5", "total_tokens = 6")
    ]


def test_usage_over_max_tokens() -> None:
    found = check(sse([*good_chunks(), usage_chunk(completion=3, total=6)]), include_usage=True)
    assert found == [Violation("max-tokens", EP, "completion_tokens <= max_tokens = 2", "completion_tokens = 3")]


def test_more_content_chunks_than_max_tokens() -> None:
    events = good_chunks()
    events.insert(3, chunk({"content": "!"}))
    assert check(sse(events)) == [
        Violation("max-tokens", EP, "at most max_tokens = 2 tokens", "3 content chunks for choice 0")
    ]


def test_text_completion_chunks_count_text() -> None:
    validator = spec_schemas("openai")
    events = [
        {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [{"index": 0, "text": t, "finish_reason": f}]}
        for t, f in [("a", None), ("b", None), ("c", "length")]
    ]
    expect = SseExpectations(kind="completion", max_tokens=2, chunk_errors=lambda d: validator.errors("TextCompletionChunk", d))
    assert check_sse_stream(sse(events), SSE, "POST /v1/completions", expect) == [
        Violation("max-tokens", "POST /v1/completions", "at most max_tokens = 2 tokens", "3 content chunks for choice 0")
    ]


def test_split_sse_reports_undecodable_bytes() -> None:
    assert split_sse(b"data: \xff\n\n") == ([], ["body is not UTF-8 (invalid start byte at byte 6)"])


def test_empty_body() -> None:
    found = check(b"")
    assert rules(found) == ["sse-done", "sse-finish-reason", "sse-framing"]


def test_usage_may_hold_n_times_max_tokens() -> None:
    events = [*good_chunks(), chunk({"content": "b"}, index=1), chunk({}, finish="length", index=1)]
    assert check(sse([*events, usage_chunk(completion=4, total=7)]), include_usage=True, choices=2) == []
    assert check(sse([*events, usage_chunk(completion=5, total=8)]), include_usage=True, choices=2) == [
        Violation("max-tokens", EP, "completion_tokens <= max_tokens = 4", "completion_tokens = 5")
    ]
