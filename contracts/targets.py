"""Where the contract suite points: ``TYPE=URL`` strings and a providers.yaml's active providers.

A providers.yaml is read by the compiler's own loader (``generator.load``: YAML syntax and schema),
so an invalid one is reported exactly as ``aibackend validate`` reports it: ``ConfigInvalid`` with
every located diagnostic (file, key path, line, hint). Its types come from the provider registry.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from contracts.suite.probe import Target
from generator.diagnostics import sort_diagnostics
from generator.errors import ConfigInvalid, UsageError
from generator.load import load_providers_file as read_providers
from generator.models import ProvidersFile
from generator.providers import GATEWAY_CONTRACT_TYPE, REGISTRY, contract_types

__all__ = ["DEFAULT_KEY_ENV", "api_key_from_env", "load_providers_file", "parse_target", "targets_from_providers_file"]

# The gateway's master key variable (gateway.yaml's default); other types need no key by default.
DEFAULT_KEY_ENV = {GATEWAY_CONTRACT_TYPE: "LITELLM_MASTER_KEY"}


def parse_target(spec: str, *, model: str | None = None, api_key: str | None = None) -> Target:
    """``vllm=http://127.0.0.1:8000`` → Target; a clear UsageError for anything else."""
    provider_type, sep, url = spec.partition("=")
    provider_type, url = provider_type.strip(), url.strip()
    if not sep or not provider_type or not url:
        raise UsageError(f"--target {spec!r}: expected TYPE=URL", hint="e.g. --target vllm=http://127.0.0.1:8000")
    known = contract_types()
    if provider_type not in known:
        raise UsageError(f"--target {spec!r}: unknown provider type {provider_type!r}", hint=f"use one of: {', '.join(known)}")
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


def load_providers_file(path: Path) -> ProvidersFile:
    """One providers.yaml, wherever it is, through layers 1-2 of ``aibackend validate`` (YAML syntax,
    then the schema of each provider's type); ``ConfigInvalid`` with the located diagnostics if invalid."""
    try:
        providers, diagnostics = read_providers(path)
    except UsageError as exc:
        reason = exc.message.rpartition(": ")[2]  # the OS's words: "No such file or directory"
        raise UsageError(f"--providers-file {path}: cannot read it: {reason}") from None
    if providers is None:
        raise ConfigInvalid(sort_diagnostics(diagnostics))
    return providers


def targets_from_providers_file(path: Path, *, model: str | None = None, api_key_env: str | None = None) -> list[Target]:
    """One Target per ``status: active`` provider of a providers.yaml, held to its type's contract."""
    targets = []
    for name, provider in load_providers_file(path).providers.items():
        if not provider.is_active:
            continue
        contract_type = REGISTRY[provider.type].contract_type
        if contract_type is None:
            raise UsageError(
                f"{path}: providers.{name}.type: {provider.type!r} has no contract",
                hint=f"contract types: {', '.join(contract_types())}",
            )
        key = api_key_from_env(api_key_env or provider.api_key_env, contract_type)
        targets.append(
            Target(contract_type, provider.base_url, model=model or provider.models[0].name, api_key=key, name=name)
        )
    if not targets:
        raise UsageError(f"--providers-file {path}: no active provider to check")
    return targets
