"""The compiler's one entry point: config directory in, diagnostics and generated text out.

``build`` runs a selection of the validation layers (``generator.layers``) over one ``Context`` and
renders the LiteLLM config when they found no error. Every command that reads the sources goes
through it: ``validate`` (all seven, or the critical three), ``generate`` (all but staleness, which
it replaces), ``gateway start``/``reload``/``demo``/``diff`` (the compile selection), ``ci``.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from generator.acceptance import Prefetch
from generator.diagnostics import Diagnostic, errors_of, sort_diagnostics
from generator.layers import COMPILE, LAYERS, Context, litellm_installed
from generator.load import Sources
from generator.render import render_config, render_text
from generator.routing import RouteTable
from generator.store import output_path

__all__ = ["Build", "build", "git_commit"]


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


def build(
    config_dir: Path,
    *,
    layers: Iterable[str] = COMPILE,
    environ: Mapping[str, str] | None = None,
    render: bool = True,
    commit: str | None = None,
    output: Path | None = None,
    staleness_severity: Literal["error", "warning"] = "warning",
    texts: Mapping[str, str] | None = None,
) -> Build:
    """Run the selected layers (names of ``generator.layers.LAYERS``) and render when valid.

    ``output`` is the generated file layer 6 compares with (default: the config directory's).
    Layers that judge the rendered config run only when ``render`` is true and layers 1-5 found
    no error. ``texts`` (role -> text) replaces source files on disk: an edit is validated, and
    rendered, before it is written.
    """
    # A compile allocates hundreds of thousands of small objects and frees none of them until it
    # returns: the cyclic GC's full passes would only rescan them (superlinear at 16k models).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    selected = set(layers)
    context = Context(
        config_dir=Path(config_dir),
        output=output_path(Path(config_dir), output),
        environ=environ,
        staleness_severity=staleness_severity,
        texts=texts,
    )
    try:
        if render and "litellm" in selected and "litellm" not in sys.modules and litellm_installed():
            # Importing LiteLLM takes seconds: a worker does it on the other core while layers 1-6 run.
            context.prefetch = Prefetch()
        return _run(context, selected, render=render, commit=commit)
    finally:
        if context.prefetch is not None:
            context.prefetch.close()
        if gc_was_enabled:
            gc.enable()


def _run(context: Context, selected: set[str], *, render: bool, commit: str | None) -> Build:
    unknown = selected - {layer.name for layer in LAYERS}
    if unknown:
        raise ValueError(f"no such validation layer: {', '.join(sorted(unknown))}")
    diagnostics: list[Diagnostic] = []
    ran: list[str] = []
    for layer in LAYERS:
        # Syntax and schema always run: nothing after them can without typed sources.
        if layer.name not in selected and layer.needs not in ("directory", "parsed"):
            continue
        if layer.needs == "parsed" and context.parsed is None:
            break
        if layer.needs == "sources" and context.sources is None:
            break
        if layer.needs == "rendered":
            if not render or errors_of(diagnostics):
                break
            _render(context, commit)
        diagnostics += layer.run(context)
        ran.append(layer.name)
    if render and context.text is None and context.sources is not None and not errors_of(diagnostics):
        _render(context, commit)
    return Build(
        sources=context.sources,
        routes=context.routes,
        diagnostics=sort_diagnostics(diagnostics),
        text=context.text,
        config=context.config,
        layers_run=ran,
    )


def _render(context: Context, commit: str | None) -> None:
    if context.text is not None:
        return
    assert context.sources is not None and context.routes is not None
    context.config = render_config(context.sources, context.routes)
    context.text = render_text(
        context.sources, context.config, git_commit=commit if commit is not None else git_commit(context.config_dir)
    )
