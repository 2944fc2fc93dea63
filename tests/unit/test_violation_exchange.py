"""A violation's exchange shows the part of the answer its finding is about: the usage a token count
was read from, the content pieces a stream's count counted (what a person needs to tell a real
break from a false alarm, e.g. one character split over several byte-level tokens)."""

from __future__ import annotations

import json

import httpx
import pytest

from contracts.suite.check import exchange_of

pytestmark = [pytest.mark.unit]

REQUEST = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions", json={"model": "m", "max_tokens": 3})


def _sse(*chunks: object) -> bytes:
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def _chunk(content: str | None, index: int = 0) -> dict[str, object]:
    return {"object": "chat.completion.chunk", "choices": [{"index": index, "delta": {"content": content}, "finish_reason": None}]}


def test_a_token_count_shows_the_usage_it_was_read_from() -> None:
    body = {"id": "x" * 400, "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}
    response = httpx.Response(200, json=body, request=REQUEST)
    exchange = exchange_of(response, "completion_tokens = 4")
    assert exchange.request == '{"model":"m","max_tokens":3}'
    assert (exchange.status, exchange.content_type) == (200, "application/json")
    assert exchange.response.startswith('usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9} in {"id":"xxx')


def test_a_streamed_count_shows_the_pieces_it_counted_for_that_choice() -> None:
    content = _sse(_chunk(""), _chunk("\u00e9"[:1]), _chunk("b", index=1), _chunk("c"), _chunk("d"), _chunk(None))
    response = httpx.Response(200, content=content, headers={"content-type": "text/event-stream"}, request=REQUEST)
    assert exchange_of(response, "3 content chunks for choice 0").response == 'choice 0 content chunks: ["\u00e9", "c", "d"]'
    assert exchange_of(response, "1 content chunks for choice 1").response == 'choice 1 content chunks: ["b"]'


def test_a_stream_usage_count_shows_the_usage_chunk() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 8}
    content = _sse(_chunk("a"), {"object": "chat.completion.chunk", "choices": [], "usage": usage})
    response = httpx.Response(200, content=content, headers={"content-type": "text/event-stream"}, request=REQUEST)
    assert exchange_of(response, "total_tokens = 8").response.startswith(f"usage = {json.dumps(usage)} in data: ")
