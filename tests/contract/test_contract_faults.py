"""A server that breaks the HTTP exchange itself (drops a stream, never answers) is reported as a
violation of the check's rule, never a crash of the suite."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.suite import Target, run_suite
from contracts.violation import Violation

pytestmark = [pytest.mark.contract]


def test_a_stream_cut_mid_way(simulator_factory: Any) -> None:
    sim = simulator_factory("vllm", ttft_ms=1.0, tpot_ms=0.5, disconnect_after_chunks=1)
    report = run_suite(Target("vllm", sim.url), only=["chat-stream", "models"])
    assert [o.check for o in report.outcomes] == ["models", "chat-stream"]
    assert report.outcomes[0].violations == []
    [violation] = report.outcomes[1].violations
    assert (violation.rule, violation.endpoint, violation.expected) == (
        "sse-done", "POST /v1/chat/completions", "a complete HTTP response"
    )
    assert violation.actual.startswith("RemoteProtocolError: ")


def test_a_server_that_never_answers(simulator_factory: Any) -> None:
    sim = simulator_factory("openai", ttft_ms=1.0, tpot_ms=0.5, hang_before_headers_s=30.0)
    report = run_suite(Target("openai", sim.url), only=["chat"], timeout=1.0)
    assert report.violations == [
        Violation("chat-schema", "POST /v1/chat/completions", "a complete HTTP response", "ReadTimeout: timed out")
    ]
