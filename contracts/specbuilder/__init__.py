"""Builds the strict OpenAPI 3.1 spec of each contract type (``contracts/specs/<type>.yaml``).

One module per contract type, as ``generator/providers/`` has one per provider type: ``openai``,
``vllm``, ``llama_cpp``, ``llama_cpp_python``, ``litellm`` (the gateway) and ``ollama``. Each
defines ``CONTRACT_TYPE`` and ``build()`` and holds the type's known deviations
(``KNOWN_DEVIATIONS``: what its real server does against the contract, with the evidence). They are
discovered, so a new contract type is one module here plus its ``contract_type`` in the provider
registry; a unit test fails when the two disagree.

The specs share most of their schemas (the OpenAI-compatible core), so they are generated rather
than copied by hand; each generated file is self-contained (no external ``$ref``), which keeps
schemathesis and jsonschema simple. Regenerate with ``python -m contracts.specbuilder`` after
editing; a unit test fails when a checked-in spec and its builder disagree.

The shared pieces: ``blocks`` (schema shorthands, responses, ``document``), ``openai_family`` (the
``/v1`` core), ``deviations`` (the record format; fuzz records), ``render`` (spec → YAML text).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

from contracts.provenance import attach
from contracts.schemas import SPEC_DIR, spec_path
from contracts.specbuilder.blocks import Schema
from contracts.specbuilder.render import render
from generator.providers import contract_types

__all__ = ["BUILDERS", "SPEC_DIR", "build_spec", "discover", "render", "spec_path", "write_specs"]

Builder = Callable[[], Schema]


def discover() -> dict[str, Builder]:
    """Every module of this package that defines ``CONTRACT_TYPE``: its type → its ``build``."""
    builders: dict[str, Builder] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # __main__ is the command, not a builder
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        contract_type: str | None = getattr(module, "CONTRACT_TYPE", None)
        if contract_type is not None:
            builders[contract_type] = module.build
    return builders


BUILDERS: dict[str, Builder] = discover()


def build_spec(contract_type: str) -> Schema:
    """The type's spec, with where each of its rules comes from written in (contracts/provenance/)."""
    if contract_type not in BUILDERS:
        raise KeyError(f"no spec builder for contract type {contract_type!r} (contracts/specbuilder/{contract_type}.py)")
    return attach(BUILDERS[contract_type](), contract_type)


def write_specs(directory: Path = SPEC_DIR) -> list[Path]:
    """Every contract type's spec, rendered into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for contract_type in contract_types():
        path = directory / f"{contract_type}.yaml"
        path.write_text(render(build_spec(contract_type)), encoding="utf-8")
        written.append(path)
    return written
