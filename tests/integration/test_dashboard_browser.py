"""The dashboard in a real browser, as an operator uses it: real runs recorded by ``aibackend loadtest`` and
``aibackend contract`` against simulators, ``aibackend dashboard`` serving them, headless chromium
looking at each page after its scripts ran. Screenshots are kept (tests/plugins/browser.py).

The history: runs 1 and 2 against a fast vLLM simulator, run 3 against a slow one with a threshold it
breaks (all three filed as target ``sim``: one trend), run 4 a contract run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aibackend.results.store import open_store
from tests.plugins.browser import StartDashboard, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


@dataclass
class History:
    store: Path
    fast_url: str
    figures: dict[int, dict[str, float | None]]


def _js_number(value: float, unit: str) -> str:
    """charts.js's number(): what a legend shows for a value."""
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return f"{text} {unit}"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, session_simulator_factory: Any) -> History:
    fast = session_simulator_factory("vllm", models=[MODEL], ttft_ms=20.0)
    slow = session_simulator_factory("vllm", models=[MODEL], ttft_ms=90.0)
    tmp = tmp_path_factory.mktemp("history")
    store = tmp / "results.sqlite3"
    thresholds = tmp / "thresholds.yaml"
    thresholds.write_text("median_ttft_ms: {max: 60}\n")

    def command(*argv: str, expect: int = 0) -> None:
        done = subprocess.run([AIBACKEND, *argv, "--store", str(store)], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == expect, done.stdout + done.stderr
        assert "recorded as run" in done.stderr

    for number, (sim, extra, expect) in enumerate([(fast, [], 0), (fast, [], 0),
                                                   (slow, ["--thresholds", str(thresholds)], 1)], start=1):
        command("loadtest", "--host", sim.url, "--model", MODEL, "--requests", "24", "--users", "2",
                "--target-name", "sim", "--report", str(tmp / f"run{number}.json"), *extra, expect=expect)
    command("contract", "--target", f"vllm={fast.url}")
    with open_store(store, create=False) as opened:
        figures = {run.id: run.figures for run in opened.runs() if run.id is not None}
    return History(store, fast.url, figures)


@pytest.fixture(scope="module")
def dashboard(history: History, start_dashboard: StartDashboard, tmp_path_factory: pytest.TempPathFactory) -> str:
    config = tmp_path_factory.mktemp("dash-config")
    (config / "providers.yaml").write_text(
        "providers:\n"
        f"  sim:\n    type: vllm\n    base_url: {history.fast_url}\n    api_key_env: DASHBOARD_TEST_KEY\n"
        f"    models: [{MODEL}]\n"
        "  gone:\n    type: ollama\n    base_url: http://127.0.0.1:9\n    models: [llama3.1:8b]\n"
        "  spare:\n    type: vllm\n    base_url: http://127.0.0.1:9/v1\n    status: disabled\n    models: [other]\n")
    (config / "model-mappings.yaml").write_text(
        "exact_matches:\n  chat: {provider: sim, backend_model: " + MODEL + "}\n"
        "fallback_chains:\n  chat: {chain: [llama3.1:8b]}\n")
    env = {**os.environ, "DASHBOARD_TEST_KEY": "sk-dashboard-secret-0123456789abcdef"}
    return start_dashboard(history.store, config, env=env)


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    assert errors == [], errors  # the page's scripts ran without an error
    return page


def _legend(page: Any, chart: str) -> dict[str, str]:
    labels = page.locator(f"{chart} .u-legend .u-series")
    return {labels.nth(i).locator(".u-label").inner_text(): labels.nth(i).locator(".u-value").inner_text()
            for i in range(labels.count())}


def _hover_run(page: Any, chart_index: int, point: int) -> None:
    """Move the mouse over the plot where data point ``point`` is (as a person pointing at a run)."""
    x = page.evaluate(f"(() => {{ const c = window.aibackendCharts[{chart_index}]; "
                      f"return c.valToPos(c.data[0][{point}], 'x'); }})()")
    box = page.locator(".u-over").nth(chart_index).bounding_box()
    # the first and last runs sit on the plot's edges: point just inside them
    page.mouse.move(box["x"] + min(max(x, 1), box["width"] - 2), box["y"] + box["height"] / 2, steps=3)


def test_trends_show_the_runs_over_time_with_the_broken_gate_and_the_regression_marked(
        browser: Any, dashboard: str, history: History) -> None:
    # Runs 1 and 2 ran one simulator, 20 ms to the first token; run 3 one of 90 ms (+350%). On a busy
    # machine TTFT between two runs of one server varies by tens of percent: the threshold (a person
    # sets it in the page's form) is 150%.
    page = _open(browser, f"{dashboard}/trends?threshold=150")
    assert page.locator("input[name=threshold]").input_value() == "150"
    section = page.locator("section.trend")
    assert section.count() == 1
    assert section.locator("h2").inner_text() == f"sim · {MODEL} (3 runs)"
    page.wait_for_selector("#trend-0[data-ready=true] canvas")
    rows = section.locator("table.trend-runs tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == ["3", "2", "1"]
    marks = rows.nth(0).locator("td.marks").inner_text()
    assert marks.startswith("gate failed; regressed vs run 2\nTTFT p50 ")
    assert rows.nth(1).locator("td.marks").inner_text() == ""
    assert rows.nth(0).get_attribute("class") == "fail"
    # The legend names every line and the two kinds of mark; nothing is hovered yet.
    assert _legend(page, "#trend-0") == {"run": "-", "TTFT p50": "n/a", "TTFT p99": "n/a", "TPOT p50": "n/a",
                                         "output tok/s": "n/a", "gate failed": "-", "regressed": "-"}
    # Pointing at run 3 shows its figures, and that it broke the gate and regressed.
    _hover_run(page, 0, 2)
    legend = _legend(page, "#trend-0")
    third = history.figures[3]
    assert legend["run"].startswith("run 3, ")
    assert legend["TTFT p50"] == _js_number(third["median_ttft_ms"] or 0, "ms")
    assert legend["output tok/s"] == _js_number(third["output_throughput"] or 0, "tok/s")
    assert (legend["gate failed"], legend["regressed"]) == ("yes", "yes")
    _hover_run(page, 0, 0)
    legend = _legend(page, "#trend-0")
    assert legend["run"].startswith("run 1, ") and (legend["gate failed"], legend["regressed"]) == ("no", "no")
    screenshot(page, "trends")
    # Dragging across the plot zooms the time axis; a double-click puts it back.
    before = page.evaluate("[window.aibackendCharts[0].scales.x.min, window.aibackendCharts[0].scales.x.max]")
    box = page.locator(".u-over").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 20, steps=8)
    page.mouse.up()
    zoomed = page.evaluate("[window.aibackendCharts[0].scales.x.min, window.aibackendCharts[0].scales.x.max]")
    assert before[0] < zoomed[0] < zoomed[1] < before[1]
    screenshot(page, "trends-zoomed")
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + 20)
    assert page.evaluate("[window.aibackendCharts[0].scales.x.min, window.aibackendCharts[0].scales.x.max]") == before
    page.close()


def test_runs_list_filters_and_leads_to_a_comparison(browser: Any, dashboard: str, history: History) -> None:
    page = _open(browser, f"{dashboard}/runs")
    rows = page.locator("#runs tbody tr")
    assert [rows.nth(i).get_attribute("data-run") for i in range(rows.count())] == ["4", "3", "2", "1"]
    first = history.figures[1]
    cells = rows.nth(3).locator("td")
    ttft = " / ".join(f"{v:.2f}" if v is not None else "n/a"
                      for v in (first["p50_ttft_ms"], first["p90_ttft_ms"], first["p95_ttft_ms"], first["p99_ttft_ms"]))
    assert page.locator("#runs thead th").nth(9).inner_text() == "TTFT ms\np50 / p90 / p95 / p99"  # DEFAULT_PERCENTILES
    assert cells.nth(9).inner_text() == ttft  # TTFT p50 / p90 / p95 / p99, as stored
    assert rows.nth(1).locator("td.verdict").inner_text() == "GATE FAILED"
    assert rows.nth(0).locator("td.verdict").inner_text() == "compliant"
    screenshot(page, "runs")
    page.select_option("select[name=kind]", "contract")
    page.click("#filters button")
    page.wait_for_load_state("networkidle")
    assert page.locator("#runs tbody tr").count() == 1
    assert page.locator("#runs tbody tr td.verdict").inner_text() == "compliant"
    # Back to all runs; choose A = run 1 and B = run 3, and compare.
    page.goto(f"{dashboard}/runs?kind=loadtest")
    page.check("input[name=a][value='1']")
    page.check("input[name=b][value='3']")
    page.click("#compare-button")
    page.wait_for_load_state("networkidle")
    from urllib.parse import parse_qs, urlsplit

    assert page.url.startswith(f"{dashboard}/compare?") and parse_qs(urlsplit(page.url).query) == {"a": ["1"], "b": ["3"]}
    assert page.locator("h1").inner_text() == "Run 1 vs run 3"
    row = page.locator("#differences tr[data-figure=median_ttft_ms]")
    assert row.get_attribute("class") == "worse"
    a, b = history.figures[1]["median_ttft_ms"], history.figures[3]["median_ttft_ms"]
    assert a is not None and b is not None
    assert [row.locator("td").nth(i).inner_text() for i in range(5)] == [
        f"{a:.2f}", f"{b:.2f}", f"{b - a:+.4g}", f"{(b - a) / a * 100:+.1f}%", "worse"]
    assert page.locator(".chart[data-metric] canvas").count() == 3  # TTFT, TPOT, E2EL percentile curves
    screenshot(page, "compare")
    page.close()


def test_one_run_with_its_gate_and_charts(browser: Any, dashboard: str, history: History) -> None:
    page = _open(browser, f"{dashboard}/runs/3")
    assert page.locator("#verdict").inner_text() == "GATE FAILED"
    gate = page.locator("#gate li")
    assert gate.count() == 1 and gate.first.inner_text().startswith("FAIL median_ttft_ms: measured ")
    assert page.get_attribute("body", "data-charts") == "4"
    for chart in ("#chart-percentiles-request", "#chart-percentiles-token", "#chart-throughput", "#chart-latency"):
        assert page.locator(f"{chart}[data-ready=true] canvas").count() == 1, chart
    assert list(_legend(page, "#chart-percentiles-request")) == ["percentile", "TTFT", "E2EL", "TTFB"]
    figures = page.locator("#figures tbody tr")
    assert figures.count() == len(history.figures[3])
    screenshot(page, "run")
    page.close()


def test_overview_shows_providers_with_live_health_routing_and_no_secret(browser: Any, dashboard: str) -> None:
    page = _open(browser, f"{dashboard}/")
    page.wait_for_selector("body[data-health=done]")
    health = {row.get_attribute("data-provider"): row.locator("td.health").inner_text()
              for row in page.locator("#providers tbody tr").all()}
    assert health == {"sim": "up", "gone": "down", "spare": "not probed (disabled)"}
    gone = page.locator("#providers tr[data-provider=gone]")
    assert gone.locator("td.detail").inner_text() == "connection refused"
    assert page.locator("#providers tr[data-provider=sim] td.latency").inner_text().endswith(" ms")
    routes = [[cell.inner_text() for cell in row.locator("td").all()] for row in page.locator("#routes tbody tr").all()]
    assert ["chat", "alias", f"sim/{MODEL}", "llama3.1:8b"] in routes
    assert page.locator("#gateway-state").inner_text().startswith("No gateway has run from ")
    assert "sk-dashboard-secret" not in page.content()
    screenshot(page, "overview")
    page.close()


def test_missing_run_and_bad_compare_are_explained(browser: Any, dashboard: str) -> None:
    page = browser.new_page()
    response = page.goto(f"{dashboard}/runs/999")
    assert response.status == 404 and "no run 999 in " in page.locator(".problem").inner_text()
    response = page.goto(f"{dashboard}/compare?a=1")
    assert response.status == 400
    assert page.locator(".problem").inner_text() == "compare needs two run ids: /compare?a=ID&b=ID (got b='')"
    page.close()


def test_loopback_dashboard_refuses_other_host_names(dashboard: str) -> None:
    import httpx

    assert httpx.get(f"{dashboard}/runs").status_code == 200
    rebound = httpx.get(f"{dashboard}/runs", headers={"Host": "attacker.example:8050"})
    assert rebound.status_code == 421
    assert rebound.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_binding_beyond_loopback_warns(history: History, tmp_path: Path) -> None:
    import signal

    import httpx

    from generator.net import free_port

    port = free_port()
    process = subprocess.Popen([AIBACKEND, "dashboard", "--host", "0.0.0.0", "--port", str(port), "--store",
                                str(history.store), "--config-dir", str(tmp_path)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        warning, listening = process.stdout.readline(), process.stdout.readline()
        assert warning == ("warning: the dashboard listens on 0.0.0.0, beyond this machine: it has no login and "
                           "shows the providers, routing and every recorded run (use the default --host 127.0.0.1 "
                           "to keep it local)\n")
        assert listening.startswith(f"dashboard: http://127.0.0.1:{port}/  (store {history.store}")
        assert httpx.get(f"http://127.0.0.1:{port}/runs").status_code == 200
        os.killpg(process.pid, signal.SIGTERM)  # stops like Ctrl-C: a clean end of a server, exit 0
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout:
            process.stdout.close()
