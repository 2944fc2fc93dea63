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
    """Incremental decoder of ``Transfer-Encoding: chunked``: feed raw bytes, get body bytes."""

    def __init__(self) -> None:
        self._raw = bytearray()
        self._left = 0  # bytes left in the current chunk
        self._crlf = False  # a chunk's trailing CRLF is still to be consumed
        self.complete = False

    def feed(self, data: bytes) -> bytes:
        self._raw += data
        out = bytearray()
        raw = self._raw
        while raw and not self.complete:
            if self._crlf:
                if len(raw) < 2:
                    break
                if raw[:2] != b"\r\n":
                    raise ValueError("chunked encoding: missing CRLF after a chunk")
                del raw[:2]
                self._crlf = False
            elif self._left:
                take = min(self._left, len(raw))
                out += raw[:take]
                del raw[:take]
                self._left -= take
                self._crlf = self._left == 0
            else:
                end = raw.find(b"\r\n")
                if end < 0:
                    break
                size = int(bytes(raw[:end]).split(b";", 1)[0], 16)
                del raw[: end + 2]
                if size == 0:
                    # trailers are not used by LLM servers: the final CRLF ends the message
                    self.complete = True
                    break
                self._left = size
        return bytes(out)


class RawResponse:
    def __init__(self, conn: RawConnection) -> None:
        self._conn = conn
        self.status = 0
        self.headers: dict[str, str] = {}
        self._body = bytearray()
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
        buf = bytearray()
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            buf += self._recv()
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
        self.status = int(parts[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        rest = bytes(buf[end + 4:])
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            self._decoder = ChunkedDecoder()
        elif "content-length" in self.headers:
            self._remaining = int(self.headers["content-length"])
        self._take(rest)

    def _take(self, data: bytes) -> None:
        if self._decoder is not None:
            self._body += self._decoder.feed(data)
            self.complete = self._decoder.complete
        elif self._remaining is not None:
            self._body += data[: self._remaining]
            self._remaining -= min(len(data), self._remaining)
            self.complete = self._remaining == 0
        else:
            self._body += data

    def readline(self) -> bytes:
        """The next body line (with its ``\\n``); the unterminated rest at the end; b"" when done."""
        while True:
            end = self._body.find(b"\n")
            if end >= 0:
                line = bytes(self._body[: end + 1])
                del self._body[: end + 1]
                return line
            if self.complete:
                line = bytes(self._body)
                self._body.clear()
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
        data = bytes(self._body)
        self._body.clear()
        return data

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
        if self.sock is not None and self._closed_by_server():
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
        # The server had closed the idle keep-alive connection: once more on a fresh one.
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
