"""Validation layers 3-5 as independent functions over typed ``Sources``.

Each function here returns diagnostics and never raises for a user error; ``generator.layers``
lists all seven layers in order.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from generator.diagnostics import Diagnostic
from generator.load import Sources
from generator.providers import REGISTRY
from generator.routing import RouteTable, resolve_routes
from generator.yamlsource import KeyPath, format_path

__all__ = [
    "check_consistency",
    "check_environment",
    "check_ports",
    "scan_secrets",
    "scan_secrets_text",
]


def _diag(
    sources: Sources,
    role: str,
    path: KeyPath,
    code: str,
    message: str,
    hint: str | None = None,
    severity: Literal["error", "warning", "info"] = "error",
) -> Diagnostic:
    return Diagnostic(code, message, sources.files[role], format_path(path), sources.line(role, path), hint, severity)


# --- layer 3: consistency ----------------------------------------------------------------------


def check_consistency(sources: Sources, routes: RouteTable | None = None) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    if routes is None:
        routes, found = resolve_routes(sources)
        diagnostics.extend(found)
    capabilities = set(sources.mappings.capabilities)
    for name, provider in sources.providers.providers.items():
        provider_type = REGISTRY[provider.type]
        where: KeyPath = ("providers", name)
        suffix = provider_type.forbidden_base_suffix
        if suffix and provider.base_url.endswith(suffix):
            diagnostics.append(
                _diag(
                    sources, "providers", (*where, "base_url"), "base-url-suffix",
                    f"base_url of {provider.type} provider `{name}` must not end in {suffix}",
                    f"use {provider.base_url.removesuffix(suffix)}: LiteLLM's {provider_type.litellm_prefix}/ "
                    "talks to the native API at the server root",
                )
            )
        if provider.type == "anthropic" and provider.is_active and not provider.api_key_env:
            diagnostics.append(
                _diag(sources, "providers", where, "missing-api-key-env",
                      f"active anthropic provider `{name}` needs api_key_env",
                      "add api_key_env: ANTHROPIC_API_KEY and export that variable")
            )
        seen: set[str] = set()
        for index, model in enumerate(provider.models):
            at: KeyPath = (*where, "models", index)
            if model.name in seen:
                diagnostics.append(
                    _diag(sources, "providers", at, "duplicate-model",
                          f"model `{model.name}` is listed twice for provider `{name}`", "remove one of them")
                )
            seen.add(model.name)
            for cap_index, tag in enumerate(model.capabilities):
                if tag not in capabilities:
                    diagnostics.append(
                        _diag(sources, "providers", (*at, "capabilities", cap_index), "unknown-capability",
                              f"capability `{tag}` is not defined in model-mappings.yaml",
                              f"defined capabilities: {', '.join(sorted(capabilities)) or 'none'}",
                              severity="warning")
                    )
    diagnostics += _exclusive_groups(sources)
    reliability = sources.gateway.reliability
    for key in ("timeout", "stream_timeout", "request_timeout", "cooldown_time"):
        value = getattr(reliability, key)
        if value <= 0:
            diagnostics.append(
                _diag(sources, "gateway", ("reliability", key), "non-positive-timeout",
                      f"{key} must be positive, got {value}", "give a number of seconds greater than 0")
            )
    if sources.gateway.cache.ttl <= 0:
        diagnostics.append(
            _diag(sources, "gateway", ("cache", "ttl"), "non-positive-timeout",
                  f"ttl must be positive, got {sources.gateway.cache.ttl}", "give a number of seconds greater than 0")
        )
    if reliability.timeout > reliability.request_timeout:
        diagnostics.append(
            _diag(sources, "gateway", ("reliability", "timeout"), "timeout-order",
                  f"timeout ({reliability.timeout}s) is longer than request_timeout ({reliability.request_timeout}s): "
                  "retries and fallbacks can never run",
                  "make request_timeout at least timeout x (num_retries + 1)", severity="warning")
        )
    return diagnostics


def _exclusive_groups(sources: Sources) -> list[Diagnostic]:
    """At most one active member per exclusive group: its members share a device (one GPU)."""
    diagnostics: list[Diagnostic] = []
    active: dict[str, str] = {}
    for name, provider in sources.providers.providers.items():
        group = provider.exclusive_group
        if group is None or not provider.is_active:
            continue
        if group in active:
            diagnostics.append(
                _diag(sources, "providers", ("providers", name, "status"), "exclusive-group-conflict",
                      f"providers `{active[group]}` and `{name}` of exclusive group `{group}` are both active; "
                      "only one member of a group can run at a time",
                      f"set status: disabled on one of them, or let `aibackend switch {name}` do it")
            )
        else:
            active[group] = name
    return diagnostics


# --- layer 4: ports ------------------------------------------------------------------------------

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "[::1]"}


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return ("localhost" if host in _LOCAL_HOSTS else host), port


def check_ports(sources: Sources) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    owners: dict[tuple[str, int], str] = {}
    for name, provider in sources.providers.providers.items():
        if not provider.is_active:
            continue
        endpoint = _endpoint(provider.base_url)
        if endpoint in owners:
            diagnostics.append(
                _diag(sources, "providers", ("providers", name, "base_url"), "port-conflict",
                      f"providers `{owners[endpoint]}` and `{name}` both use {endpoint[0]}:{endpoint[1]}",
                      "give each active provider its own port (one server per port)")
            )
        else:
            owners[endpoint] = name
    server = sources.gateway.server
    gateway_endpoint = ("localhost" if server.host in _LOCAL_HOSTS else server.host, server.port)
    for endpoint, name in owners.items():
        if endpoint[1] == server.port and (endpoint[0] == gateway_endpoint[0] or server.host == "0.0.0.0"):
            diagnostics.append(
                _diag(sources, "gateway", ("server", "port"), "port-conflict",
                      f"gateway port {server.port} is also provider `{name}`'s port",
                      "choose another server.port in gateway.yaml (default 4000)")
            )
    cache = sources.gateway.cache
    if cache.enabled and cache.type == "redis" and cache.port == server.port and (
        "localhost" if cache.host in _LOCAL_HOSTS else cache.host
    ) == gateway_endpoint[0]:
        diagnostics.append(
            _diag(sources, "gateway", ("cache", "port"), "port-conflict",
                  f"cache port {cache.port} is the gateway's port", "Redis listens on 6379 by default")
        )
    return diagnostics


# --- layer 5: environment and secrets ---------------------------------------------------------

# Literal secrets: provider key formats, and any secret-looking key given a literal value.
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|ghp_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|hf_[A-Za-z0-9]{20,}"
    r"|xox[baprs]-[A-Za-z0-9\-]{10,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"
)
_SECRET_KEY = re.compile(
    r"^\s*-?\s*[\"']?(api_key|apikey|master_key|password|secret|token|access_key|private_key)[\"']?\s*:\s*(\S.*)$",
    re.IGNORECASE,
)
_ALLOWED_VALUES = re.compile(r"^(os\.environ/[A-Za-z_][A-Za-z0-9_]*|null|~|\"\"|''|sk-no-key-required)\s*(#.*)?$")


# Words one of the patterns above needs (lower-cased: a superset of what either can match). Only the
# lines holding one are checked one by one: a 16k-model file has 100k lines and a handful of hits.
_CANDIDATES = ("api_key", "apikey", "master_key", "password", "secret", "token", "access_key", "private_key",
               "sk-", "ghp_", "akia", "hf_", "xox", "eyj")
# The line breaks str.splitlines() splits on, so that line numbers agree with it.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _candidate_lines(text: str) -> list[int]:
    """Indexes (into ``text.splitlines()``) of the lines holding a candidate word, in order."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lower case is longer: check every line
        return list(range(len(text.splitlines())))
    hits = []
    for candidate in _CANDIDATES:  # str.find: a fast scan in C, where a regex alternation is slow
        found = lowered.find(candidate)
        while found >= 0:
            hits.append(found)
            found = lowered.find(candidate, found + 1)
    if not hits:
        return []
    starts = [0, *(match.end() for match in _LINE_BREAK.finditer(text))]
    return sorted({bisect.bisect_right(starts, position) - 1 for position in hits})


def scan_secrets(path: Path, display: str) -> list[Diagnostic]:
    """Anything that looks like a literal secret in a source file is an error."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return scan_secrets_text(text, display)


def scan_secrets_text(text: str, display: str) -> list[Diagnostic]:
    """``scan_secrets`` over a file's text (layer 5 scans what layer 1 read, on disk or not yet)."""
    diagnostics: list[Diagnostic] = []
    candidates = _candidate_lines(text)
    lines = text.splitlines() if candidates else []
    for index in candidates:
        number, line = index + 1, lines[index]
        stripped = line.split("#", 1)[0] if not line.lstrip().startswith("#") else line
        key_match = _SECRET_KEY.match(stripped)
        value_match = _SECRET_VALUE.search(line)
        if key_match and not _ALLOWED_VALUES.match(key_match.group(2).strip()):
            diagnostics.append(
                Diagnostic("literal-secret",
                           f"`{key_match.group(1)}` has a literal value: secrets must not be written in config files",
                           display, "", number,
                           f"use `{key_match.group(1)}_env: VARNAME` and export VARNAME in the environment")
            )
        elif value_match:
            diagnostics.append(
                Diagnostic("literal-secret",
                           f"this line contains what looks like a secret ({value_match.group(1)[:6]}...)",
                           display, "", number,
                           "remove it, rotate the key, and reference it through an environment variable (*_env)")
            )
    return diagnostics


def check_environment(
    sources: Sources, environ: dict[str, str] | None = None, texts: Mapping[str, str] | None = None
) -> list[Diagnostic]:
    """Variables the sources need, and literal secrets; ``texts`` (display path -> text) are the
    files as layer 1 read them (otherwise each is read from disk)."""
    env = dict(os.environ) if environ is None else environ
    diagnostics: list[Diagnostic] = []
    for name, provider in sources.providers.providers.items():
        if provider.is_active and provider.api_key_env and not env.get(provider.api_key_env):
            diagnostics.append(
                _diag(sources, "providers", ("providers", name, "api_key_env"), "env-unset",
                      f"environment variable {provider.api_key_env} is not set (needed by active provider `{name}`)",
                      f"export {provider.api_key_env}=... before starting the gateway; "
                      "LiteLLM would fail at the first request otherwise", severity="warning")
            )
    server = sources.gateway.server
    if not env.get(server.master_key_env):
        diagnostics.append(
            _diag(sources, "gateway", ("server", "master_key_env"), "env-unset",
                  f"environment variable {server.master_key_env} is not set: the gateway will refuse to start",
                  f"export {server.master_key_env}=sk-$(openssl rand -hex 24)", severity="warning")
        )
    cache = sources.gateway.cache
    if cache.enabled and cache.type == "redis" and cache.password_env and not env.get(cache.password_env):
        diagnostics.append(
            _diag(sources, "gateway", ("cache", "password_env"), "env-unset",
                  f"environment variable {cache.password_env} is not set (Redis password)",
                  f"export {cache.password_env}=... or set cache.password_env: null for a Redis without a password",
                  severity="warning")
        )
    for display in sources.files.values():
        if texts is not None and display in texts:
            diagnostics.extend(scan_secrets_text(texts[display], display))
            continue
        path = sources.config_dir / Path(display).name
        if path.is_file():
            diagnostics.extend(scan_secrets(path, display))
    return diagnostics

