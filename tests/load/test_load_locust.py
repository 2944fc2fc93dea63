"""Plain ``locust -f loadtests/locustfile.py``: Locust's own totals, CSV and HTML report are true.

Issue 12: Locust's Aggregated row said 160 requests and 413 req/s for 40 requests at 103 req/s
(TTFT, TPOT and TTFB were fired as request events), the "size" column held token counts and the
``--csv`` stats file of a short run had no request at all. These tests read Locust's own files.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.net import free_port
from loadtests.launcher import LOCUSTFILE
from loadtests.report import load_records, records_path

pytestmark = [pytest.mark.load, pytest.mark.slow]

PATH = "/v1/chat/completions"


def locust(tmp_path: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def stats_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}


def html_args(path: Path) -> dict[str, Any]:
    match = re.search(r"window\.templateArgs = (\{.*?\})\n", path.read_text(encoding="utf-8"))
    assert match, "Locust's HTML report carries its figures as window.templateArgs"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def check_locust_files(tmp_path: Path, requests: int) -> None:
    rows = stats_rows(tmp_path / "run_stats.csv")
    post, total = rows[("POST", PATH)], rows[("", "Aggregated")]
    # HTTP requests are the only request events: the totals count the requests, once each
    assert int(post["Request Count"]) == int(total["Request Count"]) == requests
    assert total["Requests/s"] == post["Requests/s"] and total["Median Response Time"] == post["Median Response Time"]
    # the LLM figures are there too, as their own rows, outside the totals
    for row in ("TTFT", "TPOT", "TTFB"):
        assert int(rows[(row, PATH)]["Request Count"]) == requests, row
        assert float(rows[(row, PATH)]["Average Content Size"]) == 0.0
    # "size" is the body's bytes as received, not a token count
    records = load_records(records_path(tmp_path / "r.json"))
    assert len(records) == requests and all(r.ok for r in records)
    assert float(post["Average Content Size"]) == pytest.approx(statistics.fmean(r.response_bytes for r in records))
    assert min(r.response_bytes for r in records) > 8 * 100  # 8 SSE chunks of JSON, and more
    # the TTFT row is the report's TTFT (Locust rounds to whole milliseconds; the median of 40 values)
    report = json.loads((tmp_path / "r.json").read_text())
    assert abs(float(rows[("TTFT", PATH)]["Median Response Time"]) - report["median_ttft_ms"]) <= 2.0
    # Locust's --html report: the same rows and the same true Aggregated row
    args = html_args(tmp_path / "run.html")
    by_name = {(s["method"] or "", s["name"]): s for s in args["requests_statistics"]}
    assert by_name[("", "Aggregated")]["num_requests"] == by_name[("POST", PATH)]["num_requests"] == requests
    assert by_name[("TTFT", PATH)]["num_requests"] == requests


def test_plain_locust_totals_csv_and_html_count_each_request_once(simulator_factory: Any, tmp_path: Path) -> None:
    sim = simulator_factory("vllm", ttft_ms=10, tpot_ms=1, output_tokens=8, slots=64)
    done = locust(tmp_path, "--headless", "-u", "4", "-r", "100", "--host", sim.url, "--llm-model",
                  sim.stats()["models"][0], "--llm-requests", "40", "--llm-max-tokens", "8", "--llm-progress", "0",
                  "--csv", "run", "--html", "run.html", "--llm-report", "r.json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sim.stats()["requests"][f"POST {PATH}"] == 40
    check_locust_files(tmp_path, 40)


def test_distributed_plain_locust_totals_stay_true(simulator_factory: Any, tmp_path: Path) -> None:
    # Workers send their rows to the master: the LLM rows arrive as rows, never in the totals.
    sim = simulator_factory("vllm", ttft_ms=10, tpot_ms=1, output_tokens=8, slots=64)
    port = free_port()
    workers = [subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host",
                                 "127.0.0.1", "--master-port", str(port)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
               for _ in range(2)]
    try:
        done = locust(tmp_path, "--master", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
                      "--master-bind-port", str(port), "--headless", "-u", "4", "-r", "100", "--host", sim.url,
                      "--llm-model", sim.stats()["models"][0], "--llm-requests", "40", "--llm-max-tokens", "8",
                      "--llm-progress", "0", "--csv", "run", "--html", "run.html", "--llm-report", "r.json")
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        for w in workers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    assert sim.stats()["requests"][f"POST {PATH}"] == 40
    check_locust_files(tmp_path, 40)
