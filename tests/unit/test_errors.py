"""generator/errors.py draws the error hierarchy: the drawing must be the classes, all of them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import generator.errors as errors_module
from generator.errors import AibackendError

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("generator", "aibackend", "contracts", "loadtests")


def _drawn_tree() -> dict[str, str]:
    """Class name -> the name of the class it hangs under, read from the docstring's drawing."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors_module.__doc__ or "").splitlines():
        match = re.match(r"^(\s*(?:[│ ]   )*(?:[├└]── )?)(\w+(?:Error|Invalid|Failed|Unavailable))\b", line)
        if not match:
            continue
        depth, name = len(match[1]), match[2]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else "Exception"
        stack.append((depth, name))
    return parents


def _real_tree() -> dict[str, str]:
    """Every class of the four packages that derives from AibackendError, read from the source (some
    modules cannot be imported into this process: the load-test users monkey-patch it for gevent)."""
    bases: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases[node.name] = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]

    def ours(name: str) -> bool:
        return name == "AibackendError" or any(ours(base) for base in bases.get(name, []))

    found = {"AibackendError": "Exception"}
    for name, parents in bases.items():
        if name != "AibackendError" and ours(name):
            found[name] = next(parent for parent in parents if ours(parent))
    assert issubclass(errors_module.UsageError, AibackendError)  # the source is the module imported
    return found


def test_the_drawn_tree_is_the_real_one() -> None:
    assert _drawn_tree() == _real_tree()


def test_the_reader_sees_nesting() -> None:
    # The comparison above is only as good as the reader of the drawing.
    tree = _drawn_tree()
    assert tree["GateFailed"] == "GatewayError"
    assert tree["PromptFileError"] == "UsageError"
    assert tree["UsageError"] == "AibackendError"
