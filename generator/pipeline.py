"""The compiler's one entry point: config directory in, diagnostics and generated text out."""

from __future__ import annotations

import gc
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.checks import LAYERS, check_consistency
from generator.diagnostics import Diagnostic, errors_of, sort_diagnostics
from generator.load import Sources, load_sources
from generator.render import render_config, render_text
from generator.routing import RouteTable, resolve_routes

__all__ = ["GENERATED_FILE", "Build", "build", "comparable", "default_output", "git_commit"]

GENERATED_FILE = "litellm-unified.yaml"


@dataclass
class Build:
    sources: Sources | None
    routes: RouteTable | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    text: str | None = None
    config: dict[str, Any] | None = None
    layers_run: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not errors_of(self.diagnostics)


def default_output(config_dir: Path) -> Path:
    return Path(config_dir) / GENERATED_FILE


def git_commit(directory: Path) -> str:
    """HEAD of the repository holding ``directory``, or ``none`` outside a repository."""
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "none"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "none"


def comparable(text: str) -> str:
    """Generated text minus the line that changes with every commit (the git commit)."""
    return "\n".join(line for line in text.split("\n") if not line.startswith("# git-commit: "))


def build(
    config_dir: Path,
    *,
    critical: bool = False,
    environ: dict[str, str] | None = None,
    render: bool = True,
    commit: str | None = None,
) -> Build:
    """Run the validation layers (all, or only the critical 1-3) and render when valid."""
    # A compile allocates hundreds of thousands of small objects and frees none of them until it
    # returns: the cyclic GC's full passes would only rescan them (superlinear at 16k models).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(config_dir, critical=critical, environ=environ, render=render, commit=commit)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build(
    config_dir: Path,
    *,
    critical: bool,
    environ: dict[str, str] | None,
    render: bool,
    commit: str | None,
) -> Build:
    loaded = load_sources(config_dir)
    result = Build(loaded.sources, None, list(loaded.diagnostics), layers_run=["syntax", "schema"])
    sources = loaded.sources
    if sources is None:
        result.diagnostics = sort_diagnostics(result.diagnostics)
        return result
    routes, found = resolve_routes(sources)
    result.routes = routes
    result.diagnostics += found
    result.diagnostics += check_consistency(sources, routes)
    result.layers_run.append("consistency")
    if not critical:
        for layer in LAYERS:
            if layer.name == "consistency":
                continue
            if layer.name == "environment":
                from generator.checks import check_environment

                result.diagnostics += check_environment(sources, environ)
            else:
                result.diagnostics += layer.run(sources)
            result.layers_run.append(layer.name)
    result.diagnostics = sort_diagnostics(result.diagnostics)
    if render and result.ok:
        result.config = render_config(sources, routes)
        result.text = render_text(sources, result.config, git_commit=commit if commit is not None else git_commit(config_dir))
    return result
