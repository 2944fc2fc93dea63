"""The gateway's own cost: ``--compare-direct`` through the real LiteLLM proxy and straight at its provider."""

from __future__ import annotations

import json
import statistics
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
QUIET = "lcp-model"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(SimulatorConfig(type="vllm", models=[BACKEND], ttft_ms=30, tpot_ms=2,
                                              output_tokens=8, slots=64))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def quiet_sim() -> Iterator[RunningSimulator]:
    # llama-cpp-python sends no usage in streams: LiteLLM fills it with its own tokenizer's estimate.
    running = start_simulator(SimulatorConfig(type="llama_cpp_python", models=[QUIET], ttft_ms=20, tpot_ms=5,
                                              output_tokens=16, slots=64))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(sim: RunningSimulator, quiet_sim: RunningSimulator, module_gateway_factory: Callable[..., RunningGateway],
            tmp_path_factory: pytest.TempPathFactory) -> RunningGateway:
    config_dir = write_sources(
        tmp_path_factory.mktemp("loadgw") / "config",
        providers={"vllm": {"type": "vllm", "base_url": sim.url, "status": "active", "models": [BACKEND]},
                   "lcp": {"type": "llama_cpp_python", "base_url": quiet_sim.url, "status": "active", "models": [QUIET]}},
        mappings={"exact_matches": {"chat": {"provider": "vllm", "backend_model": BACKEND},
                                    "quiet": {"provider": "lcp", "backend_model": QUIET}}},
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
    # usage survives the gateway: output tokens come from the provider's own count, through LiteLLM,
    # named for what it is (a gateway's usage, agreeing with the chunks), never "the server's"
    gw_records = load_records(records_path(report))
    assert {r.output_tokens for r in gw_records} == {8}
    assert data["output_tokens_source"] == "gateway_usage" and direct["output_tokens_source"] == "server_usage"
    assert data["compare_direct"]["token_counts"]["requests_gateway_usage_differs"] == 0
    # both sides sent the same prompts (same seed), request for request; and the prompts differ from
    # one request to the next, so a different seed or order would show
    direct_records = load_records(records_path(tmp_path / "gw.direct.json"))
    assert {r.request_index: r.prompt_sha for r in gw_records} == {r.request_index: r.prompt_sha for r in direct_records}
    assert len({r.prompt_sha for r in gw_records}) == 24 and data["compare_direct"]["same_prompts"] is True
    # LiteLLM's headers are kept per request: which deployment answered, its overhead
    assert {r.gateway["x-litellm-model-id"] for r in gw_records} == {f"chat@vllm/{BACKEND}"}
    assert data["gateway_requests"] == 24 and data["median_gateway_overhead_ms"] > 0
    assert direct["gateway_requests"] == 0 and direct["median_gateway_overhead_ms"] is None
    upstream = [((r.first_token_ns or 0) - r.sent_ns) / 1e6 - float(r.gateway["x-litellm-overhead-duration-ms"])
                for r in gw_records]
    assert data["median_upstream_ttft_ms"] == pytest.approx(statistics.median(upstream))
    assert "gateway overhead (added ms): median_ttfb" in out
    page = (tmp_path / "gw.compare-direct.html").read_text()
    assert "TTFT (cumulative, every request)" in page and "What the gateway adds" in page


def test_a_gateways_token_estimate_is_not_the_servers_count(
    quiet_sim: RunningSimulator, gateway: RunningGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 12: llama-cpp-python's answers, 16 tokens each, were counted as ~3x more through the
    # gateway (LiteLLM's tiktoken estimate), and TPOT came out 3x too fast.
    monkeypatch.setenv("LOADTEST_GATEWAY_KEY", gateway.key)
    report = tmp_path / "q.json"
    code = main(["loadtest", "--host", gateway.url, "--model", "quiet", "--compare-direct", quiet_sim.url,
                 "--direct-model", QUIET, "--users", "2", "--requests", "10", "--max-tokens", "16",
                 "--api-key-env", "LOADTEST_GATEWAY_KEY", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(report.read_text())
    direct = json.loads((tmp_path / "q.direct.json").read_text())
    records = load_records(records_path(report))
    usage = {r.output_tokens for r in records}
    assert None not in usage and usage != {16}  # the gateway's usage is its own estimate here
    assert {r.token_chunks for r in records} == {16}
    assert (direct["output_tokens_source"], data["output_tokens_source"]) == ("chunks", "chunks")
    assert direct["total_output_tokens"] == data["total_output_tokens"] == 160
    # TPOT through the gateway is the server's decode speed, as straight at it (5 ms per token)
    assert data["median_tpot_ms"] == pytest.approx(direct["median_tpot_ms"], abs=2.0)
    tokens = data["compare_direct"]["token_counts"]
    assert tokens["requests_gateway_usage_differs"] == 10 and tokens["gateway_usage_output_tokens"] != 160
    assert "token counts disagree: for 10 of 10 requests the gateway's usage says" in out
    assert any(w.startswith("10 request(s) through the gateway carry a usage that differs") for w in data["warnings"])
