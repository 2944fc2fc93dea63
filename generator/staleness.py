"""Layer 6 — staleness: is the generated file on disk what the sources generate now?

Content, not modification times: the file records the sha256 of each source and of its own
body, so a stale file (sources changed) and a hand-edited one (body changed) are told apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from generator.diagnostics import Diagnostic
from generator.load import Sources
from generator.render import body_of, comparable, parse_metadata

__all__ = ["STALENESS_CODES", "check_staleness", "staleness_problem"]

# Every code this layer reports.
STALENESS_CODES = frozenset(
    {"generated-missing", "generated-not-ours", "generated-hand-edited", "generated-stale", "generated-unreadable"}
)


def staleness_problem(on_disk: str | None, expected: str) -> tuple[str, str, str] | None:
    """(code, message, hint) when ``on_disk`` is not what would be generated, else None."""
    regenerate = "run `aibackend generate` (and commit the result)"
    if on_disk is None:
        return "generated-missing", "the generated config does not exist yet", regenerate
    if comparable(on_disk) == comparable(expected):
        return None
    metadata = parse_metadata(on_disk)
    if metadata is None:
        return (
            "generated-not-ours",
            "the file is not a generated config (no AUTO-GENERATED marker on its first line)",
            "it was replaced or hand-written; " + regenerate,
        )
    body_hash = hashlib.sha256(body_of(on_disk).encode()).hexdigest()
    if body_hash != metadata.body_sha256:
        return (
            "generated-hand-edited",
            "the generated config was edited by hand (its body no longer matches its recorded sha256)",
            "move the change into providers.yaml / model-mappings.yaml / gateway.yaml, then " + regenerate,
        )
    expected_meta = parse_metadata(expected)
    changed = sorted(
        name
        for name in set(metadata.sources) | set(expected_meta.sources if expected_meta else {})
        if metadata.sources.get(name) != (expected_meta.sources.get(name) if expected_meta else None)
    )
    if changed:
        return (
            "generated-stale",
            f"the generated config is stale: {', '.join(changed)} changed since it was generated",
            regenerate,
        )
    return (
        "generated-stale",
        "the generated config differs from what this generator version produces",
        regenerate,
    )


def check_staleness(
    sources: Sources, path: Path, expected: str, *, severity: Literal["error", "warning"] = "error"
) -> list[Diagnostic]:
    try:
        on_disk: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        on_disk = None
    except (OSError, UnicodeDecodeError) as exc:
        return [Diagnostic("generated-unreadable", f"cannot read {path}: {exc}", str(path), severity=severity)]
    problem = staleness_problem(on_disk, expected)
    if problem is None:
        return []
    code, message, hint = problem
    if code == "generated-missing" and severity == "warning":
        return [Diagnostic(code, message, str(path), hint=hint, severity="info")]
    return [Diagnostic(code, message, str(path), hint=hint, severity=severity)]
