"""Layer 7's answers, kept per installed LiteLLM, so that a run that would ask the same question
does not import LiteLLM (seconds: the larger part of ``validate`` at 8,000 models).

Two answers are kept, each a pure function of what its key names:
- the keys the installed LiteLLM reads, per config section (``accepted_keys``): a function of the
  installed LiteLLM alone;
- "the Router builds": a function of the installed LiteLLM and of exactly the deployments built
  and the router_settings (their JSON, byte for byte). Only acceptances are kept: a refusal is
  rare, and its full build must name what is refused.

"The installed LiteLLM" is its distribution's version and RECORD (the hash of every file it
installed), with this package's layer-7 code and the Python version: an upgrade, a reinstall
that changes a file, or a change to how the check is made is a new key. The files live in
``<cache>/litellm-acceptance/`` (``generator.cachedir``), or in ``$AIBACKEND_LITELLM_CHECK_CACHE``;
``AIBACKEND_LITELLM_CHECK_CACHE=off`` asks LiteLLM every time. A file that cannot be read or
written is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from generator.atomicfile import write_atomic
from generator.cachedir import aibackend_cache_dir
from generator.errors import StoreError

__all__ = ["ENV", "accepted", "directory", "load_keys", "store_accepted", "store_keys"]

ENV = "AIBACKEND_LITELLM_CHECK_CACHE"
KEEP = 256  # acceptances kept; the oldest go first (each is a few hundred bytes)
_CODE = (Path(__file__).with_name("acceptance.py"), Path(__file__))


def directory() -> Path | None:
    """Where the answers are kept; None when the cache is off."""
    chosen = os.environ.get(ENV)
    if chosen == "off":
        return None
    return Path(chosen) if chosen else aibackend_cache_dir() / "litellm-acceptance"


@functools.lru_cache(maxsize=1)
def _installed() -> tuple[str, str] | None:
    """(LiteLLM's version, the hash naming this installation and this check); None if unknown."""
    try:
        dist = metadata.distribution("litellm")
        record = dist.read_text("RECORD")
        digest = hashlib.sha256(f"{sys.version_info[:2]}\n{dist.version}\n".encode())
        digest.update((record or "").encode())
        for code in _CODE:
            digest.update(code.read_bytes())
    except (metadata.PackageNotFoundError, OSError):
        return None
    if not record:
        return None  # an installation without RECORD cannot be told from another one
    return dist.version, digest.hexdigest()[:32]


def _key_file(kind: str, *parts: str) -> Path | None:
    where, installed = directory(), _installed()
    if where is None or installed is None:
        return None
    digest = hashlib.sha256(installed[1].encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return where / f"{kind}-{installed[0]}-{digest.hexdigest()[:40]}.json"


def _read(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(path: Path | None, data: Any) -> None:
    if path is None:
        return
    with contextlib.suppress(StoreError, OSError):
        write_atomic(path, json.dumps(data, sort_keys=True), make_parents=True)


def load_keys() -> dict[str, set[str]] | None:
    data = _read(_key_file("keys"))
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        return None
    return {section: set(keys) for section, keys in data.items()}


def store_keys(known: dict[str, set[str]]) -> None:
    path = _key_file("keys")
    if path is not None and not path.exists():
        _write(path, {section: sorted(keys) for section, keys in known.items()})


def _question(built: Any, router_settings: Any) -> str:
    # The values of the environment variables the config names (as a hash: they may be secrets):
    # the Router reads them where the config says os.environ/NAME.
    text = json.dumps([built, router_settings], sort_keys=True, default=repr)
    named = sorted(set(re.findall(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)", text)))
    values = [(name, None if name not in os.environ else hashlib.sha256(os.environ[name].encode()).hexdigest())
              for name in named]
    return text + json.dumps(values)


def accepted(built: Any, router_settings: Any) -> bool:
    """True when the installed LiteLLM's Router was seen to build from exactly these."""
    question = _question(built, router_settings)
    data = _read(_key_file("accepted", question))
    return isinstance(data, dict) and data.get("question_sha256") == hashlib.sha256(question.encode()).hexdigest()


def store_accepted(built: Any, router_settings: Any) -> None:
    question = _question(built, router_settings)
    path = _key_file("accepted", question)
    if path is None:
        return
    _write(path, {"question_sha256": hashlib.sha256(question.encode()).hexdigest(), "deployments": len(built)
                  if isinstance(built, list) else None})
    _prune(path.parent)


def _prune(where: Path) -> None:
    with contextlib.suppress(OSError):
        kept = sorted(where.glob("accepted-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
