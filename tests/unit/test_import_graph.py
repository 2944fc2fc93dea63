"""The package map of docs/architecture.md, enforced: allowed edges only, and no import cycle.

Every import counts: top-level, inside functions, under ``TYPE_CHECKING``, and the dotted module
strings the CLI loads commands from. ``generator`` (the compiler and the shared low-level helpers)
imports nothing of ours; ``contracts`` and ``loadtests`` import only ``generator``; the app,
``aibackend``, may import all three.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
ALLOWED: dict[str, frozenset[str]] = {
    "generator": frozenset({"generator"}),
    "contracts": frozenset({"generator", "contracts"}),
    "loadtests": frozenset({"generator", "loadtests"}),
    "aibackend": frozenset({"generator", "contracts", "loadtests", "aibackend"}),
}
PACKAGES = tuple(ALLOWED)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported_names(tree: ast.AST, *, strings: bool = False) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            # The CLI imports its commands by dotted name ("aibackend.commands.validate").
            text = node.value
            if "." in text and text.partition(".")[0] in PACKAGES and text.replace(".", "").replace("_", "").isalnum():
                names.append(text)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for imported in _imported_names(tree, strings=name == "aibackend.cli"):
            target = resolve(imported) if imported.partition(".")[0] in PACKAGES else None
            if target is not None and target != name:
                edges[name].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_edge_is_an_allowed_one() -> None:
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if target.partition(".")[0] not in ALLOWED[source.partition(".")[0]]
    )
    assert upward == []


def test_no_module_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_checker_sees_a_forbidden_edge_and_a_cycle() -> None:
    # The two checks above are only worth something if they can fail.
    edges = {"contracts.a": {"aibackend.b"}, "aibackend.b": {"contracts.a"}, "generator.c": set()}
    assert _cycles(edges) == [["aibackend.b", "contracts.a"]]
    assert "aibackend" not in ALLOWED["contracts"]
    names = _imported_names(ast.parse("def f():\n    from aibackend.cli import main\nX = 'loadtests.report'\n"), strings=True)
    assert names == ["aibackend.cli.main", "loadtests.report"]
