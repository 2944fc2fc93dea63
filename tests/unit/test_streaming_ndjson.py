"""NDJSON checker (contracts/streaming.py) on handwritten Ollama streams."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.schemas import spec_schemas
from contracts.streaming import NdjsonExpectations, check_json_content_type, check_ndjson_stream
from contracts.violation import Violation

pytestmark = [pytest.mark.unit]

EP = "POST /api/chat"
NDJSON = {"Content-Type": "application/x-ndjson"}
TS = "2024-07-22T20:20:06.123456789-07:00"


def line(content: str) -> dict[str, Any]:
    return {"model": "llama3.2:latest", "created_at": TS, "message": {"role": "assistant", "content": content}, "done": False}


def final(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "model": "llama3.2:latest",
        "created_at": TS,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "length",
        "total_duration": 5_043_500_667,
        "load_duration": 5_025_959,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 325_953_000,
        "eval_count": 2,
        "eval_duration": 4_709_213_000,
    }
    doc.update(changes)
    return doc


def ndjson(lines: list[Any]) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def check(body: bytes, headers: dict[str, str] = NDJSON, num_predict: int | None = 2) -> list[Violation]:
    schemas = spec_schemas("ollama")
    expect = NdjsonExpectations(
        num_predict=num_predict,
        chunk_errors=lambda d: schemas.errors("ChatChunk", d),
        final_errors=lambda d: schemas.errors("ChatFinal", d),
    )
    return check_ndjson_stream(body, headers, EP, expect)


def good() -> list[Any]:
    return [line("Hello"), line(" world"), final()]


def test_a_correct_stream_passes() -> None:
    assert check(ndjson(good())) == []


def test_wrong_content_type() -> None:
    assert check(ndjson(good()), headers={"content-type": "text/event-stream"}) == [
        Violation("ndjson-content-type", EP, "Content-Type: application/x-ndjson", "Content-Type: text/event-stream")
    ]


def test_two_objects_on_one_line() -> None:
    body = ndjson(good()).replace(b"}\n{", b"}{", 1)
    found = check(body)
    assert [v.rule for v in found] == ["ndjson-framing"]
    assert found[0].actual.startswith("line 1: Extra data")


def test_unterminated_last_line() -> None:
    body = ndjson(good())[:-1]
    assert check(body) == [
        Violation(
            "ndjson-framing",
            EP,
            "every line ends with a newline",
            "unterminated last line: ...'_count\": 2, \"eval_duration\": 4709213000}'",
        )
    ]


def test_non_object_line() -> None:
    found = check(ndjson([line("a"), "[1, 2]", final(eval_count=1)]))
    assert found == [Violation("ndjson-framing", EP, "one JSON object per line", "line 2: '[1, 2]'")]


def test_no_done_line() -> None:
    found = check(ndjson(good()[:-1]))
    assert [(v.rule, v.expected) for v in found] == [("ndjson-done", "a final line with done: true")]


def test_stream_ending_in_an_error_line() -> None:
    found = check(ndjson([line("a"), {"error": "out of memory"}]))
    assert ("ndjson-done", "in-stream error line 'out of memory'") in [(v.rule, v.actual) for v in found]


def test_line_after_done() -> None:
    found = check(ndjson([*good(), line("late")]))
    assert found == [Violation("ndjson-done", EP, "no line after the done: true line", "1 line(s) after it")]


def test_float_seconds_instead_of_integer_nanoseconds() -> None:
    found = check(ndjson([line("a"), line("b"), final(total_duration=5.04)]))
    assert found == [
        Violation(
            "ndjson-done",
            EP,
            "done_reason, total_duration and integer metrics on the done line",
            "total_duration: 5.04 is not of type 'integer'; total_duration = 5.04 (not integer nanoseconds)",
        )
    ]


def test_missing_done_reason_and_total_duration() -> None:
    last = final()
    del last["done_reason"], last["total_duration"]
    found = check(ndjson([line("a"), last]))
    assert [v.rule for v in found] == ["ndjson-done"]
    assert "done_reason = None" in found[0].actual and "total_duration = None" in found[0].actual


def test_zero_metrics_are_absent_not_0() -> None:
    # api/types.go (Ollama v0.32.15): every metric is omitempty; a cached prompt has no prompt_eval_count
    last = final()
    del last["prompt_eval_count"], last["prompt_eval_duration"], last["load_duration"]
    assert check(ndjson([line("a"), last])) == []


def test_chunk_schema_violation() -> None:
    bad = line("a")
    bad["message"]["role"] = "model"
    found = check(ndjson([bad, final(eval_count=1)]))
    assert found == [
        Violation("ollama-chat-schema", EP, "every streamed line matches the chunk schema", "line 1: message/role: 'assistant' was expected")
    ]


def test_eval_count_over_num_predict() -> None:
    found = check(ndjson([line("a"), final(eval_count=3)]))
    assert found == [Violation("ollama-max-tokens", EP, "eval_count <= num_predict = 2", "eval_count = 3")]


def test_more_content_lines_than_num_predict() -> None:
    found = check(ndjson([line("a"), line("b"), line("c"), final()]))
    assert found == [Violation("ollama-max-tokens", EP, "at most num_predict = 2 tokens", "3 content lines")]


def test_negative_num_predict_means_unlimited() -> None:
    assert check(ndjson([line("a"), line("b"), line("c"), final(eval_count=3)]), num_predict=-1) == []


def test_generate_lines_carry_response() -> None:
    schemas = spec_schemas("ollama")
    lines = [
        {"model": "m", "created_at": TS, "response": "Hi", "done": False},
        {**{k: v for k, v in final().items() if k != "message"}, "response": "", "eval_count": 1},
    ]
    expect = NdjsonExpectations(
        num_predict=1,
        content_key="response",
        chunk_errors=lambda d: schemas.errors("GenerateChunk", d),
        final_errors=lambda d: schemas.errors("GenerateFinal", d),
    )
    assert check_ndjson_stream(ndjson(lines), NDJSON, "POST /api/generate", expect) == []
    lines.insert(1, {"model": "m", "created_at": TS, "response": "!", "done": False})
    assert check_ndjson_stream(ndjson(lines), NDJSON, "POST /api/generate", expect) == [
        Violation("ollama-max-tokens", "POST /api/generate", "at most num_predict = 1 tokens", "2 content lines")
    ]


def test_json_content_type() -> None:
    assert check_json_content_type({"Content-Type": "application/json; charset=utf-8"}, EP) == []
    assert check_json_content_type({"content-type": "text/plain"}, "GET /v1/models") == [
        Violation("json-content-type", "GET /v1/models", "Content-Type: application/json", "Content-Type: text/plain")
    ]


def test_violation_rejects_unknown_rule_ids() -> None:
    with pytest.raises(ValueError, match="unknown contract rule id 'sse-typo'"):
        Violation("sse-typo", EP, "x", "y")
