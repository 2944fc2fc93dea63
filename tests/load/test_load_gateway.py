"""The gateway's own cost: ``--compare-direct`` through the real LiteLLM proxy and straight at its provider."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aibackend.cli import main
from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from loadtests.report import load_records, records_path
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [
    pytest.mark.load,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.timeout(600),  # the gateway's start-up takes minutes on a loaded host
    pytest.mark.xdist_group("loadtest-gateway"),
]

BACKEND = "m-direct"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(SimulatorConfig(type="vllm", models=[BACKEND], ttft_ms=30, tpot_ms=2,
                                              output_tokens=8, slots=64))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(sim: RunningSimulator, module_gateway_factory: Callable[..., RunningGateway],
            tmp_path_factory: pytest.TempPathFactory) -> RunningGateway:
    config_dir = write_sources(
        tmp_path_factory.mktemp("loadgw") / "config",
        providers={"vllm": {"type": "vllm", "base_url": sim.url, "status": "active", "models": [BACKEND]}},
        mappings={"exact_matches": {"chat": {"provider": "vllm", "backend_model": BACKEND}}},
        gateway={"reliability": {"num_retries": 0}},
    )
    return module_gateway_factory(config_dir)


def test_compare_direct_reports_the_gateway_overhead(
    sim: RunningSimulator, gateway: RunningGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOADTEST_GATEWAY_KEY", gateway.key)
    sim.reset()
    report = tmp_path / "gw.json"
    code = main(["loadtest", "--host", gateway.url, "--model", "chat", "--compare-direct", sim.url,
                 "--direct-model", BACKEND, "--users", "4", "--requests", "24", "--max-tokens", "8",
                 "--api-key-env", "LOADTEST_GATEWAY_KEY", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    # the same seeded workload went both ways: 24 straight, 24 through the gateway
    assert sim.stats()["models_requested"] == {BACKEND: 48}
    data = json.loads(report.read_text())
    direct = json.loads((tmp_path / "gw.direct.json").read_text())
    assert data["completed"] == direct["completed"] == 24 and data["failed"] == direct["failed"] == 0
    added = data["compare_direct"]["added_ms"]
    assert set(added) == {f"{s}_{m}_ms" for m in ("ttfb", "ttft", "e2el") for s in ("median", "p99")}
    assert added["median_ttft_ms"] == pytest.approx(data["median_ttft_ms"] - direct["median_ttft_ms"])
    assert added["median_ttft_ms"] > 0  # a Python proxy in the path costs time
    assert data["compare_direct"]["request_throughput_ratio"] == pytest.approx(
        data["request_throughput"] / direct["request_throughput"])
    # usage survives the gateway: output tokens come from the provider's own count, through LiteLLM
    assert {r.output_tokens for r in load_records(records_path(report))} == {8}
    # both sides sent the same prompts (same seed): prompt lengths agree request for request
    assert sorted(r.prompt_tokens_requested for r in load_records(records_path(report))) == sorted(
        r.prompt_tokens_requested for r in load_records(records_path(tmp_path / "gw.direct.json")))
    assert "gateway overhead (added ms): median_ttfb" in out
