"""Faults, observed from a client: errors, hangs, slow headers, stalls, disconnects, malformed chunks,
loading phases, refused and reset connections — from flags and switched on mid-run."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import httpx
import pytest

from contracts.simulators import RunningSimulator
from contracts.simulators.client import chat_request, sse_payloads

pytestmark = [pytest.mark.contract, pytest.mark.slow]

FAST = dict(ttft_ms=0.0, tpot_ms=0.0, output_tokens=3)


def _chat(sim: RunningSimulator, timeout: float = 10, **fields: Any) -> httpx.Response:
    with httpx.Client(base_url=sim.url, timeout=timeout) as client:
        return client.post("/v1/chat/completions", json=chat_request(sim.models[0], **fields))


def test_error_rate_one_answers_the_chosen_status_with_the_types_body(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], error_rate=1.0, error_status=503, **FAST)
    responses = [_chat(sim) for _ in range(3)]
    assert [(r.status_code, r.json()) for r in responses] == [(503, {"error": {
        "message": "Service Unavailable (simulated)", "type": "ServiceUnavailableError", "param": None,
        "code": 503}})] * 3
    with httpx.Client(base_url=sim.url) as client:
        assert client.get("/v1/models").status_code == 200  # only inference endpoints fail
    stats = sim.stats()
    assert (stats["faults"]["error"], stats["status"], stats["completed"]) == (3, {"200": 1, "503": 3}, 0)


def test_error_rate_is_a_seeded_draw_and_the_body_can_be_chosen(simulator_factory: Any) -> None:
    sim = simulator_factory("ollama", models=["m"], error_rate=0.5, error_status=429, seed=3,
                            error_body='{"error":"slow down"}', **FAST)
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        responses = [client.post("/api/chat", json=chat_request("m", stream=False)) for _ in range(40)]
    statuses = [r.status_code for r in responses]
    assert 5 < statuses.count(429) < 35 and statuses.count(200) == 40 - statuses.count(429)
    assert {r.text for r in responses if r.status_code == 429} == {'{"error":"slow down"}'}
    assert sim.stats()["faults"]["error"] == statuses.count(429)


def test_hang_before_headers_then_the_connection_closes_without_an_answer(simulator_factory: Any) -> None:
    sim = simulator_factory("openai", models=["m"], hang_before_headers_s=0.6, **FAST)
    with pytest.raises(httpx.ReadTimeout):
        _chat(sim, timeout=0.2)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        _chat(sim, timeout=5)
    assert sim.stats()["faults"]["hang"] == 2


def test_slow_headers_delay_the_answer_which_then_arrives_whole(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], slow_headers_ms=400, **FAST)
    started = time.monotonic()
    response = _chat(sim)
    assert time.monotonic() - started >= 0.38
    assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] == 3
    assert sim.stats()["faults"]["slow_headers"] == 1


def _stream_times(sim: RunningSimulator, **fields: Any) -> tuple[list[tuple[float, str]], Exception | None]:
    """(arrival time, data payload) of each SSE event, and the error that ended the stream early if any."""
    events: list[tuple[float, str]] = []
    buffer = ""
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        try:
            with client.stream("POST", "/v1/chat/completions",
                               json=chat_request(sim.models[0], stream=True, **fields)) as response:
                for text in response.iter_text():
                    buffer += text
                    while "\n\n" in buffer:
                        event, buffer = buffer.split("\n\n", 1)
                        events.append((time.monotonic(), event.removeprefix("data: ")))
        except httpx.HTTPError as exc:
            return events, exc
    return events, None


def test_stall_pauses_the_stream_which_then_completes(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], ttft_ms=0.0, tpot_ms=5.0, output_tokens=4,
                            stall_after_chunks=2, stall_s=0.5)
    events, error = _stream_times(sim)
    assert error is None
    payloads = [p for _, p in events]
    assert payloads[-1] == "[DONE]" and len(payloads) == 1 + 4 + 1  # role, 4 tokens, done (usage not asked)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(events[1:5])]
    assert gaps[1] >= 0.45  # after the 2nd content chunk
    assert gaps[0] < 0.45 and gaps[2] < 0.45
    assert sim.stats()["faults"]["stall"] == 1


def test_disconnect_mid_stream(simulator_factory: Any) -> None:
    sim = simulator_factory("openai", models=["m"], disconnect_after_chunks=2, **FAST)
    events, error = _stream_times(sim)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert json.loads(events[0][1])["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert len(events) == 3  # role chunk + 2 content chunks, then the connection closes
    recent = sim.stats()["recent"][-1]
    assert (recent["fault"], recent["completed"]) == ("disconnect", False)


def test_malformed_chunk_replaces_exactly_that_chunk(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], malformed_chunk=2, **FAST)
    response = _chat(sim, stream=True)
    payloads = sse_payloads(response.text)
    parsed = []
    for payload in payloads[:-1]:
        try:
            parsed.append(json.loads(payload)["choices"][0]["delta"])
        except json.JSONDecodeError:
            parsed.append("<broken>")
    assert len(parsed) == 4 and parsed[2] == "<broken>" and payloads[-1] == "[DONE]"
    assert parsed[0] == {"role": "assistant", "content": ""}


@pytest.mark.parametrize(
    ("provider_type", "path", "status", "body"),
    [
        ("llama_cpp", "/health", 503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}),
        ("llama_cpp", "/v1/chat/completions", 503,
         {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}),
        ("openai", "/v1/chat/completions", 503, {"error": {
            "message": "The server is loading the model; retry shortly.", "type": "server_error", "param": None,
            "code": None}}),
    ],
)
def test_loading_phase_answers_503_then_serves(simulator_factory: Any, provider_type: str, path: str, status: int,
                                               body: Any) -> None:
    sim = simulator_factory(provider_type, models=["m"], loading_s=1.5, **FAST)
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        method = client.get if path == "/health" else lambda p: client.post(p, json=chat_request("m"))
        response = method(path)
        assert (response.status_code, response.json()) == (status, body)
        assert sim.stats()["loading"] is True
        sim.wait_ready(10)
        assert method(path).status_code == 200


@pytest.mark.parametrize("provider_type", ["vllm", "llama_cpp_python"])
def test_loading_phase_of_uvicorn_servers_is_a_closed_port(simulator_factory: Any, provider_type: str) -> None:
    sim = simulator_factory(provider_type, models=["m"], loading_s=1.5, **FAST)
    with pytest.raises(httpx.ConnectError):
        _chat(sim)
    sim.wait_ready(10)
    assert _chat(sim).status_code == 200


def test_ollama_loading_phase_answers_health_and_delays_requests(simulator_factory: Any) -> None:
    sim = simulator_factory("ollama", models=["m"], loading_s=1.0, **FAST)
    started = time.monotonic()
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        assert client.get("/").text == "Ollama is running"
        response = client.post("/api/chat", json=chat_request("m", stream=False))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.5  # waited for the model, as Ollama does


def test_refuse_and_accept_connections_at_run_time(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], **FAST)
    with httpx.Client(base_url=sim.url, timeout=5) as pooled:
        assert pooled.get("/health").status_code == 200  # a kept-alive connection...
        sim.refuse_connections()
        with pytest.raises(httpx.ConnectError):
            _chat(sim)
        with pytest.raises(httpx.TransportError):  # ...is closed too: pooled clients must reconnect
            pooled.get("/health")
        sim.accept_connections()
        assert pooled.get("/health").status_code == 200
    assert _chat(sim).status_code == 200


def test_refuse_for_a_while_through_the_control_endpoint(simulator_factory: Any) -> None:
    sim = simulator_factory("openai", models=["m"], **FAST)
    sim.control(refuse_for_s=1.0)
    time.sleep(0.1)
    with pytest.raises(httpx.ConnectError):
        _chat(sim)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert _chat(sim).status_code == 200
            break
        except httpx.ConnectError:
            time.sleep(0.05)
    else:
        pytest.fail("still refusing after 5 s")


def test_started_refusing_then_accepting(simulator_factory: Any) -> None:
    sim = simulator_factory("ollama", models=["m"], refuse_connections=True, **FAST)
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.url + "/")
    sim.accept_connections()
    assert httpx.get(sim.url + "/").text == "Ollama is running"


def test_reset_connections_and_back(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], **FAST)
    sim.control(reset_connections=True)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        _chat(sim)
    sim.control(reset_connections=False)
    assert _chat(sim).status_code == 200
    assert sim.stats()["faults"]["reset"] >= 1


def _wait_in_flight(sim: RunningSimulator) -> None:
    deadline = time.monotonic() + 10
    while sim.stats()["in_flight"] < 1:
        assert time.monotonic() < deadline, "the stream never reached the simulator"
        time.sleep(0.02)


def test_a_running_stream_is_broken_mid_run_through_the_control_endpoint(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], ttft_ms=0.0, tpot_ms=50.0, output_tokens=40)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(zip(("events", "error"), _stream_times(sim),
                                                               strict=True)))
    thread.start()
    _wait_in_flight(sim)
    sim.control(disconnect_after_chunks=15)  # the stream is running: 40 chunks take 2 s
    thread.join(10)
    assert isinstance(result["error"], httpx.RemoteProtocolError)
    assert len(result["events"]) == 1 + 15
    sim.control(disconnect_after_chunks=None)
    assert _chat(sim).status_code == 200


def test_kill_is_a_crash_seen_by_the_client(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], ttft_ms=0.0, tpot_ms=50.0, output_tokens=40)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(zip(("events", "error"), _stream_times(sim),
                                                               strict=True)))
    thread.start()
    _wait_in_flight(sim)
    sim.kill()
    thread.join(10)
    assert isinstance(result["error"], httpx.RemoteProtocolError)
    assert not sim.alive
    with pytest.raises(httpx.ConnectError):
        _chat(sim)
