"""Fixtures: a real browser (Debian's chromium, driven by Playwright) and the dashboard as a user starts it.

``browser`` is one headless chromium per test module, started as the project's standards say
(``/usr/bin/chromium``, no sandbox, no GPU, no background networking, a fresh profile); Playwright's
own browser download is never used. ``screenshot(page, name)`` keeps a picture of what the test saw
in ``build/test-artifacts/dashboard/`` (or ``$AIBACKEND_ARTIFACTS_DIR``) for a person to look at.
``start_dashboard(store, config_dir)`` runs ``aibackend dashboard`` on a free port in its own process
group and stops it at the end of the test module.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.net import free_port, port_is_open

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("AIBACKEND_ARTIFACTS_DIR") or ROOT / "build" / "test-artifacts") / "dashboard"
AIBACKEND = str(Path(sys.executable).parent / "aibackend")

StartDashboard = Callable[..., str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (scripts/setup.d/60-ui-test-tools.sh installs it)")
    profile = tempfile.mkdtemp(prefix="aibackend-chromium-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def start_dashboard() -> Iterator[StartDashboard]:
    started: list[subprocess.Popen[str]] = []

    def start(store: Path, config_dir: Path, *extra: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        process = subprocess.Popen([AIBACKEND, "dashboard", "--store", str(store), "--config-dir", str(config_dir),
                                    "--port", str(port), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True, env=env)
        started.append(process)
        deadline = time.monotonic() + 30
        while not port_is_open("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                out = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"the dashboard did not listen on {port}: exit {process.poll()}\n{out}")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            if process.stdout:
                process.stdout.close()
