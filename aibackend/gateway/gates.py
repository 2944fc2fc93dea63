"""The health gates a new gateway instance must pass before it takes traffic.

1. readiness   ``/health/readiness`` answers 200 (checked while starting the instance);
2. models      ``/v1/models`` lists every group of the generated config;
3. smoke       one tiny completion per provider type reaches that type's backend, seen in
               LiteLLM's ``x-litellm-model-api-base`` response header (fallbacks disabled, so a
               dead backend cannot hide behind another one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import yaml

from generator.errors import GatewayError

__all__ = ["GateFailed", "SmokeTarget", "run_gates", "smoke_targets"]

# litellm_params.model prefix -> the provider family it talks to.
_PREFIX_FAMILY = {
    "ollama_chat": "ollama",
    "ollama": "ollama",
    "hosted_vllm": "vllm",
    "openai": "openai-compatible",
    "anthropic": "anthropic",
}


class GateFailed(GatewayError):
    """A new instance failed one gate; ``gate`` names it (readiness, models, smoke)."""

    def __init__(self, gate: str, message: str) -> None:
        super().__init__(f"gate '{gate}' failed: {message}")
        self.gate = gate


@dataclass(frozen=True)
class SmokeTarget:
    family: str
    group: str
    api_bases: frozenset[str]


def _entries(config_text: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(config_text) or {}
    entries = data.get("model_list") or []
    return [e for e in entries if isinstance(e, dict)]


def expected_groups(config_text: str) -> set[str]:
    return {str(e["model_name"]) for e in _entries(config_text) if "*" not in str(e.get("model_name", ""))}


def _norm(url: str) -> str:
    return url.rstrip("/")


def smoke_targets(config_text: str) -> list[SmokeTarget]:
    """One group per provider family, preferring a group whose deployments are all of that family."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in _entries(config_text):
        name = str(entry.get("model_name", ""))
        if "*" not in name:
            groups.setdefault(name, []).append(entry.get("litellm_params") or {})
    chosen: dict[str, SmokeTarget] = {}
    for name in sorted(groups, key=lambda n: (len(groups[n]), n)):
        params = groups[name]
        families = {_PREFIX_FAMILY.get(str(p.get("model", "")).split("/", 1)[0], "other") for p in params}
        if len(families) != 1:
            continue
        family = families.pop()
        if family not in chosen:
            bases = frozenset(_norm(str(p.get("api_base", ""))) for p in params)
            chosen[family] = SmokeTarget(family=family, group=name, api_bases=bases)
    return [chosen[f] for f in sorted(chosen)]


def run_gates(base_url: str, key: str, config_text: str, *, timeout: float = 60.0) -> None:
    """Raise GateFailed naming the first gate the instance at ``base_url`` does not pass."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:
        try:
            ready = client.get("/health/readiness")
        except httpx.HTTPError as exc:
            raise GateFailed("readiness", f"{base_url}/health/readiness: {exc}") from exc
        if ready.status_code != 200:
            raise GateFailed("readiness", f"/health/readiness answered {ready.status_code}")
        try:
            listed_response = client.get("/v1/models")
        except httpx.HTTPError as exc:
            raise GateFailed("models", f"{base_url}/v1/models: {exc}") from exc
        if listed_response.status_code != 200:
            raise GateFailed("models", f"/v1/models answered {listed_response.status_code}")
        listed = {str(m.get("id")) for m in listed_response.json().get("data", [])}
        missing = sorted(expected_groups(config_text) - listed)
        if missing:
            raise GateFailed("models", f"/v1/models does not list {', '.join(missing)}")
        for target in smoke_targets(config_text):
            _smoke(client, target)


def _smoke(client: httpx.Client, target: SmokeTarget) -> None:
    body = {
        "model": target.group,
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
        "disable_fallbacks": True,
        "num_retries": 0,
        # Past the (shared) response cache: an earlier gate's cached answer names no backend.
        "cache": {"no-cache": True, "no-store": True},
    }
    label = f"{target.family} via '{target.group}'"
    try:
        response = client.post("/v1/chat/completions", json=body)
    except httpx.HTTPError as exc:
        raise GateFailed("smoke", f"{label}: {exc}") from exc
    if response.status_code != 200:
        raise GateFailed("smoke", f"{label}: status {response.status_code}: {response.text[:300]}")
    answered = _norm(response.headers.get("x-litellm-model-api-base", ""))
    if answered not in target.api_bases:
        raise GateFailed(
            "smoke", f"{label} was answered by {answered or 'an unknown backend'}, expected {sorted(target.api_bases)}"
        )
