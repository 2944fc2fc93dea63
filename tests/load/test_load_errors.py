"""Failures are counted by class, from faults a simulator injects, and never enter latency figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main
from loadtests.report import load_records, records_path

pytestmark = [pytest.mark.load, pytest.mark.slow]


@pytest.mark.parametrize(
    ("fault", "error_class", "message_start"),
    [
        ({"error_rate": 1.0, "error_status": 503}, "http_5xx", "HTTP 503: "),
        ({"error_rate": 1.0, "error_status": 429}, "http_4xx", "HTTP 429: "),
        ({"disconnect_after_chunks": 2}, "connection", ""),
        ({"malformed_chunk": 2}, "protocol", "invalid JSON in stream: "),
        ({"hang_before_headers_s": math.inf}, "timeout", ""),
    ],
)
def test_each_fault_lands_in_its_error_class(
    simulator_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    fault: dict[str, Any], error_class: str, message_start: str,
) -> None:
    sim = simulator_factory("vllm", ttft_ms=5, tpot_ms=1, output_tokens=6, **fault)
    report = tmp_path / "e.json"
    code = main(["loadtest", "--host", sim.url, "--model", sim.stats()["models"][0], "--users", "2",
                 "--requests", "4", "--max-tokens", "6", "--timeout", "1.5", "--report", str(report)])
    out = capsys.readouterr().out
    # No request completed: nothing could be measured, and the run says so with exit 1 (issue 11).
    assert code == 1, out
    assert f"error: no request completed (4 failed: {error_class} 4): no latency could be measured" in out
    data = json.loads(report.read_text())
    assert data["failed"] == 4 and data["completed"] == 0
    assert data["errors"] == {c: (4 if c == error_class else 0)
                              for c in ("http_4xx", "http_5xx", "timeout", "connection", "protocol")}
    assert data["failed_ratio"] == 1.0
    # failures never enter latency: with none completed every latency figure is missing, never 0
    assert data["median_ttft_ms"] is None and data["p99_e2el_ms"] is None and data["mean_tpot_ms"] is None
    records = load_records(records_path(report))
    assert all(r.error_class == error_class and (r.error or "").startswith(message_start) for r in records)
    assert f"4 request(s) failed: {error_class} 4" in out


def test_a_run_where_every_request_got_a_404_fails_its_latency_gate(
    simulator_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 11: every request got a 404, yet `p99_ttft_ms: {max: 500}` passed with exit 0 on "0".
    sim = simulator_factory("vllm", ttft_ms=5, tpot_ms=1, output_tokens=6)
    gate = tmp_path / "gate.yaml"
    gate.write_text("p99_ttft_ms: {max: 500}\n", encoding="utf-8")
    code = main(["loadtest", "--host", sim.url, "--model", "no-such-model", "--users", "2", "--requests", "4",
                 "--max-tokens", "6", "--thresholds", str(gate), "--report", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL p99_ttft_ms: not measured (n/a), allowed max 500.00 (gate.yaml:1)" in out
    assert "error: no request completed (4 failed: http_4xx 4)" in out
    assert "TTFT         n/a" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["p99_ttft_ms"] is None and data["gate"]["passed"] is False
    assert data["errors"]["http_4xx"] == 4
