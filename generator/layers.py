"""The seven validation layers, in order, as one list: what ``validate`` runs and what it prints.

Each layer is a function of the pipeline's ``Context`` returning diagnostics; it never raises for a
user error. A layer says what it needs (``needs``): the files read, the typed sources, or the
rendered config (layers 6-7 judge the generated text, so the pipeline renders before them, and
only when layers 1-5 found no error). Which layers a command runs is one of the named selections
below; ``generator.pipeline.build`` runs them.

    1 syntax       YAML read safely, with the line of every key         generator.yamlsource / load
    2 schema       pydantic models, located errors, "did you mean"      generator.load, generator.models
    3 consistency  routing resolved, references, cycles, duplicates     generator.routing, generator.checks
    4 ports        two providers on one host:port; the gateway's port   generator.checks
    5 environment  *_env variables set; no literal secret in a source   generator.checks
    6 staleness    the generated file on disk is what the sources give  generator.staleness
    7 litellm      every key is one LiteLLM reads; litellm.Router builds generator.acceptance
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from generator.acceptance import Prefetch
from generator.checks import check_consistency, check_environment, check_ports
from generator.diagnostics import Diagnostic
from generator.load import ParsedSources, Sources, read_sources, type_sources
from generator.routing import RouteTable, resolve_routes
from generator.staleness import check_staleness

__all__ = [
    "ALL",
    "COMPILE",
    "CRITICAL",
    "LAYERS",
    "Context",
    "Layer",
]

Need = Literal["directory", "parsed", "sources", "rendered"]


@dataclass
class Context:
    """What one run of the pipeline knows so far; each layer reads it and may add to it."""

    config_dir: Path
    output: Path  # the generated file layer 6 compares with
    environ: Mapping[str, str] | None = None  # layer 5's environment (None: os.environ)
    staleness_severity: Literal["error", "warning"] = "warning"
    texts: Mapping[str, str] | None = None  # role -> text standing in for the file (an edit not yet written)
    parsed: ParsedSources | None = None
    sources: Sources | None = None
    routes: RouteTable | None = None
    config: dict[str, Any] | None = None  # the rendered LiteLLM config (plain data)
    text: str | None = None  # ... and its text, as `generate` writes it
    prefetch: Prefetch | None = None  # layer 7's worker, importing LiteLLM while layers 1-6 run


@dataclass(frozen=True)
class Layer:
    number: int
    name: str
    critical: bool  # fast and blocking: `validate --critical` and the pre-commit hook
    needs: Need
    run: Callable[[Context], list[Diagnostic]] = field(repr=False)


def _syntax(context: Context) -> list[Diagnostic]:
    context.parsed, found = read_sources(context.config_dir, context.texts)
    return found


def _schema(context: Context) -> list[Diagnostic]:
    assert context.parsed is not None
    context.sources, found = type_sources(context.parsed)
    return found


def _consistency(context: Context) -> list[Diagnostic]:
    assert context.sources is not None
    context.routes, found = resolve_routes(context.sources)
    return found + check_consistency(context.sources, context.routes)


def _ports(context: Context) -> list[Diagnostic]:
    assert context.sources is not None
    return check_ports(context.sources)


def _environment(context: Context) -> list[Diagnostic]:
    assert context.sources is not None and context.parsed is not None
    texts = {parsed.file: parsed.text for parsed in context.parsed.parsed.values()}
    return check_environment(context.sources, None if context.environ is None else dict(context.environ), texts)


def _staleness(context: Context) -> list[Diagnostic]:
    assert context.sources is not None and context.text is not None
    return check_staleness(context.sources, context.output, context.text, severity=context.staleness_severity)


def litellm_installed() -> bool:
    return importlib.util.find_spec("litellm") is not None


def _litellm(context: Context) -> list[Diagnostic]:
    if not litellm_installed():
        # The base install (no [gateway] extra) has no LiteLLM to ask: say so, do not pretend.
        return [Diagnostic(
            "litellm-not-installed",
            "layer 7 not run: LiteLLM is not installed, so its acceptance of the generated config was not checked",
            file=str(context.output),
            hint="pip install 'ai-backend-unified[gateway]' where the gateway runs, and validate there",
            severity="warning",
        )]
    # check_acceptance imports LiteLLM (seconds): asked only when no kept answer fits.
    from generator.acceptance import cached_check, check_acceptance

    assert context.config is not None
    cached = cached_check(context.config, str(context.output))
    if cached is not None:
        return cached  # this LiteLLM was seen to accept exactly this; the worker is stopped unasked
    if context.prefetch is not None:
        found = context.prefetch.check(context.config, str(context.output))
        if found is not None:
            return found
        # The worker failed (it should not): check here, where a failure shows its traceback.
    return check_acceptance(context.config, str(context.output))


LAYERS: tuple[Layer, ...] = (
    Layer(1, "syntax", True, "directory", _syntax),
    Layer(2, "schema", True, "parsed", _schema),
    Layer(3, "consistency", True, "sources", _consistency),
    Layer(4, "ports", False, "sources", _ports),
    Layer(5, "environment", False, "sources", _environment),
    Layer(6, "staleness", False, "rendered", _staleness),
    Layer(7, "litellm", False, "rendered", _litellm),
)

# The selections commands run (names of LAYERS, in order).
CRITICAL: tuple[str, ...] = tuple(layer.name for layer in LAYERS if layer.critical)
# What a config must pass before it is rendered for use (gateway start, reload, demo, diff): the
# layers that need neither the file on disk nor LiteLLM.
COMPILE: tuple[str, ...] = tuple(layer.name for layer in LAYERS if layer.needs != "rendered")
ALL: tuple[str, ...] = tuple(layer.name for layer in LAYERS)
