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
    assert code == 0, out  # no gate given: failures are reported, not gated
    data = json.loads(report.read_text())
    assert data["failed"] == 4 and data["completed"] == 0
    assert data["errors"] == {c: (4 if c == error_class else 0)
                              for c in ("http_4xx", "http_5xx", "timeout", "connection", "protocol")}
    assert data["failed_ratio"] == 1.0
    assert data["median_ttft_ms"] == 0.0 and data["p99_e2el_ms"] == 0.0  # failures never enter latency
    records = load_records(records_path(report))
    assert all(r.error_class == error_class and (r.error or "").startswith(message_start) for r in records)
    assert f"4 request(s) failed: {error_class} 4" in out
