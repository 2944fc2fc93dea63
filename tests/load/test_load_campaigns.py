"""Campaigns end to end, and the charts each one draws (self-contained HTML beside its JSON)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main

pytestmark = [pytest.mark.load, pytest.mark.slow]


def self_contained(page: str) -> None:
    assert "<script" not in page
    assert "http://" not in re.sub(r'http://www\.w3\.org/2000/svg|http://127\.0\.0\.1:\d+', "", page)


def test_compare_draws_each_servers_distributions_side_by_side(simulator_factory: Any, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    fast = simulator_factory("vllm", ttft_ms=10, tpot_ms=1, output_tokens=8, slots=64)
    slow = simulator_factory("vllm", ttft_ms=80, tpot_ms=4, output_tokens=8, slots=64)
    report = tmp_path / "cmp.json"
    code = main(["loadtest", "--compare", f"{fast.url}={fast.stats()['models'][0]}",
                 f"{slow.url}={slow.stats()['models'][0]}", "--users", "2", "--requests", "12", "--max-tokens", "8",
                 "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(report.read_text())
    runs = summary["runs"]
    assert [r["completed"] for r in runs] == [12, 12]
    assert runs[0]["median_ttft_ms"] < runs[1]["median_ttft_ms"]  # 10 ms against 80 ms of prefill
    page = (tmp_path / "cmp.html").read_text()
    for title in ("TTFT (cumulative, every request)", "TPOT (cumulative, every request)",
                  "E2EL (cumulative, every request)", "Latency, side by side", "Throughput (whole run, vLLM"):
        assert title in page
    # one curve per server in each distribution chart, from every request
    ttft_chart = page[page.index("TTFT (cumulative"):page.index("TPOT (cumulative")]
    assert ttft_chart.count("<polyline") == 2
    assert 'href="cmp.1.html"' in page and 'href="cmp.2.html"' in page
    self_contained(page)


def test_sweep_charts_latency_and_goodput_against_the_rate_with_the_knee(simulator_factory: Any, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Two slots of 40 ms: about 50 requests/s at most; the sweep must find a knee below 1.1x of it.
    sim = simulator_factory("vllm", ttft_ms=20, tpot_ms=2, output_tokens=10, slots=2)
    report = tmp_path / "sweep.json"
    code = main(["loadtest", "--host", sim.url, "--model", sim.stats()["models"][0], "--sweep", "--sweep-steps", "2",
                 "--duration", "2", "--users", "8", "--max-tokens", "10", "--goodput", "ttft:200",
                 "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(report.read_text())
    rated = [p for p in summary["points"] if p["offered_rate"] is not None]
    assert len(summary["points"]) == 5 and len(rated) == 3
    assert summary["knee_rate"] in [p["offered_rate"] for p in rated]
    page = (tmp_path / "sweep.html").read_text()
    for title in ("TTFT against the offered rate", "TPOT and E2EL against the offered rate",
                  "Throughput and goodput against the offered rate"):
        assert title in page
    assert f"knee {summary['knee_rate']:.2f}/s" in page  # the knee is marked on the charts
    assert page.count('stroke-dasharray="4 3"') >= 3
    self_contained(page)
