"""``aibackend reload`` without a front (``gateway start --front none``): a gated restart on the
public port, labelled as brief downtime, with automatic rollback when the new config is bad."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aibackend.gateway.gates import expected_groups
from contracts.simulators import RunningSimulator
from generator.net import free_port
from tests.integration.helpers import api_base_of, started_simulators
from tests.plugins.gateway import RunningGateway, aibackend, new_master_key, write_sources

pytestmark = [
    pytest.mark.rollback,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.xdist_group("reload-nofront"),
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators({"vllm": ("vllm", ["m-a"]), "ollama": ("ollama", ["small:1b"])}) as running:
        yield running


def _sources(config_dir: Path, sims: dict[str, RunningSimulator], port: int, *, v2: bool, vllm_url: str = "") -> None:
    exact = {"chat": {"provider": "vllm-a", "backend_model": "m-a"}}
    if v2:
        exact["chat-v2"] = {"provider": "ollama", "backend_model": "small:1b"}
    write_sources(
        config_dir,
        providers={
            "vllm-a": {"type": "vllm", "base_url": vllm_url or sims["vllm"].url, "status": "active", "models": ["m-a"]},
            "ollama": {"type": "ollama", "base_url": sims["ollama"].url, "status": "active", "models": ["small:1b"]},
        },
        mappings={"exact_matches": exact},
        gateway={"reliability": {"num_retries": 0}},
        port=port,
    )


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator],
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    config_dir = tmp_path_factory.mktemp("nofront") / "config"
    _sources(config_dir, sims, free_port(), v2=False)
    return module_gateway_factory(config_dir, front="none")


def _groups(gw: RunningGateway) -> set[str]:
    response = gw.client.get("/v1/models")
    assert response.status_code == 200
    return {m["id"] for m in response.json()["data"]}


def test_reload_of_a_gateway_that_is_not_running_is_refused(tmp_path: Path, sims: dict[str, RunningSimulator]) -> None:
    config_dir = tmp_path / "config"
    _sources(config_dir, sims, free_port(), v2=False)
    import os

    result = aibackend("reload", "--config-dir", str(config_dir), env=dict(os.environ, LITELLM_MASTER_KEY=new_master_key()))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "aibackend reload: error: the gateway is not running, so there is nothing to reload\n"
        "  hint: start it with 'aibackend gateway start'\n"
    )
    assert not (config_dir / "litellm-unified.yaml").exists()


def test_reload_without_front_restarts_with_brief_downtime(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    port = gateway.port
    old_pid = gateway.state()["active"]["pid"]
    assert "chat-v2" not in _groups(gateway)
    _sources(gateway.config_dir, sims, port, v2=True)
    result = gateway.cli("reload", timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"reload: restarted 127.0.0.1:{port} on the new config (BRIEF DOWNTIME: no front in use)\n" in result.stdout
    state = gateway.state()
    assert state["front"] is None
    assert state["active"]["port"] == port
    assert state["active"]["pid"] != old_pid
    text = (gateway.config_dir / "litellm-unified.yaml").read_text()
    assert _groups(gateway) == expected_groups(text)
    response = gateway.chat("chat-v2")
    assert response.status_code == 200
    assert gateway.api_base(response) == api_base_of(sims["ollama"])


def test_failed_gate_without_front_keeps_the_old_gateway(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    before = (gateway.config_dir / "litellm-unified.yaml").read_text()
    old_pid = gateway.state()["active"]["pid"]
    _sources(gateway.config_dir, sims, gateway.port, v2=False, vllm_url=f"http://127.0.0.1:{free_port()}")
    result = gateway.cli("reload", timeout=600)
    assert result.returncode == 1
    assert "reload rolled back: gate 'smoke' failed: vllm via 'chat'" in result.stderr
    assert (gateway.config_dir / "litellm-unified.yaml").read_text() == before
    assert gateway.state()["active"]["pid"] == old_pid
    assert gateway.chat("chat").status_code == 200
