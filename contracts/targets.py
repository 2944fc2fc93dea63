"""Where the contract suite points: ``TYPE=URL`` strings and a providers.yaml's active providers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import yaml

from contracts.specbuilder import PROVIDER_TYPES
from contracts.suite import Target
from generator.errors import UsageError

__all__ = ["DEFAULT_KEY_ENV", "api_key_from_env", "parse_target", "targets_from_providers_file"]

# The gateway's master key variable (gateway.yaml's default); other types need no key by default.
DEFAULT_KEY_ENV = {"litellm": "LITELLM_MASTER_KEY"}


def parse_target(spec: str, *, model: str | None = None, api_key: str | None = None) -> Target:
    """``vllm=http://127.0.0.1:8000`` → Target; a clear UsageError for anything else."""
    provider_type, sep, url = spec.partition("=")
    provider_type, url = provider_type.strip(), url.strip()
    if not sep or not provider_type or not url:
        raise UsageError(f"--target {spec!r}: expected TYPE=URL", hint="e.g. --target vllm=http://127.0.0.1:8000")
    if provider_type not in PROVIDER_TYPES:
        raise UsageError(f"--target {spec!r}: unknown provider type {provider_type!r}", hint=f"use one of: {', '.join(PROVIDER_TYPES)}")
    _check_url(url, f"--target {spec!r}")
    return Target(provider_type, url, model=model, api_key=api_key, name=spec)


def _check_url(url: str, where: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UsageError(f"{where}: {url!r} is not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"{where}: {url!r} is not an http(s) URL with a host", hint="e.g. http://127.0.0.1:8000")


def api_key_from_env(variable: str | None, provider_type: str) -> str | None:
    """The bearer key, read ONLY from the environment (never a command-line value)."""
    name = variable or DEFAULT_KEY_ENV.get(provider_type)
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise UsageError(
            f"environment variable {name} is not set (the {provider_type} target needs its bearer key)",
            hint=f"export {name}=... or name another variable with --api-key-env VAR",
        )
    return value


def targets_from_providers_file(path: Path, *, model: str | None = None, api_key_env: str | None = None) -> list[Target]:
    """One Target per ``status: active`` provider of a providers.yaml, typed by its ``type``."""
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--providers-file {path}: cannot read it: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"--providers-file {path}: not valid YAML: {exc}") from exc
    providers = document.get("providers") if isinstance(document, dict) else None
    if not isinstance(providers, dict):
        raise UsageError(f"--providers-file {path}: no 'providers' mapping at the top level")
    targets = []
    for name, entry in providers.items():
        if not isinstance(entry, dict) or entry.get("status", "active") != "active":
            continue
        provider_type, url = entry.get("type"), entry.get("base_url")
        where = f"{path}: providers.{name}"
        if provider_type not in PROVIDER_TYPES:
            raise UsageError(f"{where}.type: {provider_type!r} has no contract", hint=f"contract types: {', '.join(PROVIDER_TYPES)}")
        if not isinstance(url, str):
            raise UsageError(f"{where}.base_url: missing")
        _check_url(url, f"{where}.base_url")
        key = api_key_from_env(api_key_env or entry.get("api_key_env"), provider_type)
        targets.append(Target(provider_type, url, model=model or _first_model(entry), api_key=key, name=str(name)))
    if not targets:
        raise UsageError(f"--providers-file {path}: no active provider to check")
    return targets


def _first_model(entry: dict[str, Any]) -> str | None:
    models = entry.get("models")
    if not isinstance(models, list) or not models:
        return None
    first = models[0]
    if isinstance(first, dict):
        name = first.get("name")
        return str(name) if name else None
    return str(first)
