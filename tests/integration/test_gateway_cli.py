"""``aibackend gateway start|stop|status`` as an operator meets it: messages, pid and log files,
the key kept off the disk, start-twice, stop-not-running, a stale pid file, a failed start."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.simulators import RunningSimulator
from tests.integration.helpers import started_simulators
from tests.plugins.gateway import aibackend, generate, new_master_key, write_sources

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    # The first test also pays for the module's gateway start (6 s idle, minutes on a loaded host).
    pytest.mark.timeout(600),
    pytest.mark.xdist_group("gateway-cli"),
]


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with started_simulators({"ollama": ("ollama", ["tiny:1b"])}) as running:
        yield running["ollama"]


@pytest.fixture
def config_dir(tmp_path: Path, sim: RunningSimulator) -> Iterator[Path]:
    directory = write_sources(
        tmp_path / "config",
        providers={"ollama": {"type": "ollama", "base_url": sim.url, "status": "active", "models": ["tiny:1b"]}},
        gateway={"server": {"master_key_env": "MY_GATEWAY_KEY"}},
    )
    generate(directory)
    yield directory
    env = dict(os.environ, MY_GATEWAY_KEY=new_master_key())
    if (directory / ".run" / "gateway.json").exists():
        aibackend("gateway", "stop", "--config-dir", str(directory), env=env)


def _env(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MY_GATEWAY_KEY", "LITELLM_MASTER_KEY")}
    if key is not None:
        env["MY_GATEWAY_KEY"] = key
    return env


def _gateway(config_dir: Path, action: str, key: str | None, *extra: str) -> tuple[int, str, str]:
    result = aibackend("gateway", action, "--config-dir", str(config_dir), *extra, env=_env(key))
    return result.returncode, result.stdout, result.stderr


def test_refuses_to_start_without_a_master_key(config_dir: Path) -> None:
    assert _gateway(config_dir, "start", None) == (
        1,
        "",
        "aibackend gateway: error: the gateway needs a master key: environment variable MY_GATEWAY_KEY is not set\n"
        '  hint: export MY_GATEWAY_KEY="sk-$(openssl rand -hex 32)"  '
        "(the key is read from the environment, never from a file)\n",
    )
    assert not (config_dir / ".run" / "gateway.json").exists()


def test_refuses_a_weak_master_key(config_dir: Path) -> None:
    code, out, err = _gateway(config_dir, "start", "sk-1234")
    assert (code, out) == (1, "")
    assert err.startswith(
        "aibackend gateway: error: the master key in MY_GATEWAY_KEY is too weak: "
        "it must start with 'sk-' and be at least 20 characters long\n"
    )


def test_stop_and_status_when_not_running(config_dir: Path) -> None:
    assert _gateway(config_dir, "status", None) == (1, "gateway: not running\n", "")
    code, out, err = _gateway(config_dir, "stop", None)
    assert (code, out) == (1, "")
    assert err == (
        f"aibackend gateway: error: the gateway is not running (no state in {config_dir / '.run'})\n"
        "  hint: start it with 'aibackend gateway start'\n"
    )


def test_lifecycle_start_twice_status_stale_pid_and_stop(config_dir: Path, sim: RunningSimulator) -> None:
    key = new_master_key()
    code, out, err = _gateway(config_dir, "start", key, "--front", "haproxy")
    assert code == 0, err
    state = json.loads((config_dir / ".run" / "gateway.json").read_text())
    port = state["port"]
    assert out == (
        f"gateway ready at http://127.0.0.1:{port} (pid {state['active']['pid']}, HAProxy front); "
        f"log: {config_dir / '.run' / 'gateway-blue.log'}\n"
    )
    assert (config_dir / ".run" / "gateway.pid").read_text() == f"{state['active']['pid']}\n"
    # The key never reaches the disk: not in the run dir, not in the generated config, not in a log.
    for path in [*config_dir.rglob("*")]:
        if path.is_file():
            assert key not in path.read_text(errors="replace"), path

    code, out, err = _gateway(config_dir, "start", key)
    assert (code, out) == (1, "")
    assert err.startswith(
        f"aibackend gateway: error: the gateway is already running: pid {state['active']['pid']}, "
        f"http://127.0.0.1:{port}\n"
    )

    code, out, _ = _gateway(config_dir, "status", None, "--json")
    status = json.loads(out)
    assert code == 0
    assert (status["running"], status["ready"], status["front"], status["pid"]) == (
        True, True, "haproxy", state["active"]["pid"],
    )

    # The gateway dies behind our back: status and stop say so instead of pretending.
    os.killpg(state["active"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _gateway(config_dir, "status", None)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    code, out, _ = _gateway(config_dir, "status", None)
    assert code == 1
    assert out.startswith(f"gateway: NOT running (stale pid file: pid {state['active']['pid']} is not running;")
    code, out, err = _gateway(config_dir, "stop", None)
    assert (code, out) == (1, "")
    assert err.startswith(
        f"aibackend gateway: error: the gateway was not running: pid {state['active']['pid']} from "
        f"{config_dir / '.run' / 'gateway.pid'} is gone (crashed or killed); removed the stale pid file\n"
    )
    assert not (config_dir / ".run" / "gateway.pid").exists()
    assert _gateway(config_dir, "status", None)[0] == 1


def test_failed_start_reports_the_log_tail(config_dir: Path) -> None:
    generated = config_dir / "litellm-unified.yaml"
    # A config LiteLLM cannot load (hand-edited): the gateway must not come up, and say why.
    generated.write_text(generated.read_text().replace("model_list:", "model_list: [unclosed"))
    code, out, err = _gateway(config_dir, "start", new_master_key(), "--front", "none")
    assert (code, out) == (1, "")
    assert "aibackend gateway: error: LiteLLM exited with status" in err
    assert f"last lines of {config_dir / '.run' / 'gateway-blue.log'}:" in err
    assert "yaml" in err.lower()
    assert not (config_dir / ".run" / "gateway.json").exists()
