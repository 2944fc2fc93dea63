"""A minimal HTTP/1.1 server protocol on raw asyncio: the simulators' wire layer.

Chosen by measurement over aiohttp's low-level server (benchmarks/bench_simulator_capacity.py,
docs/simulators.md): a streamed chunk costs one ``transport.write`` and no framework layers, which
is what lets one process hold a thousand token streams. It also gives the fault injection direct
control of the bytes and the socket. Supported: keep-alive and pipelined requests (answered in
order), Content-Length and chunked request bodies, ``Expect: 100-continue``, HEAD, chunked
streaming responses with write flow control.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import traceback
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

__all__ = ["HttpProtocol", "Request"]

MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024

_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date_cache[1]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Request:
    """One parsed request, and the means to answer it on its connection."""

    __slots__ = ("_protocol", "body", "connection_request", "headers", "keep_alive", "method", "path", "query",
                 "started")

    def __init__(self, protocol: HttpProtocol, method: str, target: str, headers: dict[str, str], body: bytes,
                 keep_alive: bool) -> None:
        self._protocol = protocol
        # 1 for the first request on its connection, 2 for the next...: whether clients reuse connections.
        protocol.requests += 1
        self.connection_request = protocol.requests
        self.method = method
        path, _, query = target.partition("?")
        self.path = unquote(path)
        self.query = dict(parse_qsl(query))
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.started = False

    @property
    def closed(self) -> bool:
        return self._protocol.closed

    def _head(self, status: int, headers: dict[str, str], extra: str) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append("date: " + _date().decode())
        lines.append(extra)
        if not self.keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """A complete answer with Content-Length."""
        self.started = True
        head = self._head(status, headers, f"content-length: {len(body)}")
        self._protocol.write(head if self.method == "HEAD" else head + body)
        self._protocol.finished(self)

    async def start_stream(self, status: int, headers: dict[str, str], first: bytes = b"") -> None:
        """Headers of a chunked answer, with the first body bytes in the same write."""
        self.started = True
        data = self._head(status, headers, "transfer-encoding: chunked")
        if first:
            data += b"%x\r\n%b\r\n" % (len(first), first)
        await self._protocol.write_and_drain(data)

    async def write_chunk(self, data: bytes, *, last: bool = False) -> None:
        frame = b"%x\r\n%b\r\n" % (len(data), data) if data else b""
        if last:
            frame += b"0\r\n\r\n"
        await self._protocol.write_and_drain(frame)
        if last:
            self._protocol.finished(self)

    def abort(self) -> None:
        """Close the connection now, whatever was (not) sent: a crash as the client sees it."""
        self._protocol.close()


Handler = Callable[[Request], Awaitable[None]]


class HttpProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, connections: set[HttpProtocol]) -> None:
        self._handler = handler
        self._connections = connections
        self._buffer = bytearray()
        self._queue: asyncio.Queue[Request | None] = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self._writable: asyncio.Future[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._close_when_idle = False
        self._busy = False
        self._continued = False
        self.closed = False
        self.requests = 0  # requests parsed on this connection

    # --- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Nagle would hold small SSE chunks back by up to 40 ms (delayed ACK): never on a streaming server.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections.add(self)
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connections.discard(self)
        self._queue.put_nowait(None)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while not self.closed:
            request = self._parse()
            if request is None:
                return
            self._queue.put_nowait(request)

    # --- parsing ---------------------------------------------------------------------------
    def _parse(self) -> Request | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self._reject(431, "request header fields too large")
            return None
        try:
            head = bytes(self._buffer[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, target, version = request_line.split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers: dict[str, str] = {}
            for line in header_lines:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise ValueError(line)
                headers[name.lower()] = value.strip()
        except ValueError:
            self._reject(400, "malformed request")
            return None
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = self._chunked_body(start)
            if parsed is None:
                return None
            body, consumed = parsed
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._reject(400, "bad content-length")
                return None
            if length > MAX_BODY:
                self._reject(413, "request body too large")
                return None
            if len(self._buffer) - start < length:
                if headers.get("expect", "").lower() == "100-continue" and not self._continued:
                    self._continued = True
                    self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return None
            body, consumed = bytes(self._buffer[start : start + length]), start + length
        self._continued = False
        del self._buffer[:consumed]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return Request(self, method, target, headers, body, keep_alive)

    def _chunked_body(self, start: int) -> tuple[bytes, int] | None:
        body = bytearray()
        position = start
        while True:
            line_end = self._buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            try:
                size = int(bytes(self._buffer[position:line_end]).split(b";")[0], 16)
            except ValueError:
                self._reject(400, "bad chunk size")
                return None
            position = line_end + 2
            if size == 0:
                trailer_end = self._buffer.find(b"\r\n", position)
                if trailer_end < 0:
                    return None
                return bytes(body), trailer_end + 2
            if len(self._buffer) < position + size + 2:
                return None
            body += self._buffer[position : position + size]
            position += size + 2
            if len(body) > MAX_BODY:
                self._reject(413, "request body too large")
                return None

    def _reject(self, status: int, message: str) -> None:
        body = message.encode()
        self.write(f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: text/plain\r\ncontent-length: "
                   f"{len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.close()

    # --- serving ---------------------------------------------------------------------------
    async def _serve(self) -> None:
        # One request at a time per connection: pipelined requests are answered in order.
        while True:
            request = await self._queue.get()
            if request is None or self.closed:
                return
            self._busy = True
            try:
                await self._handler(request)
            except Exception:  # a bug in a handler: say so on stderr and on the wire, keep serving others
                traceback.print_exc()
                if not request.started and not self.closed:
                    request.keep_alive = False
                    request.respond(500, {"content-type": "text/plain"}, b"simulator internal error")
                else:
                    self.close()
            finally:
                self._busy = False
            if not request.started:
                self.close()
            if self._close_when_idle:
                self.close()

    def finished(self, request: Request) -> None:
        if not request.keep_alive:
            self.close()

    def close_when_idle(self) -> None:
        """Close after the answer in progress (now, if none is)."""
        self._close_when_idle = True
        if not self._busy:
            self.close()

    def write(self, data: bytes) -> None:
        if not self.closed and self._transport is not None:
            self._transport.write(data)

    async def write_and_drain(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the client closed the connection")
        self.write(data)
        if self._writable is not None and not self._writable.done():
            await self._writable
            if self.closed:
                raise ConnectionResetError("the client closed the connection")

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True
