"""The simulators' HTTP/1.1 layer, driven through a fake transport (no sockets): parsing,
keep-alive, pipelining, chunked bodies, 100-continue, chunked streaming, bad requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contracts.simulators.wire import HttpProtocol, Request

pytestmark = [pytest.mark.unit]


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _strip_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"date: "))


async def _exchange(chunks: list[bytes], handler: Any) -> tuple[bytes, bool, list[Request]]:
    seen: list[Request] = []

    async def record(request: Request) -> None:
        seen.append(request)
        await handler(request)

    protocol = HttpProtocol(record, set())
    transport = FakeTransport()
    protocol.connection_made(transport)
    for chunk in chunks:
        protocol.data_received(chunk)
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    return _strip_date(bytes(transport.data)), transport.closed, seen


async def _echo(request: Request) -> None:
    request.respond(200, {"content-type": "text/plain"}, request.method.encode() + b" " + request.path.encode()
                    + b" " + request.body)


def test_keep_alive_and_pipelined_requests_are_answered_in_order() -> None:
    raw = (b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
           b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
    data, closed, seen = asyncio.run(_exchange([raw[:10], raw[10:40], raw[40:]], _echo))
    assert data == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\nPOST /a abc"
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nGET /b ")
    assert not closed
    assert (seen[0].query, seen[0].headers) == ({"x": "1"}, {"host": "h", "content-length": "3"})


def test_connection_close_and_http_1_0_close_after_the_answer() -> None:
    data, closed, _ = asyncio.run(_exchange([b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"], _echo))
    assert data.endswith(b"connection: close\r\n\r\nGET / ") and closed
    _, closed_10, _ = asyncio.run(_exchange([b"GET / HTTP/1.0\r\n\r\n"], _echo))
    assert closed_10


def test_chunked_request_body_and_expect_continue() -> None:
    chunked = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    data, _, seen = asyncio.run(_exchange([chunked[:30], chunked[30:55], chunked[55:]], _echo))
    assert seen[0].body == b"abcde" and data.endswith(b"POST /c abcde")
    expect = b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    data, _, _ = asyncio.run(_exchange([expect, b"hi"], _echo))
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n") and data.endswith(b"POST /e hi")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/2.0\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400 Bad Request"),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400 Bad Request"),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", b"413 Request Entity Too Large"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, b"431 Request Header Fields Too Large"),
    ],
)
def test_bad_requests_get_a_4xx_and_the_connection_closes(raw: bytes, status: bytes) -> None:
    data, closed, seen = asyncio.run(_exchange([raw], _echo))
    assert data.startswith(b"HTTP/1.1 " + status + b"\r\n") and closed and seen == []


def test_streamed_answer_is_chunked_and_head_has_no_body() -> None:
    async def stream(request: Request) -> None:
        await request.start_stream(200, {"content-type": "text/event-stream"}, b"data: a\n\n")
        await request.write_chunk(b"data: b\n\n")
        await request.write_chunk(b"data: [DONE]\n\n", last=True)

    data, closed, _ = asyncio.run(_exchange([b"POST /s HTTP/1.1\r\n\r\n"], stream))
    assert data == (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    b"9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    assert not closed
    head, _, _ = asyncio.run(_exchange([b"HEAD /h HTTP/1.1\r\n\r\n"], _echo))
    assert head == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\n"


def test_a_handler_that_answers_nothing_closes_the_connection_and_a_crash_answers_500() -> None:
    async def silent(request: Request) -> None:
        return None

    async def crash(request: Request) -> None:
        raise RuntimeError("bug")

    data, closed, _ = asyncio.run(_exchange([b"GET / HTTP/1.1\r\n\r\n"], silent))
    assert (data, closed) == (b"", True)
    data, closed, _ = asyncio.run(_exchange([b"GET / HTTP/1.1\r\n\r\n"], crash))
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and closed
