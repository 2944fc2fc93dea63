"""Where aibackend keeps what it can rebuild: ``$AIBACKEND_CACHE_DIR``, else
``$XDG_CACHE_HOME/aibackend``, else ``~/.cache/aibackend`` (the set-up's llama.cpp builds, tiny
models, upstream sources, layer 7's verdicts). Deleting it costs time, never correctness."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["aibackend_cache_dir"]


def aibackend_cache_dir() -> Path:
    explicit = os.environ.get("AIBACKEND_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aibackend"
