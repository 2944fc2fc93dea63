"""Shared terminal/JSON output of diagnostics for the commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from generator.diagnostics import Diagnostic, errors_of, warnings_of

__all__ = ["diagnostics_json", "print_diagnostics"]


def diagnostics_json(diagnostics: Sequence[Diagnostic], **extra: Any) -> str:
    payload: dict[str, Any] = {
        "ok": not errors_of(diagnostics),
        "errors": [d.to_json() for d in errors_of(diagnostics)],
        "warnings": [d.to_json() for d in warnings_of(diagnostics)],
    }
    payload.update(extra)
    return json.dumps(payload, indent=2, ensure_ascii=False)


def print_diagnostics(diagnostics: Sequence[Diagnostic], stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=out)
