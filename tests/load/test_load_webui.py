"""Plain ``locust -f loadtests/locustfile.py`` with its web UI: LLM rows and the LLM tab are live."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from generator.net import free_port, wait_for_http
from loadtests.launcher import LOCUSTFILE

pytestmark = [pytest.mark.load, pytest.mark.slow]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_web_ui_shows_ttft_tpot_ttfb_rows_and_an_llm_tab(simulator_factory: Any, tmp_path: Path) -> None:
    sim = simulator_factory("vllm", ttft_ms=20, tpot_ms=2, output_tokens=8)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", sim.url, "--web-host", "127.0.0.1",
         "--web-port", str(port), "-u", "2", "-r", "10", "--autostart", "--llm-model", sim.stats()["models"][0],
         "--llm-max-tokens", "8", "--llm-progress", "0"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/", timeout=60)
        deadline = time.monotonic() + 60
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = get_json(f"http://127.0.0.1:{port}/stats/requests")
            if sum(s["num_requests"] for s in stats["stats"] if s["method"] == "TTFT") >= 5:
                break
            time.sleep(0.5)
        rows = {(s["method"], s["name"]) for s in stats["stats"]}
        assert {("POST", "/v1/chat/completions"), ("TTFT", "/v1/chat/completions"),
                ("TPOT", "/v1/chat/completions"), ("TTFB", "/v1/chat/completions")} <= rows
        llm = stats["extended_stats"]
        assert [t["key"] for t in llm] == ["llm"]
        assert [row["metric"] for row in llm[0]["data"]][:5] == ["TTFB", "TTFT", "TPOT", "ITL", "E2EL"]
        figures = get_json(f"http://127.0.0.1:{port}/llm")
        assert figures["completed"] >= 5 and figures["failed"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert '"extended_tabs": [{"key": "llm", "title": "LLM metrics"}]' in response.read().decode()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
