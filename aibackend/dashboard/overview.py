"""The data of the dashboard's first page: providers, routing, the gateway. Plain data, no Flask.

Everything here is read from the config directory and its ``.run/`` (the gateway's state) and
shown as it is, minus secrets: a provider's key is named by its variable, never read; URLs lose
any user:password part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from generator.diagnostics import Diagnostic, errors_of
from generator.load import Sources
from generator.routing import RouteTable

__all__ = ["Overview", "health_json", "load_overview", "safe_url"]


def safe_url(url: str) -> str:
    """``url`` without credentials in it (``http://user:pass@host`` -> ``http://host``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Overview:
    config_dir: Path
    problems: list[str] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    route_notes: list[str] = field(default_factory=list)
    gateway: dict[str, Any] | None = None


def _providers(sources: Sources) -> list[dict[str, Any]]:
    return [{
        "name": name, "type": p.type, "status": p.status, "active": p.is_active, "url": safe_url(p.base_url),
        "models": p.model_names(), "api_key_env": p.api_key_env,
    } for name, p in sources.providers.providers.items()]


def _routes(routes: RouteTable) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows ``aibackend validate`` prints: name, kind, backends, fallback chain; then the notes."""
    rows = []
    for name, group in routes.groups.items():
        rows.append({
            "name": name, "kind": group.kind,
            "backends": [f"{d.provider}/{d.backend_model}" + (f" (order {d.order})" if d.order else "")
                         for d in group.deployments],
            "fallbacks": list(routes.fallbacks.get(name, [])),
        })
    notes = [f"pattern {p.pattern!r} -> {p.provider}: {', '.join(p.names) or '(nothing)'}" for p in routes.patterns]
    if routes.catch_all:
        notes.append(f"* -> {routes.catch_all} (any other name, passed as is)")
    if routes.default_fallbacks:
        notes.append(f"default fallbacks: {' -> '.join(routes.default_fallbacks)}")
    return rows, notes


def _gateway(config_dir: Path) -> dict[str, Any] | None:
    """The gateway's status as ``aibackend gateway status --json`` gives it; None when none ran here."""
    from aibackend.gateway import control
    from aibackend.gateway.runtime import RuntimeDir
    from generator.errors import AibackendError

    run_dir = RuntimeDir(config_dir)
    if not run_dir.path.exists():
        return None
    try:
        found = control.status(run_dir).to_json()
    except (AibackendError, OSError, ValueError) as exc:
        return {"running": False, "problem": str(exc)}
    return dict(found)


def load_overview(config_dir: Path) -> Overview:
    from generator.pipeline import build

    overview = Overview(config_dir)
    if not config_dir.is_dir():
        overview.problems.append(f"{config_dir} is not a directory: start the dashboard with --config-dir DIR")
        return overview
    result = build(config_dir, render=False)
    errors: list[Diagnostic] = errors_of(result.diagnostics)
    overview.problems += [d.format() for d in errors]
    if result.sources is not None:
        overview.providers = _providers(result.sources)
    if result.routes is not None and not errors:
        overview.routes, overview.route_notes = _routes(result.routes)
    overview.gateway = _gateway(config_dir)
    return overview


def health_json(config_dir: Path) -> dict[str, Any]:
    """Live health of every active provider and the gateway (``aibackend health``'s probes)."""
    from aibackend.ops.health import check_all, gateway_target, provider_targets
    from generator.pipeline import build

    result = build(config_dir, render=False)
    if result.sources is None:
        return {"results": [], "problem": "the configuration could not be read"}
    targets = [*provider_targets(result.sources), gateway_target(result.sources)]
    results = [r.to_json() for r in check_all(targets)]
    for item in results:
        item["url"] = safe_url(str(item["url"]))
    return {"results": results}
