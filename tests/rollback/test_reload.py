"""``aibackend reload`` behind HAProxy: zero lost requests, automatic rollback, crash safety.

One gateway (HAProxy front + LiteLLM) per module; every test leaves it in a consistent state
(old or new config), which the next test takes as its starting point.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aibackend.gateway.gates import expected_groups
from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from generator.net import free_port
from tests.integration.steady_load import SteadyLoad
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [
    pytest.mark.rollback,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.xdist_group("reload-haproxy"),
    pytest.mark.timeout(900),
]

V2_ALIAS = "chat-v2"
# Generous: on a loaded 2-core machine a LiteLLM start takes up to a minute and the serving
# instance slows down meanwhile. A slow answer is not a lost one; only errors count as lost.
LOAD_TIMEOUT_S = 240
RELOAD_TIMEOUT_S = 600


def _sources(
    config_dir: Path, sims: dict[str, RunningSimulator], *, version: int, vllm_url: str | None = None
) -> None:
    exact: dict[str, Any] = {"chat": {"provider": "vllm-a", "backend_model": "m-a"}}
    if version == 2:
        exact[V2_ALIAS] = {"provider": "ollama", "backend_model": "small:1b"}
    write_sources(
        config_dir,
        providers={
            "vllm-a": {
                "type": "vllm",
                "base_url": vllm_url or sims["vllm"].url,
                "status": "active",
                "models": ["m-a"],
            },
            "ollama": {
                "type": "ollama",
                "base_url": sims["ollama"].url,
                "status": "active",
                "models": ["small:1b"],
            },
        },
        mappings={"exact_matches": exact},
        gateway={"reliability": {"num_retries": 0, "timeout": 10}},
        port=_PORTS.setdefault(config_dir, free_port()),
    )


_PORTS: dict[Path, int] = {}


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    started = {
        "vllm": start_simulator(
            SimulatorConfig(type="vllm", models=["m-a"], ttft_ms=5, tpot_ms=1, slots=256)
        ),
        "ollama": start_simulator(SimulatorConfig(type="ollama", models=["small:1b"], ttft_ms=5, tpot_ms=1)),
    }
    yield started
    for sim in started.values():
        sim.stop()


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator],
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    config_dir = tmp_path_factory.mktemp("reload") / "config"
    _sources(config_dir, sims, version=1)
    return module_gateway_factory(config_dir, front="haproxy")


def _live_litellm(config_dir: Path) -> list[int]:
    """LiteLLM processes (not zombies) serving a snapshot from this config dir."""
    marker = str(config_dir / ".run" / "live-")
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "litellm" in cmd and marker in cmd and "--port" in cmd and status != "Z" and " -c " not in cmd:
            pids.append(int(entry.name))
    # Only process-group leaders: with workers > 1 LiteLLM forks children with the same command line.
    return sorted(p for p in pids if _is_leader(p))


def _is_leader(pid: int) -> bool:
    import os

    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _served_groups(gw: RunningGateway) -> set[str]:
    response = gw.client.get("/v1/models")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["data"]}


def _assert_consistent(gw: RunningGateway) -> str:
    """The file on disk, the snapshot LiteLLM runs and what the public port serves all agree."""
    text = (gw.config_dir / "litellm-unified.yaml").read_text()
    state = gw.state()
    assert Path(state["active"]["config"]).read_text() == text
    assert not (gw.config_dir / ".run" / "reload.json").exists()
    assert _live_litellm(gw.config_dir) == [state["active"]["pid"]]
    assert _served_groups(gw) == expected_groups(text)
    return text


def _chat_ok(gw: RunningGateway, model: str = "chat") -> None:
    response = gw.chat(model)
    assert response.status_code == 200, response.text


def test_invalid_config_never_reaches_disk_and_nothing_changes(gateway: RunningGateway) -> None:
    before = _assert_consistent(gateway)
    pid = gateway.state()["active"]["pid"]
    mappings = gateway.config_dir / "model-mappings.yaml"
    good = mappings.read_text()
    mappings.write_text("exact_matches:\n  broken:\n    provider: no-such-provider\n    backend_model: x\n")
    try:
        result = gateway.cli("reload")
    finally:
        mappings.write_text(good)
    assert result.returncode == 1, result.stderr
    assert "no-such-provider" in result.stderr
    assert "configuration is invalid" in result.stderr
    assert _assert_consistent(gateway) == before
    assert gateway.state()["active"]["pid"] == pid


def test_good_reload_under_steady_load_loses_nothing(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    old_text = _assert_consistent(gateway)
    old_pid = gateway.state()["active"]["pid"]
    _sources(gateway.config_dir, sims, version=2 if V2_ALIAS not in old_text else 1)
    with SteadyLoad(gateway.url, gateway.key, "chat", rate=20, timeout=LOAD_TIMEOUT_S) as load:
        result = gateway.cli("reload", timeout=RELOAD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert "with no downtime" in result.stdout
    figures = load.result
    print(f"good reload: sent {figures.sent}, ok {figures.ok}, lost {figures.lost}")
    assert figures.sent >= 100, "the reload was too quick to prove anything"
    assert figures.failures == []
    assert figures.lost == 0
    new_text = _assert_consistent(gateway)
    assert new_text != old_text
    assert gateway.state()["active"]["pid"] != old_pid
    assert (V2_ALIAS in _served_groups(gateway)) == (V2_ALIAS in new_text)


def test_failed_gate_rolls_back_under_steady_load_and_loses_nothing(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    old_text = _assert_consistent(gateway)
    old_pid = gateway.state()["active"]["pid"]
    backups_before = sorted(p.name for p in (gateway.config_dir / "backups").glob("*.yaml"))
    # The new config points vLLM at a port nobody listens on: the smoke gate must catch it.
    dead = f"http://127.0.0.1:{free_port()}"
    _sources(gateway.config_dir, sims, version=2 if V2_ALIAS not in old_text else 1, vllm_url=dead)
    with SteadyLoad(gateway.url, gateway.key, "chat", rate=20, timeout=LOAD_TIMEOUT_S) as load:
        result = gateway.cli("reload", timeout=RELOAD_TIMEOUT_S)
    figures = load.result
    print(f"rolled-back reload: sent {figures.sent}, ok {figures.ok}, lost {figures.lost}")
    assert result.returncode == 1
    assert "reload rolled back: gate 'smoke' failed: vllm via 'chat'" in result.stderr
    assert f"the old gateway (pid {old_pid}) keeps serving" in result.stderr
    assert figures.sent >= 100
    assert figures.failures == []
    assert figures.lost == 0
    assert _assert_consistent(gateway) == old_text
    assert gateway.state()["active"]["pid"] == old_pid
    # The rejected config is kept among the backups (so nothing that was written is lost).
    backups_after = sorted(p.name for p in (gateway.config_dir / "backups").glob("*.yaml"))
    assert len(backups_after) > len(backups_before)
    _sources(gateway.config_dir, sims, version=2 if V2_ALIAS in old_text else 1)


@pytest.mark.parametrize("phase", ["validated", "generated", "starting", "gating", "switching", "switched"])
def test_sigkill_at_each_step_ends_old_or_new_never_a_mix(
    gateway: RunningGateway, sims: dict[str, RunningSimulator], phase: str
) -> None:
    old_text = _assert_consistent(gateway)
    _sources(gateway.config_dir, sims, version=2 if V2_ALIAS not in old_text else 1)
    env = dict(gateway.env, AIBACKEND_RELOAD_CRASH_AT=phase)
    from tests.plugins.gateway import AIBACKEND

    killed = subprocess.run(
        [AIBACKEND, "reload", "--config-dir", str(gateway.config_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    assert (gateway.config_dir / ".run" / "reload.json").exists()
    _chat_ok(gateway)  # the public port kept serving while the reload lay dead
    status = gateway.cli("gateway", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    final_text = _assert_consistent(gateway)
    _chat_ok(gateway)
    if phase == "switched":
        assert "had already switched; finished it" in status.stdout
        assert final_text != old_text
    else:
        assert f"an interrupted reload (at '{phase}') was rolled back" in status.stdout
        assert final_text == old_text
