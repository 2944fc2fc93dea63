"""Diagnostic: one problem found in the source files, located precisely."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]

__all__ = ["Diagnostic", "Severity", "errors_of", "sort_diagnostics", "warnings_of"]


@dataclass(frozen=True, order=False)
class Diagnostic:
    """A located problem: ``code`` is stable kebab-case, ``path`` a dotted key path."""

    code: str
    message: str
    file: str = ""
    path: str = ""
    line: int | None = None
    hint: str | None = None
    severity: Severity = "error"
    column: int | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("severity")
        data.pop("column")
        return data

    def format(self) -> str:
        """``file:line: severity[code] path: message`` plus an indented hint line."""
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = f"{self.path}: " if self.path else ""
        text = f"{where}: {self.severity}[{self.code}] {subject}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


def errors_of(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def warnings_of(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "warning"]


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Stable, reader-friendly order: by file, then line, then code."""
    return sorted(diagnostics, key=lambda d: (d.file, d.line or 0, d.path, d.code, d.message))
