"""Probing health endpoints: every active provider (per its type) and the gateway's readiness.

One probe is one HTTP GET with a short timeout. What "healthy" means depends on the server:

- Ollama ``/api/tags``: 200 with a ``models`` list;
- vLLM ``/health``: 200 (empty body);
- llama.cpp's llama-server ``/health``: 200 ``{"status": "ok"}``; while it loads the model it answers
  503 ``{"error": {"message": "Loading model"}}`` -- reported as ``loading``, which is not up;
- OpenAI-compatible servers (llama-cpp-python, cloud APIs): ``/v1/models`` 200;
- the gateway: LiteLLM's ``/health/readiness`` 200 (``/health`` would call every model for real).

A network failure never raises: it becomes a ``down`` result whose ``detail`` says why
(``connection refused``, ``timed out after 3 s``, ``cannot resolve host``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from generator.load import Sources
from generator.models import ProviderBase
from generator.providers import REGISTRY

__all__ = [
    "HealthResult",
    "Target",
    "check_all",
    "gateway_target",
    "interpret",
    "probe",
    "provider_target",
    "provider_targets",
    "transport_reason",
]

State = Literal["up", "down", "loading"]
DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True)
class Target:
    """Something to probe: a provider of the registry, the gateway, or a bare URL."""

    name: str
    kind: Literal["provider", "gateway", "url"]
    type: str  # provider type, "litellm" for the gateway, "http" for a bare URL
    url: str
    api_key_env: str | None = None


@dataclass(frozen=True)
class HealthResult:
    target: Target
    state: State
    status_code: int | None
    latency_ms: float | None
    detail: str

    @property
    def healthy(self) -> bool:
        return self.state == "up"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "kind": self.target.kind,
            "type": self.target.type,
            "url": self.target.url,
            "state": self.state,
            "healthy": self.healthy,
            "status_code": self.status_code,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "detail": self.detail,
        }


def provider_target(name: str, provider: ProviderBase) -> Target:
    """A provider's health endpoint (its own ``health_endpoint``, or its type's), whatever its status."""
    return Target(name, "provider", provider.type, REGISTRY[provider.type].health_url(provider), provider.api_key_env)


def provider_targets(sources: Sources) -> list[Target]:
    """The health URL of every ACTIVE provider, in registry order."""
    return [provider_target(name, provider) for name, provider in sources.providers.providers.items()
            if provider.is_active]


def gateway_target(sources: Sources) -> Target:
    server = sources.gateway.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "", "::") else server.host
    return Target("gateway", "gateway", "litellm", f"http://{host}:{server.port}/health/readiness",
                  server.master_key_env)


def transport_reason(exc: httpx.TransportError, timeout: float) -> str:
    """A short, human reason for a failed connection (never a traceback)."""
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return "cannot resolve host"
    if "reset" in text:
        return "connection reset"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"bad HTTP answer: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return None


def interpret(target: Target, response: httpx.Response) -> tuple[State, str]:
    """Up, down or loading, and a one-line detail, from a health endpoint's answer."""
    body = _json(response)
    code = response.status_code
    if target.type == "llama_cpp" and code == 503:
        message = _error_message(body) or "unavailable"
        return ("loading" if "load" in message.lower() else "down"), f"503 {message}"
    if code != 200:
        message = _error_message(body) or response.text[:120].strip() or response.reason_phrase
        return "down", f"HTTP {code}: {message}"
    if target.type == "ollama":
        if isinstance(body, dict) and isinstance(body.get("models"), list):
            return "up", f"{len(body['models'])} model(s)"
        return "down", "HTTP 200 but no `models` list in the answer (is this an Ollama server?)"
    if target.type == "llama_cpp":
        status = body.get("status") if isinstance(body, dict) else None
        return ("up", "ok") if status in ("ok", None) else ("down", f"status {status!r}")
    if target.type == "litellm":
        status = body.get("status") if isinstance(body, dict) else None
        return "up", f"ready ({status})" if status else "ready"
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return "up", f"{len(body['data'])} model(s)"
    return "up", "ok"


def probe(
    target: Target,
    client: httpx.Client,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> HealthResult:
    env = os.environ if environ is None else environ
    headers = {}
    if target.api_key_env and env.get(target.api_key_env):
        headers["Authorization"] = f"Bearer {env[target.api_key_env]}"
    started = time.perf_counter()
    try:
        response = client.get(target.url, headers=headers, timeout=timeout)
    except httpx.TransportError as exc:
        return HealthResult(target, "down", None, None, transport_reason(exc, timeout))
    latency = (time.perf_counter() - started) * 1000
    state, detail = interpret(target, response)
    return HealthResult(target, state, response.status_code, latency, detail)


def check_all(
    targets: Sequence[Target],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> list[HealthResult]:
    """Probe every target concurrently (one slow host does not delay the others); input order kept."""
    if not targets:
        return []
    with httpx.Client(follow_redirects=False) as client, ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(lambda t: probe(t, client, timeout=timeout, environ=environ), targets))
