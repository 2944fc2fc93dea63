"""Helpers shared by the operator commands (health, wait-for, ports, request, requests, demo)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from generator.diagnostics import errors_of
from generator.errors import AibackendError, ConfigInvalid
from generator.load import Sources, load_sources

__all__ = ["api_key_from_env", "read_sources"]


def read_sources(config_dir: Path) -> Sources:
    """Layers 1-2 (YAML, schema) only: enough to know providers and ports, and fast.

    Invalid sources raise ``ConfigInvalid`` (exit 1); the CLI prints its located diagnostics.
    """
    loaded = load_sources(config_dir)
    if loaded.sources is None or errors_of(loaded.diagnostics):
        raise ConfigInvalid(loaded.diagnostics)
    return loaded.sources


def api_key_from_env(variable: str, *, required: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """A bearer key from the environment variable ``variable`` (never from the command line)."""
    env = os.environ if environ is None else environ
    value = env.get(variable) or None
    if value is None and required:
        raise AibackendError(
            f"environment variable {variable} is not set: the gateway needs its key",
            hint=f"export {variable}=... (the key the gateway was started with), or pass --api-key-env VAR",
        )
    return value
