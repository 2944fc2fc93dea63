"""Layer 1 — YAML syntax: read one source file safely, keeping the line of every key.

The rest of the compiler never sees YAML: it gets plain data plus a ``LineMap`` so that any
later error (schema, consistency) can name the line it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from generator.diagnostics import Diagnostic

__all__ = ["KeyPath", "LineMap", "ParsedYaml", "format_path", "parse_yaml", "read_yaml_file"]

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("providers", "ollama", "models", 2)`` -> ``providers.ollama.models[2]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class LineMap:
    """1-based line of each key path; a missing path falls back to its nearest ancestor."""

    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        probe = tuple(path)
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]


@dataclass
class ParsedYaml:
    file: str
    data: Any
    lines: LineMap
    text: str
    sha256: str


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line
        self.first_line = first_line


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"


def _build(loader: yaml.SafeLoader, node: Node, path: KeyPath, lines: LineMap) -> Any:
    """The data of ``node``, as safe_load would construct it, recording the line of every key path.

    The line of ``path`` itself is recorded by the caller. Strings (nearly every scalar here) are
    taken straight from the node, which is what safe_load's constructor does with them too.
    """
    if isinstance(node, ScalarNode):
        return node.value if node.tag == _STR_TAG else loader.construct_object(node, deep=True)
    expected_tag = _MAP_TAG if isinstance(node, MappingNode) else _SEQ_TAG
    if node.tag != expected_tag:
        # Walking collections by hand must not bypass safe loading: refuse any other tag.
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
        )
    known = lines.lines
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<) like safe_load does
        result: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _STR_TAG:
                key = key_node.value
            else:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    key = str(key)
            key_line = key_node.start_mark.line + 1
            if key in first_seen:
                raise _DuplicateKey(str(key), key_line, first_seen[key])
            first_seen[key] = key_line
            child: KeyPath = (*path, key if isinstance(key, str) else str(key))
            known.setdefault(child, key_line)
            result[key] = _build(loader, value_node, child, lines)
        return result
    items = []
    for index, item_node in enumerate(node.value):
        child = (*path, index)
        known.setdefault(child, item_node.start_mark.line + 1)
        items.append(_build(loader, item_node, child, lines))
    return items


def _syntax_diagnostic(file: str, exc: yaml.YAMLError, text: str) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    lines = text.splitlines()
    offending_line = lines[mark.line] if mark is not None and 0 <= mark.line < len(lines) else ""
    if "\t" in problem or "\t" in offending_line[: len(offending_line) - len(offending_line.lstrip())]:
        return Diagnostic(
            code="yaml-tab",
            file=file,
            line=line,
            column=column,
            message="tab character in indentation: YAML allows only spaces there",
            hint="replace the tab(s) on this line with spaces (2 per level, as in the rest of the file)",
        )
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}"
    if context:
        message += f" ({context})"
    return Diagnostic(
        code="yaml-syntax",
        file=file,
        line=line,
        column=column,
        message=message,
        hint="check indentation, quoting and ':' separators around this line",
    )


def parse_yaml(raw: bytes, file: str, *, allow_empty: bool = False) -> tuple[ParsedYaml | None, list[Diagnostic]]:
    """Parse bytes into data + line map, or return diagnostics saying exactly why not."""
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    if b"\x00" in raw:
        return None, [
            Diagnostic(
                code="yaml-binary",
                file=file,
                line=raw[: raw.index(b"\x00")].count(b"\n") + 1,
                message="file contains NUL bytes: this is a binary file, not YAML",
                hint="restore the file from version control or the example in config/",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            Diagnostic(
                code="yaml-encoding",
                file=file,
                line=line,
                message=f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                hint="save the file as UTF-8",
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    # libyaml composes ~10x faster; on an error, the pure-Python parser is asked again for
    # its message, which is the clearer one (and the one the tests pin down).
    fast: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return _parse_text(fast, text, file, digest, allow_empty)
    except yaml.YAMLError:
        if fast is yaml.SafeLoader:
            raise
    return _parse_text(yaml.SafeLoader, text, file, digest, allow_empty)


def _parse_text(
    loader_class: type[yaml.SafeLoader], text: str, file: str, digest: str, allow_empty: bool
) -> tuple[ParsedYaml | None, list[Diagnostic]]:
    loader = loader_class(text)
    fast = loader_class is not yaml.SafeLoader
    try:
        node = loader.get_single_node()
        if node is None:
            if allow_empty:
                return ParsedYaml(file, {}, LineMap(), text, digest), []
            return None, [
                Diagnostic(
                    code="yaml-empty",
                    file=file,
                    line=1,
                    message="file is empty (no YAML content, only blanks or comments)",
                    hint="start from the example in /work/shared/reference/example-config or `git checkout` the file",
                )
            ]
        lines = LineMap({(): node.start_mark.line + 1})
        data = _build(loader, node, (), lines)
    except _DuplicateKey as dup:
        return None, [
            Diagnostic(
                code="yaml-duplicate-key",
                file=file,
                line=dup.line,
                message=f"duplicate key {dup.key!r} (first defined on line {dup.first_line})",
                hint="YAML keeps only the last value silently; merge the two entries or rename one",
            )
        ]
    except yaml.YAMLError as exc:
        if fast:
            raise
        return None, [_syntax_diagnostic(file, exc, text)]
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return None, [
            Diagnostic(
                code="yaml-not-mapping",
                file=file,
                line=1,
                message=f"top level must be a mapping of keys, found {type(data).__name__}",
                hint="the file should look like the example: `key: value` lines at the top level",
            )
        ]
    return ParsedYaml(file, data, lines, text, digest), []


def read_yaml_file(path: Path, display: str, *, allow_empty: bool = False) -> tuple[ParsedYaml | None, list[Diagnostic]]:
    return parse_yaml(path.read_bytes(), display, allow_empty=allow_empty)
