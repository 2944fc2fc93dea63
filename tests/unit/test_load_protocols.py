"""Chunk parsing and request bodies (loadtests.protocols): what is a token and what is not."""

from __future__ import annotations

import json

import pytest

from loadtests.protocols import (
    Chunk,
    ProtocolError,
    build_request,
    endpoint_path,
    parse_full_body,
    parse_stream_line,
)

pytestmark = [pytest.mark.unit]


def sse(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n"


@pytest.mark.parametrize(
    ("delta", "has_token"),
    [
        ({"role": "assistant"}, False),
        ({"role": "assistant", "content": ""}, False),
        ({"content": None}, False),
        ({}, False),
        ({"content": "Hi"}, True),
        ({"reasoning_content": "thinking"}, True),
        ({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}, True),
    ],
)
def test_role_only_and_empty_chunks_are_not_tokens(delta: dict[str, object], has_token: bool) -> None:
    chunk = parse_stream_line("openai-chat", sse({"choices": [{"index": 0, "delta": delta}]}))
    assert chunk is not None and chunk.has_token is has_token


def test_usage_chunk_done_and_non_events() -> None:
    usage = parse_stream_line("openai-chat", sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 7}}))
    assert usage == Chunk(usage_prompt=3, usage_completion=7)
    assert parse_stream_line("openai-chat", b"data: [DONE]\n") == Chunk(done=True)
    assert parse_stream_line("openai-chat", b"\n") is None
    assert parse_stream_line("openai-chat", b": keep-alive\n") is None
    assert parse_stream_line("openai-chat", b"event: message\n") is None


def test_completions_text_and_error_event() -> None:
    c = parse_stream_line("openai-completions", sse({"choices": [{"index": 0, "text": " word"}]}))
    assert c == Chunk(text=" word")
    err = parse_stream_line("openai-chat", sse({"error": {"message": "overloaded", "code": 503}}))
    assert err == Chunk(error="overloaded")


def test_malformed_lines_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match=r"invalid JSON in stream: "):
        parse_stream_line("openai-chat", b"data: {broken\n")
    with pytest.raises(ProtocolError, match=r"not an SSE line: "):
        parse_stream_line("openai-chat", b"hello\n")
    with pytest.raises(ProtocolError, match=r"chunk without a 'choices' list"):
        parse_stream_line("openai-chat", sse({"id": "x"}))


def test_ollama_ndjson() -> None:
    first = parse_stream_line("ollama-chat", json.dumps({"message": {"role": "assistant", "content": ""}, "done": False}).encode())
    assert first == Chunk()
    tok = parse_stream_line("ollama-chat", json.dumps({"message": {"role": "assistant", "content": "Hi"}, "done": False}).encode())
    assert tok == Chunk(text="Hi")
    last = parse_stream_line("ollama-chat", json.dumps({"message": {"role": "assistant", "content": ""}, "done": True,
                                                         "eval_count": 12, "prompt_eval_count": 4}).encode())
    assert last == Chunk(usage_prompt=4, usage_completion=12, done=True)


def test_full_bodies() -> None:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "a b c"}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3}}
    assert parse_full_body("openai-chat", json.dumps(body).encode()) == Chunk(text="a b c", usage_prompt=2,
                                                                             usage_completion=3, done=True)
    assert parse_full_body("ollama-chat", b'{"error": "model \'x\' not found"}') == Chunk(error="model 'x' not found")


def test_request_bodies_ask_for_usage_when_streaming() -> None:
    assert build_request("openai-chat", "m", "hi", 5, True) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stream": True,
        "stream_options": {"include_usage": True}}
    assert build_request("openai-completions", "m", "hi", 5, False) == {
        "model": "m", "prompt": "hi", "max_tokens": 5, "stream": False}
    assert build_request("ollama-chat", "m", "hi", 5, True) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "options": {"num_predict": 5}}


def test_endpoint_path_does_not_double_v1() -> None:
    assert endpoint_path("openai-chat", "") == "/v1/chat/completions"
    assert endpoint_path("openai-chat", "/v1/") == "/v1/chat/completions"
    assert endpoint_path("openai-completions", "/proxy") == "/proxy/v1/completions"
    assert endpoint_path("ollama-chat", "") == "/api/chat"
