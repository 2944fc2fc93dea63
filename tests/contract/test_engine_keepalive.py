"""Connection reuse, real engine vs simulator: which answers leave the keep-alive connection open.

Found through the gateway: llama-server closes the connection right after every STREAMED answer
while announcing ``Keep-Alive: timeout=5, max=100`` and no ``Connection: close``. A pooling
client (LiteLLM's aiohttp) sometimes sends the next request on that dying connection and the
gateway answers 500 "Connection error" (docs/llama-cpp.md). The simulator must do the same, so
that the gateway tests meet it in CI; the generator counters it (generator/providers/llama_cpp.py).
"""

from __future__ import annotations

import http.client
import json
import select
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.xdist_group("engine-keepalive")]

ALIAS = "tiny-llama"
USER = [{"role": "user", "content": "Say hello."}]
STEPS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "chat": ("POST", "/v1/chat/completions", {"model": ALIAS, "messages": USER, "max_tokens": 4}),
    "chat-stream": ("POST", "/v1/chat/completions", {"model": ALIAS, "messages": USER, "max_tokens": 4, "stream": True}),
    "completion": ("POST", "/v1/completions", {"model": ALIAS, "prompt": "Say hello.", "max_tokens": 4}),
    "completion-stream": ("POST", "/v1/completions", {"model": ALIAS, "prompt": "Hi", "max_tokens": 4, "stream": True}),
    "models": ("GET", "/v1/models", None),
}
# What the real servers do (seen with llama.cpp as vendored by llama-cpp-python 0.3.36).
EXPECTED: dict[EngineKind, dict[str, tuple[str | None, str]]] = {
    "llama_cpp": {
        "chat": ("timeout=5, max=100", "open"),
        "chat-stream": ("timeout=5, max=100", "closed by the server"),
        "completion": ("timeout=5, max=100", "open"),
        "completion-stream": ("timeout=5, max=100", "closed by the server"),
        "models": ("timeout=5, max=100", "open"),
    },
    "llama_cpp_python": {step: (None, "open") for step in STEPS},
}


def connection_behaviour(base_url: str) -> dict[str, tuple[str | None, str]]:
    """Per step: the Keep-Alive header, and whether the server closed the connection after
    answering (an EOF readable within 300 ms of the complete answer)."""
    parts = urlsplit(base_url)
    seen: dict[str, tuple[str | None, str]] = {}
    for step, (method, path, body) in STEPS.items():
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        try:
            payload = json.dumps(body) if body is not None else None
            conn.request(method, path, payload, {"Content-Type": "application/json"} if payload else {})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, (step, response.status)
            announced_close = (response.getheader("Connection") or "").lower() == "close"
            assert not announced_close, f"{step}: the server announced the close; a client would not reuse it"
            sock = conn.sock
            assert sock is not None
            deadline = time.monotonic() + 0.3
            state = "open"
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
                if readable:
                    state = "closed by the server" if sock.recv(1) == b"" else "unexpected bytes"
                    break
            seen[step] = (response.getheader("Keep-Alive"), state)
        finally:
            conn.close()
    return seen


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_the_real_engine_closes_exactly_as_recorded(request: pytest.FixtureRequest, kind: EngineKind) -> None:
    engine: EngineServer = request.getfixturevalue(f"{kind}_engine")
    assert connection_behaviour(engine.base_url) == EXPECTED[kind]


@pytest.mark.parametrize("kind", ENGINE_KINDS)
def test_the_simulator_closes_like_the_real_engine(simulator_factory: Any, kind: EngineKind) -> None:
    sim = simulator_factory(kind, models=[ALIAS], ttft_ms=1, tpot_ms=1)
    assert connection_behaviour(sim.url) == EXPECTED[kind]
