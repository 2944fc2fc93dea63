"""Shared helpers for the integration tests: simulator sets, counters, generated-config lookups."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from generator.providers import REGISTRY
from tests.plugins.gateway import RunningGateway

__all__ = [
    "FAST",
    "api_base_of",
    "deployment_ids",
    "fan_out",
    "model_counts",
    "started_simulators",
]

# Quick simulators: the gateway's own overhead is what these tests exercise.
FAST: dict[str, Any] = {"ttft_ms": 2, "tpot_ms": 1, "output_tokens": 4, "slots": 256}

@contextlib.contextmanager
def started_simulators(specs: dict[str, tuple[str, list[str]]], **config: Any) -> Iterator[dict[str, RunningSimulator]]:
    """Start one simulator per ``name: (type, models)``; stop them all afterwards."""
    sims: dict[str, RunningSimulator] = {}
    try:
        for name, (sim_type, models) in specs.items():
            sims[name] = start_simulator(SimulatorConfig(type=sim_type, models=models, **{**FAST, **config}))
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def vllm_providers(sims: dict[str, RunningSimulator]) -> dict[str, Any]:
    """One active vLLM provider `p-NAME` serving `m-NAME` per simulator."""
    return {
        f"p-{name}": {"type": "vllm", "base_url": sim.url, "status": "active", "models": [f"m-{name}"]}
        for name, sim in sims.items()
    }


def aliases_onto(names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`NAME` -> provider `p-NAME`, model `m-NAME` (pairs with ``vllm_providers``)."""
    return {name: {"provider": f"p-{name}", "backend_model": f"m-{name}"} for name in names}


def api_base_of(sim: RunningSimulator) -> str:
    """What LiteLLM reports in x-litellm-model-api-base for a deployment on ``sim``."""
    # The OpenAI family is reached under <url>/v1 (these tests give openai providers that base);
    # Ollama natively at the root.
    return sim.url + "/v1" if REGISTRY[sim.config.type].api_family == "openai" else sim.url


def model_counts(sim: RunningSimulator) -> dict[str, int]:
    """Inference requests the simulator received, by the model named in the body."""
    return dict(sim.stats()["models_requested"])


def deployment_ids(config_file: Path, group: str) -> list[str]:
    """model_info.id of every deployment of ``group`` in a generated config."""
    data = yaml.safe_load(config_file.read_text())
    return [e["model_info"]["id"] for e in data["model_list"] if e["model_name"] == group]


def fan_out(gw: RunningGateway, model: str, count: int, *, workers: int = 8) -> list[httpx.Response]:
    """``count`` chat requests for ``model``, ``workers`` at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda i: gw.chat(model, content=f"request {i}"), range(count)))
