"""Plain ``locust -f loadtests/locustfile.py`` with its web UI, seen in a real browser.

Debian's chromium, headless, driven by Playwright (pointed at /usr/bin/chromium: Playwright's own
browser download is never used; scripts/setup.d/60-ui-test-tools.sh installs it). The test asserts
what a person sees -- Locust's statistics table with a true Aggregated row and the LLM rows beside
it, the "LLM metrics" tab's table and its live TTFT, TPOT and throughput charts -- and keeps
screenshots (``locust-*.png``) where ``tests.plugins.browser.screenshot`` keeps them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.net import free_port, wait_for_http
from loadtests.launcher import LOCUSTFILE
from tests.plugins.browser import screenshot

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(300)]

def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def locust_ui(simulator_factory: Any, tmp_path: Path) -> Iterator[str]:
    sim = simulator_factory("vllm", ttft_ms=20, tpot_ms=2, output_tokens=8, slots=64)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", sim.url, "--web-host", "127.0.0.1",
         "--web-port", str(port), "-u", "2", "-r", "10", "--autostart", "--llm-model", sim.stats()["models"][0],
         "--llm-max-tokens", "8", "--llm-progress", "0"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for_http(f"{url}/", timeout=60)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def table_rows(page: Any) -> list[list[str]]:
    """The visible rows of the page's tables, cell texts as shown."""
    rows: list[list[str]] = page.evaluate(
        "() => Array.from(document.querySelectorAll('tr')).filter(tr => tr.offsetParent !== null)"
        ".map(tr => Array.from(tr.children).map(td => td.innerText.trim()))")
    return rows


def test_web_ui_statistics_and_the_llm_tab_with_live_charts(locust_ui: str, browser: Any) -> None:
    # Two 2-second buckets of history at least, so that each chart has a line to draw.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(get_json(f"{locust_ui}/llm/history")["t"]) < 3:
        time.sleep(0.5)
    page = browser.new_page()
    try:
        page.goto(f"{locust_ui}/?tab=stats")
        page.get_by_text("Aggregated").first.wait_for(timeout=30_000)
        page.get_by_text("TTFT", exact=True).first.wait_for(timeout=30_000)
        statistics = screenshot(page, "locust-statistics")
        rows = {(r[0], r[1]): r for r in table_rows(page) if len(r) > 3}
        post, total = rows[("POST", "/v1/chat/completions")], rows[("", "Aggregated")]
        # What a person reads: the Aggregated row counts requests once (# Requests is the third column).
        assert abs(int(total[2]) - int(post[2])) <= 4  # the table refreshes live: within one refresh
        assert int(rows[("TTFT", "/v1/chat/completions")][2]) > 0
        assert {("TTFB", "/v1/chat/completions"), ("TPOT", "/v1/chat/completions")} <= set(rows)

        page.get_by_role("tab", name="LLM metrics").click()
        page.wait_for_url("**tab=llm**")
        for chart in ("llm-chart-ttft", "llm-chart-tpot", "llm-chart-throughput"):
            page.wait_for_function(
                f"() => {{ const l = document.querySelector('#{chart} polyline');"
                " return l && l.getAttribute('points').split(' ').length >= 2; }", timeout=30_000)
        assert page.locator("#llm-chart-ttft").inner_text().startswith("TTFT over time (ms)")
        assert "TPOT over time" in page.locator("#llm-chart-tpot").inner_text()
        assert "requests/s" in page.locator("#llm-chart-throughput").inner_text()
        assert page.locator("#llm-chart-ttft polyline[data-series=p99]").count() == 1
        llm = {r[0]: r for r in table_rows(page) if r and r[0] in ("TTFB", "TTFT", "TPOT", "ITL", "E2EL")}
        assert set(llm) == {"TTFB", "TTFT", "TPOT", "ITL", "E2EL"}
        assert float(llm["TTFT"][2]) >= 20.0  # median TTFT: the simulator's 20 ms and the way there
        llm_tab = screenshot(page, "locust-llm-tab")
        # The charts draw what /llm/history holds: its TTFT p50 points are the chart's.
        history = get_json(f"{locust_ui}/llm/history")
        drawn = page.locator("#llm-chart-ttft polyline[data-series=p50]").get_attribute("points") or ""
        assert len(drawn.split()) >= min(3, len([v for v in history["ttft_p50_ms"] if v is not None])) - 1
        # Leaving the tab takes the charts away.
        page.get_by_role("tab", name="Statistics").click()
        page.wait_for_function("() => !document.getElementById('llm-charts')", timeout=10_000)
    finally:
        page.close()
    assert statistics.stat().st_size > 10_000
    assert llm_tab.stat().st_size > 10_000


def test_llm_json_and_history_are_exact_figures(locust_ui: str) -> None:
    deadline = time.monotonic() + 60
    figures: dict[str, Any] = {}
    while time.monotonic() < deadline:
        figures = get_json(f"{locust_ui}/llm")
        if figures.get("completed", 0) >= 5:
            break
        time.sleep(0.5)
    assert figures["completed"] >= 5 and figures["failed"] == 0
    assert figures["median_ttft_ms"] >= 20.0 and figures["p95_ttft_ms"] >= figures["median_ttft_ms"]
    stats = get_json(f"{locust_ui}/stats/requests")
    assert [t["key"] for t in stats["extended_stats"]] == ["llm"]
    assert [row["metric"] for row in stats["extended_stats"][0]["data"]][:5] == ["TTFB", "TTFT", "TPOT", "ITL", "E2EL"]
    total = next(s for s in stats["stats"] if s["name"] == "Aggregated")
    post = next(s for s in stats["stats"] if s["method"] == "POST")
    assert total["num_requests"] == post["num_requests"]
