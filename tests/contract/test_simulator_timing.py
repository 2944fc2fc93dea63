"""The latency model as a client sees it, against the truth the simulator reports. Loose bounds
only (the machine is shared): measured >= scheduled, and not absurdly later; exact counts."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import httpx
import pytest

from contracts.simulators.client import chat_request

pytestmark = [pytest.mark.contract, pytest.mark.slow]


def _timed_stream(url: str, body: Any) -> tuple[httpx.Headers, float, list[tuple[float, Any]]]:
    """(headers, seconds to headers, [(seconds, chunk)] for each data event) from the request start."""
    events: list[tuple[float, Any]] = []
    buffer = ""
    with httpx.Client(timeout=30) as client:
        started = time.perf_counter()
        with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
            headers_at = time.perf_counter() - started
            for text in response.iter_text():
                buffer += text
                while "\n\n" in buffer:
                    event, buffer = buffer.split("\n\n", 1)
                    payload = event.removeprefix("data: ")
                    events.append((time.perf_counter() - started, payload if payload == "[DONE]" else json.loads(payload)))
        return response.headers, headers_at, events


def test_ttft_gaps_and_tokens_per_chunk_match_the_reported_truth(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], ttft_ms=150.0, prefill_ms_per_token=10.0, tpot_ms=20.0,
                            tokens_per_chunk=3, output_tokens=9, jitter_ms=5.0, seed=5)
    headers, headers_at, events = _timed_stream(sim.url, chat_request("m", "one two three four five", stream=True))
    truth = sim.stats()["recent"][-1]
    # TTFT = 150 + 10 * 5 prompt tokens; 3 chunks of 3 tokens; 2 gaps of 3 * 20 ms +- 5 ms.
    assert (truth["prompt_tokens"], truth["prefill_ms"], truth["chunks"]) == (5, 200.0, 3)
    assert len(truth["chunk_gaps_ms"]) == 2 and all(55 <= g <= 65 for g in truth["chunk_gaps_ms"])
    assert float(headers["x-sim-ttft-ms"]) == truth["ttft_ms"]
    assert headers["x-sim-tokens-per-chunk"] == "3" and headers["x-sim-chunk-gap-ms"] == "60.000"
    role, *content, done = events
    assert role[1]["choices"][0]["delta"] == {"role": "assistant", "content": ""} and done[1] == "[DONE]"
    assert [len(c[1]["choices"][0]["delta"]["content"].split()) for c in content] == [3, 3, 3]
    assert role[0] < 0.15  # the role-only chunk comes with the headers, long before the first token
    # Each chunk arrives at (or, on a busy machine, somewhat after) its absolute scheduled time.
    due = truth["ttft_ms"]
    for index, (arrived, _) in enumerate(content):
        if index:
            due += truth["chunk_gaps_ms"][index - 1]
        assert due - 1 <= arrived * 1000 <= due + 150
    assert headers_at <= content[0][0]


def test_slots_queue_requests_fifo_and_report_the_queue_time(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["m"], ttft_ms=500.0, tpot_ms=0.0, output_tokens=1, slots=1)
    header_queue_ms: list[float] = []

    def one(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            response = client.post(sim.url + "/v1/chat/completions", json=chat_request("m", f"request {index}"))
        header_queue_ms.append(float(response.headers["x-sim-queue-ms"]))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stats = sim.stats()
    assert (stats["max_running"], stats["completed"]) == (1, 3)
    records = sorted(stats["recent"], key=lambda r: r["arrival_unix"])
    assert sorted(r["queue_ms"] for r in records) == sorted(header_queue_ms)
    # One slot, FIFO: each request starts when the one that arrived before it is done (500 ms later).
    starts = [r["arrival_unix"] * 1000 + r["queue_ms"] for r in records]
    assert records[0]["queue_ms"] < 5
    assert all(495 <= later - earlier <= 700 for earlier, later in itertools.pairwise(starts))


def test_in_flight_and_queue_are_visible_while_saturated(simulator_factory: Any) -> None:
    sim = simulator_factory("llama_cpp", models=["m.gguf"], ttft_ms=800.0, tpot_ms=0.0, output_tokens=1, slots=2)
    threads = [threading.Thread(target=lambda: httpx.post(sim.url + "/v1/chat/completions",
                                                          json=chat_request("m.gguf"), timeout=30))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    stats = sim.stats()
    while stats["in_flight"] < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
        stats = sim.stats()
    metrics = httpx.get(sim.url + "/metrics").text.splitlines()
    for thread in threads:
        thread.join(30)
    assert (stats["in_flight"], stats["running"], stats["queued"]) == (5, 2, 3)
    assert "llamacpp:requests_processing 2.0" in metrics and "llamacpp:requests_deferred 3.0" in metrics
