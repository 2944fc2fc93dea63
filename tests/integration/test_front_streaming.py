"""The HAProxy front passes a streamed answer's first chunk on at once.

HAProxy's default (send with MSG_MORE) made the kernel hold each streamed answer's first small
chunk for about 200 ms; the front's config turns that off (``option http-no-delay``,
aibackend/gateway/front.py). An upstream here sends one SSE chunk, then waits: the chunk must come
through the real HAProxy, with the config the gateway writes, about as fast as it comes directly.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aibackend.gateway.front import haproxy_available, render_haproxy_config
from generator.net import free_port, port_is_open

pytestmark = [pytest.mark.integration]

CHUNK = b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n'


def _answer(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the client leaves mid-answer once it has its first chunk
        _serve(conn)


def _serve(conn: socket.socket) -> None:
    with conn, conn.makefile("rb") as reader:
        while True:
            request_line = reader.readline()
            if not request_line:
                return
            length = 0
            while (header := reader.readline()) not in (b"\r\n", b""):
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            reader.read(length)
            if request_line.split()[1] == b"/health/liveliness":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            time.sleep(1.0)  # the next token is far away: nothing else may push the first one out
            conn.sendall(b"0\r\n\r\n")


@pytest.fixture
def upstream() -> Iterator[int]:
    """A streaming server: one SSE chunk at once, the end a second later (TCP_NODELAY, backlog set)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _first_chunk_s(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        begin = time.perf_counter()
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
        received = b""
        while b"data:" not in received:
            data = conn.recv(65536)
            assert data, f"the connection closed before the first chunk: {received!r}"
            received += data
        return time.perf_counter() - begin


def test_the_first_streamed_chunk_is_not_held_by_the_front(upstream: int, tmp_path: Path) -> None:
    binary = haproxy_available()
    assert binary, "haproxy is not installed: run the set-up (make setup)"
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_haproxy_config(host="127.0.0.1", port=port, socket_path=tmp_path / "admin.sock",
                                            servers=[("blue-0", upstream)]))
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not port_is_open("127.0.0.1", port):
            assert time.monotonic() < deadline and process.poll() is None, "HAProxy did not listen"
            time.sleep(0.05)
        direct = statistics.median(_first_chunk_s(upstream) for _ in range(5))
        through = statistics.median(_first_chunk_s(port) for _ in range(5))
    finally:
        process.terminate()
        process.wait(10)
    # Held, the chunk arrives ~200 ms late; passed on, within a few ms (a loaded machine: 100 ms).
    assert through - direct < 0.1, f"first chunk: {direct * 1000:.1f} ms direct, {through * 1000:.1f} ms via HAProxy"
