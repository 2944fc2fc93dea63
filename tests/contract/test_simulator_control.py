"""The control surface: counters per endpoint and model, reset, run-time changes and their errors,
and the threaded variant of the handle."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from contracts.simulators.client import chat_request

pytestmark = [pytest.mark.contract]

FAST = dict(ttft_ms=0.0, tpot_ms=0.0, output_tokens=2)


def test_counters_per_endpoint_model_and_status(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", models=["a", "b"], **FAST)
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        client.get("/v1/models")
        client.post("/v1/chat/completions", json=chat_request("a"))
        client.post("/v1/chat/completions", json=chat_request("b", stream=True))
        client.post("/v1/chat/completions", json=chat_request("b"))
        client.post("/v1/completions", json={"model": "a", "prompt": "x"})
        client.post("/v1/chat/completions", json=chat_request("zzz"))
        client.get("/health")
    stats = sim.stats()
    assert stats["requests"] == {"GET /health": 1, "GET /v1/models": 1, "POST /v1/chat/completions": 4,
                                 "POST /v1/completions": 1}
    assert stats["requests_total"] == 7
    assert stats["models_requested"] == {"a": 2, "b": 2}  # the unknown model never reached a model
    assert stats["status"] == {"200": 6, "404": 1}
    assert (stats["completed"], stats["in_flight"], stats["running"], stats["queued"]) == (4, 0, 0, 0)
    assert [(r["path"], r["model"], r["stream"], r["completion_tokens"]) for r in stats["recent"]] == [
        ("/v1/chat/completions", "a", False, 2), ("/v1/chat/completions", "b", True, 2),
        ("/v1/chat/completions", "b", False, 2), ("/v1/completions", "a", False, 2)]
    sim.reset()
    after = sim.stats()
    assert (after["requests"], after["models_requested"], after["recent"], after["completed"]) == ({}, {}, [], 0)


def test_control_changes_the_running_config_and_rejects_bad_fields(simulator_factory: Any) -> None:
    sim = simulator_factory("openai", models=["m"], **FAST)
    assert sim.control(output_tokens=5, tokens_per_chunk=2)["config"]["output_tokens"] == 5
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        body = client.post("/v1/chat/completions", json=chat_request("m")).json()
        assert body["usage"]["completion_tokens"] == 5
        bad = client.post("/_sim/control", json={"slots": 0})
        unknown = client.post("/_sim/control", json={"type": "vllm"})
        not_json = client.post("/_sim/control", content=b"[1]")
        violation = client.post("/_sim/control", json={"violations": ["ndjson-done"]})
        current = client.get("/_sim/control").json()["config"]
        wrong_path = client.get("/_sim/nothing")
    assert (bad.status_code, bad.json()) == (400, {"error": "slots: must be an integer >= 1 (got 0)"})
    assert unknown.status_code == 400 and unknown.json()["error"].startswith(
        "unknown or read-only field(s): type; changeable: seed, ttft_ms,")
    assert (not_json.status_code, not_json.json()) == (400, {
        "error": "the control body must be a JSON object of config fields"})
    assert violation.status_code == 400 and violation.json()["error"].startswith(
        "violations: 'ndjson-done' is not a violation mode of the openai simulator; available: chat-schema, ")
    assert (current["output_tokens"], current["tokens_per_chunk"], current["slots"]) == (5, 2, 64)
    assert wrong_path.status_code == 404
    assert sim.stats()["requests"] == {"POST /v1/chat/completions": 1}  # control traffic is not counted


def test_in_thread_simulator_has_the_same_handle(simulator_factory: Any) -> None:
    sim = simulator_factory("llama_cpp", models=["m.gguf"], in_thread=True, **FAST)
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        assert client.get("/health").json() == {"status": "ok"}
        sim.control(violations=["health"])
        assert client.get("/health").json() == {"status": "healthy"}
    sim.refuse_connections()
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.url + "/health")
    sim.accept_connections()
    assert httpx.get(sim.url + "/health").status_code == 200
    assert sim.stats()["requests"] == {"GET /health": 3}


def test_session_factory_reuses_one_simulator_per_configuration(session_simulator_factory: Any) -> None:
    first = session_simulator_factory("ollama", models=["reuse"], **FAST)
    again = session_simulator_factory("ollama", models=["reuse"], **FAST)
    other = session_simulator_factory("ollama", models=["reuse"], seed=9, **FAST)
    assert first is again and other is not first and other.port != first.port
    assert json.loads(httpx.get(first.url + "/api/tags").text)["models"][0]["name"] == "reuse:latest"
