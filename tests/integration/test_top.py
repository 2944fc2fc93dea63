"""``aibackend top`` on a real gateway: the figures it shows are those of the requests sent through it.

In-process with Textual's test pilot (keys pressed, the table read back), and as a user runs it:
the real command in tmux, its screen read with capture-pane, ``q`` to quit.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibackend.top.app import TopApp
from aibackend.top.source import GatewaySource
from generator.net import free_port
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.requires_litellm, pytest.mark.timeout(300),
              pytest.mark.xdist_group("top")]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")


@pytest.fixture(scope="module")
def gateway(module_gateway_factory: Callable[..., RunningGateway], session_simulator_factory: Any,
            tmp_path_factory: pytest.TempPathFactory) -> RunningGateway:
    fast = session_simulator_factory("vllm", models=["m"], ttft_ms=5.0)
    slow = session_simulator_factory("vllm", models=["slow-model"], ttft_ms=4000.0)
    closed = free_port()
    config = write_sources(tmp_path_factory.mktemp("top") / "cfg", providers={
        "vl": {"type": "vllm", "base_url": fast.url, "models": ["m"]},
        "sl": {"type": "vllm", "base_url": slow.url, "models": ["slow-model"]},
        "gone": {"type": "vllm", "base_url": f"http://127.0.0.1:{closed}", "models": ["x"]},
    }, mappings={"exact_matches": {"chat": {"provider": "vl", "backend_model": "m"},
                                   "broken": {"provider": "gone", "backend_model": "x"},
                                   "slow": {"provider": "sl", "backend_model": "slow-model"}}},
        gateway={"observability": {"prometheus": True, "json_logs": True}, "reliability": {"num_retries": 0}})
    return module_gateway_factory(config)


def _table(app: TopApp) -> dict[str, list[str]]:
    from textual.widgets import DataTable

    table = app.query_one(DataTable)
    return {str(key.value): [str(cell) for cell in table.get_row(key)] for key in table.rows}


async def _until(pilot: Any, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the screen did not show it in time")
        await pilot.pause(0.2)


def test_top_shows_each_group_and_provider_from_the_gateway(gateway: RunningGateway,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", gateway.key)
    log = Path(gateway.state()["active"]["log"])
    source = GatewaySource(gateway=gateway.url, log=log, config_dir=gateway.config_dir, key_env="LITELLM_MASTER_KEY")
    try:
        asyncio.run(_drive(TopApp(source, interval=0.5), gateway))
    finally:
        source.close()


async def _drive(app: TopApp, gateway: RunningGateway) -> None:
    from textual.widgets import Static

    if True:
        async with app.run_test(size=(160, 30)) as pilot:
            await _until(pilot, lambda: ": ready " in str(app.query_one("#status", Static).render()))
            status = str(app.query_one("#status", Static).render())
            assert status.startswith(f"gateway {gateway.url}: ready   in flight 0   [groups]   figures from request log ")
            assert _table(app) == {}  # the log before top started is history: nothing in the last minute
            # Traffic: 6 answered requests, 2 failing ones, and one slow stream still running.
            for _ in range(6):
                assert gateway.chat("chat").status_code == 200
            for _ in range(2):
                assert gateway.chat("broken").status_code >= 400
            slow = threading.Thread(target=gateway.chat, args=("slow",), kwargs={"timeout": 60}, daemon=True)
            slow.start()
            await _until(pilot, lambda: "chat" in _table(app) and "broken" in _table(app)
                         and "in flight 1 " in str(app.query_one("#status", Static).render()))
            rows = _table(app)
            name, rps, requests, errors, p50, p95, last_error = rows["chat"]
            assert (name, requests, errors, last_error) == ("chat", "6", "0", "")
            assert float(rps) > 0 and 0 < float(p50.replace(",", "")) <= float(p95.replace(",", ""))
            name, _, requests, errors, p50, p95, last_error = rows["broken"]
            assert (requests, errors, p50, p95) == ("2", "2", "-", "-")
            assert last_error.startswith(("500 ", "503 ", "502 "))
            # The providers: health probed, traffic matched by address.
            await pilot.press("p")
            await _until(pilot, lambda: _table(app).get("gone", [""] * 3)[2] == "down")
            providers = _table(app)
            assert list(providers) == ["vl", "sl", "gone"]
            assert providers["vl"][:3] == ["vl", "vllm", "up"] and providers["vl"][5] == "0"
            assert providers["gone"][2:4] == ["down", "-"] and providers["gone"][8] == "connection refused"
            assert str(app.query_one("#detail", Static).render()) == "vl (vllm, active): up ok"
            await pilot.press("down", "down")
            assert str(app.query_one("#detail", Static).render()) == "gone (vllm, active): down connection refused"
            await pilot.pause(1.2)  # two refreshes later the selection is where it was
            assert str(app.query_one("#detail", Static).render()) == "gone (vllm, active): down connection refused"
            await pilot.press("tab")
            assert "chat" in _table(app)
            await pilot.press("q")
        assert app.return_code == 0
        slow.join(60)


def test_the_command_in_a_terminal(gateway: RunningGateway, tmp_path: Path) -> None:
    session = f"aibackend-top-{free_port()}"
    env_key = f"LITELLM_MASTER_KEY={gateway.key}"
    command = f"env {env_key} {AIBACKEND} top --config-dir {gateway.config_dir}"
    # -u: a UTF-8 terminal whatever the locale the tests run in (box-drawing characters keep their width)
    subprocess.run(["tmux", "-u", "new-session", "-d", "-s", session, "-x", "150", "-y", "20", command], check=True)
    try:
        deadline = time.monotonic() + 30
        screen = ""
        while time.monotonic() < deadline:
            time.sleep(0.5)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                                    check=True).stdout
            if "\n chat " in screen and " gateway " in screen:
                break
            if ": ready " in screen:  # top is up and following the log: what is sent now, it shows
                assert gateway.chat("chat").status_code == 200
        assert f" gateway {gateway.url}: ready " in screen, screen
        assert " model group " in screen and "\n chat " in screen, screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 10
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "q did not quit"
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert httpx.get(f"{gateway.url}/health/readiness").status_code == 200  # top only watched
