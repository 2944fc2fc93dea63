"""A real Locust load test (``aibackend loadtest``) through the real gateway to the REAL
llama-server, with the report's token counts checked against the engine's own figures: its
Prometheus counters (``llamacpp:tokens_predicted_total``, ``prompt_tokens_total`` +
``prompt_tokens_cached_total``) and, per request, its usage.

The tiny model never ends a completion early (contracts/engines/tiny_model.py), so every request
yields exactly ``--max-tokens`` tokens: the expected totals are known before the run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer, engine_unavailable_reason
from loadtests.report import load_records, records_path
from tests.plugins.engines import EngineFactory, require_engine
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.requires_litellm, pytest.mark.xdist_group("engine-load")]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")
REQUESTS = 16
MAX_TOKENS = 16
GROUP = {"llama_cpp": "tiny-native", "llama_cpp_python": "tiny-python"}
COUNTERS = ("tokens_predicted_total", "prompt_tokens_total", "prompt_tokens_cached_total")


def engine_counters(engine: EngineServer) -> dict[str, float]:
    text = httpx.get(f"{engine.base_url}/metrics", timeout=10).text
    values = {}
    for name in COUNTERS:
        match = re.search(rf"^llamacpp:{name} (\S+)$", text, re.M)
        assert match, f"llamacpp:{name} missing from /metrics:\n{text}"
        values[name] = float(match.group(1))
    return values


@pytest.fixture(scope="module")
def engines(module_engine_factory: EngineFactory) -> dict[EngineKind, EngineServer]:
    return {
        kind: module_engine_factory(kind, alias="tiny-llama")
        for kind in ENGINE_KINDS
        if engine_unavailable_reason(kind) is None
    }


@pytest.fixture(scope="module")
def gateway(engines: dict[EngineKind, EngineServer], module_gateway_factory: Callable[..., RunningGateway],
            tmp_path_factory: pytest.TempPathFactory) -> RunningGateway:
    if not engines:
        require_engine("llama_cpp")
    config_dir = write_sources(
        tmp_path_factory.mktemp("engine-load") / "config",
        providers={
            f"engine-{kind}": {"type": kind, "base_url": server.base_url, "status": "active", "models": ["tiny-llama"]}
            for kind, server in engines.items()
        },
        mappings={"exact_matches": {GROUP[kind]: {"provider": f"engine-{kind}", "backend_model": "tiny-llama"} for kind in engines}},
        gateway={"reliability": {"num_retries": 0, "timeout": 60, "stream_timeout": 60, "request_timeout": 120}},
    )
    return module_gateway_factory(config_dir)


def _engine(engines: dict[EngineKind, EngineServer], kind: EngineKind) -> EngineServer:
    if kind not in engines:
        require_engine(kind)
    return engines[kind]


def result_of(records: list[Any]) -> list[str]:
    """The failed records, for the assertion message (a flake once seen in a full run: 15 of 16)."""
    return [f"{r.error_class}: {r.error}" for r in records if not r.ok][:3]


def loadtest(gateway: RunningGateway, group: str, report_path: Path, *, stream: bool) -> tuple[dict[str, Any], list[Any]]:
    result = subprocess.run(
        [AIBACKEND, "loadtest", "--host", gateway.url, "--model", group, "--users", "2",
         "--requests", str(REQUESTS), "--max-tokens", str(MAX_TOKENS), "--prompt-tokens", "24",
         "--stream" if stream else "--no-stream", "--report", str(report_path)],
        capture_output=True, text=True, env=gateway.env, timeout=300, check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return json.loads(report_path.read_text()), load_records(records_path(report_path))


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_load_report_token_counts_match_llama_server(
    gateway: RunningGateway, engines: dict[EngineKind, EngineServer], tmp_path: Path, stream: bool
) -> None:
    engine = _engine(engines, "llama_cpp")
    before = engine_counters(engine)
    report, records = loadtest(gateway, GROUP["llama_cpp"], tmp_path / "report.json", stream=stream)
    after = engine_counters(engine)
    delta = {name: after[name] - before[name] for name in COUNTERS}

    assert (report["completed"], report["failed"]) == (REQUESTS, 0), (report.get("errors"), result_of(records))
    assert [r.output_tokens for r in records] == [MAX_TOKENS] * REQUESTS  # usage reached the client
    assert report["total_output_tokens"] == REQUESTS * MAX_TOKENS == delta["tokens_predicted_total"]
    assert report["total_input_tokens"] == delta["prompt_tokens_total"] + delta["prompt_tokens_cached_total"]
    assert report["total_input_tokens"] == sum(r.input_tokens or 0 for r in records)


def test_load_report_carries_llama_cpp_python_usage(
    gateway: RunningGateway, engines: dict[EngineKind, EngineServer], tmp_path: Path
) -> None:
    # Not streamed: llama-cpp-python ignores stream_options.include_usage, so only a plain
    # response carries the engine's own usage through the gateway (docs/llama-cpp.md).
    _engine(engines, "llama_cpp_python")
    report, records = loadtest(gateway, GROUP["llama_cpp_python"], tmp_path / "report.json", stream=False)
    assert (report["completed"], report["failed"]) == (REQUESTS, 0), (report.get("errors"), result_of(records))
    assert [r.output_tokens for r in records] == [MAX_TOKENS] * REQUESTS
    assert report["total_output_tokens"] == REQUESTS * MAX_TOKENS
    assert report["total_input_tokens"] == sum(r.input_tokens or 0 for r in records) > 0
