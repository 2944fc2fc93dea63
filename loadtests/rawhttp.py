"""A minimal HTTP/1.1 keep-alive client on (gevent) sockets, for stamping streamed bodies.

Why not geventhttpclient (FastHttpUser's engine)? Both are measured by
``benchmarks/bench_loadtest_accuracy.py``; this one does less per request (no header objects,
no generic parser callbacks), so one process keeps more streams really in flight. It speaks just
what LLM servers use: a request with a byte body, a response with ``Content-Length`` or chunked
transfer encoding, body read line by line as soon as each line is complete.
"""

from __future__ import annotations

import socket

try:  # under Locust, select is gevent's: a zero-timeout call there yields to the hub
    from gevent.monkey import get_original

    _select = get_original("select", "select")
except ImportError:  # pragma: no cover - gevent comes with Locust
    from select import select as _select

__all__ = ["ChunkedDecoder", "HTTPConnectionLost", "RawConnection", "RawResponse"]


class HTTPConnectionLost(ConnectionError):
    """The connection closed before the response was complete."""


class ChunkedDecoder:
    """Incremental decoder of ``Transfer-Encoding: chunked``: feed raw bytes, get body bytes.

    One pass over each feed with an index (no copy of what is left after every chunk): a streamed
    LLM answer is dozens of small chunks, and this runs for each of them."""

    def __init__(self) -> None:
        self._raw = b""
        self._left = 0  # bytes left in the current chunk
        self._crlf = False  # a chunk's trailing CRLF is still to be consumed
        self.complete = False

    def feed(self, data: bytes) -> bytes:
        raw = self._raw + data if self._raw else data
        out: list[bytes] = []
        pos, size = 0, len(raw)
        left, crlf = self._left, self._crlf
        while pos < size and not self.complete:
            if crlf:
                if size - pos < 2:
                    break
                if raw[pos:pos + 2] != b"\r\n":
                    raise ValueError("chunked encoding: missing CRLF after a chunk")
                pos += 2
                crlf = False
            elif left:
                take = min(left, size - pos)
                out.append(raw[pos:pos + take])
                pos += take
                left -= take
                crlf = left == 0
            else:
                end = raw.find(b"\r\n", pos)
                if end < 0:
                    break
                length = int(raw[pos:end].split(b";", 1)[0], 16)
                pos = end + 2
                if length == 0:
                    # trailers are not used by LLM servers: the final CRLF ends the message
                    self.complete = True
                    break
                left = length
        self._raw = raw[pos:] if pos < size else b""
        self._left, self._crlf = left, crlf
        return b"".join(out) if len(out) != 1 else out[0]


class RawResponse:
    def __init__(self, conn: RawConnection) -> None:
        self._conn = conn
        self.status = 0
        self.headers: dict[str, str] = {}
        self._lines: list[bytes] = []  # complete body lines not read yet, in order
        self._next = 0  # index of the next of them
        self._partial = b""  # the body after the last newline
        self._decoder: ChunkedDecoder | None = None
        self._remaining: int | None = None  # Content-Length left; None = until close
        self.complete = False

    def _recv(self) -> bytes:
        sock = self._conn.sock
        if sock is None:
            raise HTTPConnectionLost("connection closed")
        data = sock.recv(65536)
        if not data:
            self._conn.close()
            raise HTTPConnectionLost("connection closed by the server mid-response")
        return data

    def read_head(self) -> None:
        buf = b""
        while True:
            buf += self._recv()
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
        lines = buf[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
        self.status = int(parts[1])
        headers = self.headers
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            self._decoder = ChunkedDecoder()
        elif "content-length" in headers:
            self._remaining = int(headers["content-length"])
        self._take(buf[end + 4:])

    def _take(self, data: bytes) -> None:
        if self._decoder is not None:
            body = self._decoder.feed(data)
            self.complete = self._decoder.complete
        elif self._remaining is not None:
            body = data[: self._remaining]
            self._remaining -= len(body)
            self.complete = self._remaining == 0
        else:
            body = data
        if not body:
            return
        # Every complete line at once: the lines of one read arrived together.
        if b"\n" in body:
            pieces = (self._partial + body).split(b"\n")
            self._partial = pieces.pop()
            if self._next >= len(self._lines):
                self._lines, self._next = pieces, 0
            else:
                self._lines.extend(pieces)
        else:
            self._partial += body

    def readline(self) -> bytes:
        """The next body line (with its ``\\n``); the unterminated rest at the end; b"" when done."""
        while True:
            if self._next < len(self._lines):
                line = self._lines[self._next]
                self._next += 1
                return line + b"\n"
            if self.complete:
                line, self._partial = self._partial, b""
                return line
            try:
                self._take(self._recv())
            except HTTPConnectionLost:
                if self._decoder is None and self._remaining is None:  # body delimited by close
                    self.complete = True
                    continue
                raise

    def read(self) -> bytes:
        while not self.complete:
            try:
                self._take(self._recv())
            except HTTPConnectionLost:
                if self._decoder is None and self._remaining is None:
                    self.complete = True
                    break
                raise
        rest = b"".join(line + b"\n" for line in self._lines[self._next:]) + self._partial
        self._lines, self._next, self._partial = [], 0, b""
        return rest

    def release(self) -> None:
        """Keep the connection for the next request only if this response was read to its end."""
        if not self.complete or self.headers.get("connection", "").lower() == "close":
            self._conn.close()


class RawConnection:
    """One keep-alive connection (one per user); reconnects when the server closed it."""

    def __init__(self, host: str, port: int, *, connect_timeout: float, read_timeout: float | None) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.sock: socket.socket | None = None
        # Whether this server was seen closing a keep-alive connection without saying so; only then
        # is each reuse checked first (a system call per request spared with every other server).
        self.server_closes = False

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.read_timeout)
        self.sock = sock
        return sock

    def _closed_by_server(self) -> bool:
        """Whether the idle pooled socket already has the server's close (EOF) waiting.

        llama-server closes the connection after every streamed answer without saying so
        (no ``Connection: close``): checked here, a fresh connection is made up front instead
        of sending into a dead one and retrying after the failure."""
        assert self.sock is not None
        # The OS's select, never gevent's: with a zero timeout gevent's version still yields to
        # the hub, a whole scheduling round between stamping the send and sending (0.5 ms of TTFT).
        readable, _, _ = _select([self.sock], [], [], 0)
        return bool(readable)

    def request(self, data: bytes) -> RawResponse:
        """Send one complete request (head + body) and read the response head."""
        if self.sock is not None and self.server_closes and self._closed_by_server():
            self.close()
        reused = self.sock is not None
        sock = self.sock or self._connect()
        try:
            sock.sendall(data)
            response = RawResponse(self)
            response.read_head()
            return response
        except (HTTPConnectionLost, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        # The server had closed the idle keep-alive connection: once more on a fresh one, and from
        # now on each reuse is checked before the send (llama-server closes after every stream).
        self.server_closes = True
        self.close()
        sock = self._connect()
        sock.sendall(data)
        response = RawResponse(self)
        response.read_head()
        return response

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
