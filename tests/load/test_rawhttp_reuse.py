"""The raw client and a server that closes after an answer without saying so (llama-server does,
after every streamed answer): once the client has seen it, the next request goes out on a fresh
connection at once, never into the dead one (a server that keeps its connections costs no check)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from loadtests.rawhttp import RawConnection

pytestmark = [pytest.mark.load]

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nkeep-alive: timeout=5, max=100\r\ncontent-length: 2\r\n\r\nok"


class SilentClosingServer:
    """Answers each request, then closes the connection (no ``connection: close``); counts what it saw."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    self.requests += 1
                    conn.sendall(ANSWER)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server() -> Iterator[SilentClosingServer]:
    running = SilentClosingServer()
    try:
        yield running
    finally:
        running.close()


class CountingSocket(socket.socket):
    """A socket that counts the requests written into it."""

    sends = 0

    def sendall(self, data: bytes, flags: int = 0) -> None:  # type: ignore[override]
        self.sends += 1
        super().sendall(data, flags)


def test_a_connection_the_server_closed_is_not_reused(server: SilentClosingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[CountingSocket] = []

    def connect(address: tuple[str, int], timeout: float) -> CountingSocket:
        sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        made.append(sock)
        return sock

    monkeypatch.setattr("loadtests.rawhttp.socket.create_connection", connect)
    client = RawConnection("127.0.0.1", server.port, connect_timeout=5, read_timeout=5)
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    try:
        for _ in range(3):
            response = client.request(request)
            assert (response.status, response.read()) == (200, b"ok")
            response.release()  # complete and not "connection: close": kept for the next request
            deadline = time.monotonic() + 2
            while server.requests < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)  # the server's close has reached us
    finally:
        client.close()
    # One connection per request. Only once was a request sent into a closed connection (which the
    # server does not see, and which costs the client a failed attempt and a retry): the time the
    # client learnt that this server closes; after that each reuse is checked before the send.
    assert (server.connections, server.requests) == (3, 3)
    assert [sock.sends for sock in made] == [2, 1, 1]
    assert client.server_closes
