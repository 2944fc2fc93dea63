"""Fallback chains, retries and timeouts through the real proxy, with faults injected at runtime.

Sources: ``primary`` -> chain [``second``, ``third``], each alias on its own vLLM simulator, and
``solo`` (no chain). ``num_retries: 1`` (so every failing group is tried twice, counted at the
simulator), ``timeout``/``stream_timeout`` 3 s, ``allowed_fails`` high so that no deployment is
cooled down here (circuit breaking has its own module).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contracts.simulators import RunningSimulator
from tests.integration.helpers import (
    aliases_onto,
    api_base_of,
    model_counts,
    started_simulators,
    vllm_providers,
)
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    # The first test also pays for the module's gateway start (6 s idle, minutes on a loaded host).
    pytest.mark.timeout(600),
    pytest.mark.xdist_group("resilience"),
]

TIMEOUT_S = 3
NAMES = ("primary", "second", "third", "solo")
HEALTHY: dict[str, Any] = {
    "error_rate": 0.0,
    "hang_before_headers_s": 0.0,
    "stall_after_chunks": None,
    "stall_s": 0.0,
    "disconnect_after_chunks": None,
}


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators({name: ("vllm", [f"m-{name}"]) for name in NAMES}, output_tokens=8) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator],
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    config_dir = write_sources(
        tmp_path_factory.mktemp("resilience") / "config",
        providers=vllm_providers(sims),
        mappings={
            "exact_matches": aliases_onto(NAMES),
            "fallback_chains": {"primary": {"chain": ["second", "third"]}},
        },
        gateway={
            "reliability": {
                "num_retries": 1,
                "allowed_fails": 1000,
                "cooldown_time": 1,
                "timeout": TIMEOUT_S,
                "stream_timeout": TIMEOUT_S,
                "request_timeout": 60,
            }
        },
    )
    return module_gateway_factory(config_dir)


@pytest.fixture(autouse=True)
def _healthy(sims: dict[str, RunningSimulator]) -> Iterator[None]:
    for sim in sims.values():
        sim.control(**HEALTHY)
        sim.reset()
    yield
    for sim in sims.values():
        sim.accept_connections()
        sim.control(**HEALTHY)


def _counts(sims: dict[str, RunningSimulator]) -> dict[str, int]:
    return {name: model_counts(sim).get(f"m-{name}", 0) for name, sim in sims.items()}


def test_healthy_primary_answers_alone(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    response = gateway.chat("primary")
    assert response.status_code == 200
    assert gateway.api_base(response) == api_base_of(sims["primary"])
    assert _counts(sims) == {"primary": 1, "second": 0, "third": 0, "solo": 0}


def test_primary_500_is_retried_then_the_next_in_chain_answers(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    sims["primary"].control(error_rate=1.0, error_status=500)
    response = gateway.chat("primary")
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == api_base_of(sims["second"])
    assert _counts(sims) == {"primary": 2, "second": 1, "third": 0, "solo": 0}


def test_chain_is_walked_in_order(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    sims["primary"].control(error_rate=1.0, error_status=500)
    sims["second"].control(error_rate=1.0, error_status=503)
    response = gateway.chat("primary")
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == api_base_of(sims["third"])
    # second was tried (twice) before third answered: the chain's order, not a random pick.
    assert _counts(sims) == {"primary": 2, "second": 2, "third": 1, "solo": 0}


def test_primary_timing_out_falls_back_after_timeout(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    sims["primary"].control(hang_before_headers_s=60)
    started = time.monotonic()
    response = gateway.chat("primary", timeout=45)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == api_base_of(sims["second"])
    assert _counts(sims) == {"primary": 2, "second": 1, "third": 0, "solo": 0}
    # Both attempts on the hung primary were cut at `timeout`, not earlier.
    assert elapsed >= 2 * TIMEOUT_S * 0.9


def test_primary_refusing_connections_falls_back(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    sims["primary"].refuse_connections()
    response = gateway.chat("primary")
    sims["primary"].accept_connections()  # its stats endpoint is unreachable while it refuses
    assert response.status_code == 200, response.text
    assert gateway.api_base(response) == api_base_of(sims["second"])
    assert _counts(sims) == {"primary": 0, "second": 1, "third": 0, "solo": 0}


def _stream(gateway: RunningGateway, model: str) -> tuple[int, list[dict[str, Any]], str, dict[str, str]]:
    """Status, the decoded SSE data events, the raw tail, and the response headers."""
    body = {"model": model, "messages": [{"role": "user", "content": "stream please"}], "stream": True}
    events: list[dict[str, Any]] = []
    raw = ""
    with gateway.client.stream("POST", "/v1/chat/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            raw += line + "\n"
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[len("data: ") :]))
        return response.status_code, events, raw[-400:], dict(response.headers)


def _text(events: list[dict[str, Any]]) -> str:
    return "".join(
        (choice.get("delta") or {}).get("content") or "" for event in events for choice in event.get("choices", [])
    )


def test_primary_dying_before_its_first_token_is_replaced_by_the_next_in_chain(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    # Headers and the role-only chunk sent, then the connection drops: nothing has reached the
    # client yet, so LiteLLM's mid-stream fallback starts the next deployment of the chain.
    sims["primary"].control(disconnect_after_chunks=0)
    status, events, raw, _ = _stream(gateway, "primary")
    assert status == 200
    assert raw.rstrip().endswith("data: [DONE]"), raw
    assert not any("error" in event for event in events), raw
    assert _text(events), "no content reached the client"
    assert _counts(sims) == {"primary": 1, "second": 1, "third": 0, "solo": 0}


def test_primary_dying_after_streaming_content_ends_the_stream_with_an_error(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    # Two content chunks reach the client (the stall lets the gateway pass them on first), then
    # the connection drops. LiteLLM 1.106.2 does NOT fall back once content was sent (router.py,
    # stream_with_fallbacks: generated content -> re-raise): the client keeps what it got and the
    # stream ends with an error event, never [DONE] — a truncated answer is never passed off as whole.
    sims["primary"].control(stall_after_chunks=2, stall_s=0.3, disconnect_after_chunks=2)
    status, events, raw, _ = _stream(gateway, "primary")
    assert status == 200
    content = [event for event in events if "error" not in event and _text([event])]
    errors = [event["error"] for event in events if "error" in event]
    assert len(content) == 2, raw
    assert [(e["code"], e["message"].split(" - ")[0]) for e in errors] == [
        ("500", "litellm.APIConnectionError: APIConnectionError: Hosted_vllmException")
    ], raw
    assert "Response payload is not completed" in errors[0]["message"]
    assert "data: [DONE]" not in raw
    assert _counts(sims) == {"primary": 1, "second": 0, "third": 0, "solo": 0}


def test_exhausted_chain_is_a_clear_error_not_a_hang(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    for name in ("primary", "second", "third"):
        sims[name].control(error_rate=1.0, error_status=500)
    response = gateway.chat("primary")
    assert response.status_code == 500
    error = response.json()["error"]
    assert "InternalServerError" in error["message"]
    assert _counts(sims) == {"primary": 2, "second": 2, "third": 2, "solo": 0}


def test_retries_are_counted_at_the_simulator(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    sims["solo"].control(error_rate=1.0, error_status=500)
    response = gateway.chat("solo")
    assert response.status_code == 500
    assert _counts(sims) == {"primary": 0, "second": 0, "third": 0, "solo": 2}


def test_hung_provider_is_cut_at_timeout(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    sims["solo"].control(hang_before_headers_s=60)
    started = time.monotonic()
    response = gateway.chat("solo", timeout=45)
    elapsed = time.monotonic() - started
    assert response.status_code == 408, response.text
    assert "Timeout" in response.json()["error"]["message"]
    assert _counts(sims)["solo"] == 2
    # Two attempts of `timeout` each, then the error: not the simulator's 60 s hang.
    assert 2 * TIMEOUT_S * 0.9 <= elapsed < 30


def test_stalled_stream_is_cut_at_stream_timeout(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    sims["solo"].control(stall_after_chunks=2, stall_s=60)
    started = time.monotonic()
    status, events, raw, _ = _stream(gateway, "solo")
    elapsed = time.monotonic() - started
    assert status == 200  # headers and the first chunks were already sent when it stalled
    assert not raw.rstrip().endswith("data: [DONE]"), "a stalled stream must not look complete"
    assert any("error" in event for event in events), raw
    assert TIMEOUT_S * 0.9 <= elapsed < 30
