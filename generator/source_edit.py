"""Surgical edits of providers.yaml: typed edits in, the file's new text out, every other byte kept.

An operator's providers.yaml carries comments, blank lines, a chosen key order, quoting and the
plain-string model form; re-dumping the parsed data would lose all of that. So an edit is made on
the text: PyYAML's composer gives each node's exact character span (``start_mark``/``end_mark``),
and an edit replaces one scalar, inserts one line, or inserts or deletes one provider's block of
lines. Nothing else changes, byte for byte.

Every edit is then proven: the new text is parsed again and must hold exactly the data expected
(the old data with the one change). Writing is not this module's job: the caller validates the
text through every layer (``generator.pipeline.build(texts=...)``) and installs it with a backup
(``generator.store.install``).

    text = set_field(text, "vllm-qwen", "status", "disabled", file="config/providers.yaml")
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from generator.errors import AibackendError
from generator.load import suggest

__all__ = [
    "FIELD_ORDER",
    "NewProvider",
    "SourceEditError",
    "add_provider",
    "provider_names",
    "remove_provider",
    "render_scalar",
    "set_field",
]

# The order `providers add` writes a new provider's keys in (the example config's order).
FIELD_ORDER = (
    "type", "base_url", "status", "description", "health_endpoint", "api_key_env",
    "exclusive_group", "start_command", "stop_command", "models",
)
_BREAKS = "\r\n\x85\u2028\u2029"  # what PyYAML counts as a line break
_INDICATORS = "-?:,[]{}#&*!|>'\"%@`"


class SourceEditError(AibackendError):
    """An edit that cannot be made: an unknown provider, or a construct it cannot change safely."""


@dataclass(frozen=True)
class NewProvider:
    """What ``providers add`` writes: the fields given (None: left out), models as plain strings."""

    name: str
    fields: Mapping[str, Any]  # key -> str (every key of FIELD_ORDER but models)
    models: Sequence[str]

    def data(self) -> dict[str, Any]:
        out = {key: self.fields[key] for key in FIELD_ORDER if self.fields.get(key) is not None}
        out["models"] = list(self.models)
        return out


# --- reading the text ---------------------------------------------------------------------------


@dataclass
class _Doc:
    text: str  # without a BOM
    bom: str
    newline: str
    line_starts: list[int]
    providers: Node
    file: str

    def line_end(self, line: int) -> int:
        """Index just past line ``line``'s break (0-based line; the end of text for the last line)."""
        return self.line_starts[line + 1] if line + 1 < len(self.line_starts) else len(self.text)

    def line_text(self, line: int) -> str:
        return self.text[self.line_starts[line]:self.line_end(line)].rstrip(_BREAKS)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = 0
    while index < len(text):
        char = text[index]
        if char in _BREAKS:
            if char == "\r" and text[index + 1:index + 2] == "\n":
                index += 1
            starts.append(index + 1)
        index += 1
    if starts[-1] == len(text) and len(starts) > 1:
        starts.pop()  # a final line break does not start a line
    return starts


def _read(text: str, file: str) -> _Doc:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    try:
        root = yaml.compose(body, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        # Located the way `validate` locates it (file:line:column: problem (context)), not PyYAML's
        # own multi-line text that names "<unicode string>".
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        raise SourceEditError(
            f"{where}: not valid YAML, so it cannot be edited: {problem}" + (f" ({context})" if context else ""),
            hint="fix the file first (`aibackend validate` shows every error); nothing was written",
        ) from None
    providers = _value_of(root, "providers") if isinstance(root, MappingNode) else None
    if providers is None:
        raise SourceEditError(
            f"{file} has no top-level `providers:` mapping to edit",
            hint="run `aibackend validate`; the file should start like the example config",
        )
    newline = "\r\n" if "\r\n" in body else "\n"
    return _Doc(body, bom, newline, _line_starts(body), providers, file)


def _value_of(mapping: MappingNode, key: str) -> Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key and isinstance(value_node, Node):
            return value_node
    return None


def _pairs(doc: _Doc) -> list[tuple[ScalarNode, Node]]:
    node = doc.providers
    if isinstance(node, ScalarNode) and node.value in ("", "~", "null"):
        return []  # `providers:` with nothing under it
    if not isinstance(node, MappingNode):
        raise SourceEditError(f"{doc.file}: `providers` is not a mapping", hint="run `aibackend validate`")
    return [(k, v) for k, v in node.value if isinstance(k, ScalarNode)]


def provider_names(text: str, file: str = "providers.yaml") -> list[str]:
    return [key.value for key, _ in _pairs(_read(text, file))]


def _find(doc: _Doc, name: str) -> tuple[ScalarNode, Node]:
    pairs = _pairs(doc)
    for key, value in pairs:
        if key.value == name:
            if value.start_mark.index < key.end_mark.index:
                # The composer hands out the anchored node for an alias: its marks are the anchor's.
                raise SourceEditError(
                    f"{doc.file}:{key.start_mark.line + 1}: provider `{name}` is a YAML alias of another node; "
                    "editing it would change that node too",
                    hint="write the provider out in full, or edit the anchored node by hand",
                )
            return key, value
    names = [key.value for key, _ in pairs]
    close = suggest(name, names)
    raise SourceEditError(
        f"unknown provider `{name}` in {doc.file}" + (f", did you mean `{close}`?" if close else ""),
        hint=f"providers: {', '.join(names)}" if names else "the file lists no provider yet",
    )


def _last_line(node: Node) -> int:
    """The last line (0-based) holding any of ``node``'s own characters."""
    if isinstance(node, MappingNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1][1])
    if isinstance(node, SequenceNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1])
    end = node.end_mark
    # A block scalar ends at the start of the line after it.
    if end.column == 0 and end.line > node.start_mark.line:
        return int(end.line) - 1
    return int(end.line)


# --- writing scalars ------------------------------------------------------------------------------


def render_scalar(value: str) -> str:
    """``value`` as YAML: plain where it reads back as the same string in block and flow context,
    double-quoted otherwise (JSON's string syntax is YAML's double-quoted style)."""
    plain = (
        value != ""
        and value == value.strip()
        and value[0] not in _INDICATORS
        and not any(char in value for char in "\n\r\t#,[]{}\"'\\")
        and ": " not in value
        and not value.endswith(":")
    )
    if plain:
        try:
            plain = (
                yaml.safe_load(f"k: {value}\n") == {"k": value}
                and yaml.safe_load(f"{{k: {value}}}") == {"k": value}
            )
        except yaml.YAMLError:
            plain = False
    return value if plain else _double_quoted(value)


# What YAML does not allow raw in a double-quoted scalar (non-printables; line breaks would be folded).
_ESCAPE = re.compile("[^\x09\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _double_quoted(value: str) -> str:
    """JSON's string syntax is YAML's double-quoted style; characters YAML will not take raw
    are escaped (\\uXXXX), the rest kept readable."""
    text = json.dumps(value, ensure_ascii=False)
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) <= 0xFFFF
                       else f"\\U{ord(m.group()):08x}", text)


def _render_like(value: str, old: ScalarNode) -> str:
    """A replacement scalar in the old one's quoting where that style can hold it."""
    if old.style == "'" and "'" not in value and "\n" not in value:
        return f"'{value}'"
    if old.style == '"':
        return _double_quoted(value)
    return render_scalar(value)


# --- the edits --------------------------------------------------------------------------------------


def set_field(text: str, name: str, key: str, value: str, *, file: str = "providers.yaml") -> str:
    """Set ``providers.<name>.<key>`` to the string ``value``: the old scalar replaced in place, or
    one ``key: value`` line inserted (after base_url) when the provider has no such key."""
    doc = _read(text, file)
    provider_key, provider = _find(doc, name)
    if not isinstance(provider, MappingNode):
        raise SourceEditError(
            f"{file}:{provider_key.start_mark.line + 1}: provider `{name}` is not a mapping of settings",
            hint="run `aibackend validate`",
        )
    existing = next(
        ((k, v) for k, v in provider.value if isinstance(k, ScalarNode) and k.value == key), None
    )
    if existing is not None:
        key_node, old = existing
        line = key_node.start_mark.line + 1
        if old.start_mark.index < key_node.end_mark.index or not isinstance(old, ScalarNode):
            raise SourceEditError(
                f"{file}:{line}: providers.{name}.{key} is not a plain value (an alias or a collection)",
                hint=f"write `{key}: {value}` there by hand",
            )
        if old.style in ("|", ">"):
            raise SourceEditError(
                f"{file}:{line}: providers.{name}.{key} is a block scalar",
                hint=f"write `{key}: {value}` there by hand",
            )
        new_text = doc.text[:old.start_mark.index] + _render_like(value, old) + doc.text[old.end_mark.index:]
    elif provider.flow_style:
        if provider.value:
            at = provider.value[-1][1].end_mark.index
            insertion = f", {key}: {render_scalar(value)}"
        else:
            at = provider.start_mark.index + 1  # just inside `{`
            insertion = f"{key}: {render_scalar(value)}"
        new_text = doc.text[:at] + insertion + doc.text[at:]
    else:
        # After the last key that comes before it in the usual order (status after base_url).
        earlier = set(FIELD_ORDER[:FIELD_ORDER.index(key)]) if key in FIELD_ORDER else set()
        before = [(k, v) for k, v in provider.value if isinstance(k, ScalarNode) and k.value in earlier]
        anchor = before[-1] if before else provider.value[-1]
        indent = provider.value[0][0].start_mark.column
        at = doc.line_end(_last_line(anchor[1]))
        line_text = " " * indent + f"{key}: {render_scalar(value)}" + doc.newline
        prefix = doc.text[:at]
        if prefix and prefix[-1] not in _BREAKS:
            line_text = doc.newline + line_text.rstrip(_BREAKS)
        new_text = prefix + line_text + doc.text[at:]
    expected = _data(text, file)
    expected["providers"][name][key] = value
    return _checked(doc.bom + new_text, expected, file)


def add_provider(text: str, provider: NewProvider, *, file: str = "providers.yaml") -> str:
    """Append ``provider`` as a block after the last provider, indented and spaced like the others."""
    doc = _read(text, file)
    pairs = _pairs(doc)
    for key, _ in pairs:
        if key.value == provider.name:
            raise SourceEditError(
                f"provider `{provider.name}` already exists ({file}:{key.start_mark.line + 1})",
                hint=f"choose another name, or change it with `aibackend providers enable|disable {provider.name}` "
                "or by hand",
            )
    style = _block_style(doc, pairs)
    block = _render_block(provider, style, doc.newline)
    node = doc.providers
    if not pairs:
        raise SourceEditError(
            f"{file} lists no provider yet: there is no block to add after",
            hint="write the first provider by hand (see the example config); then `providers add` extends the list",
        )
    if isinstance(node, MappingNode) and node.flow_style:
        raise SourceEditError(
            f"{file}:{node.start_mark.line + 1}: `providers` is written in flow style ({{...}})",
            hint="write it in block style (one provider per indented block) to edit it with `aibackend providers`",
        )
    at = doc.line_end(_last_line(pairs[-1][1]))
    prefix = doc.text[:at]
    if prefix and prefix[-1] not in _BREAKS:
        prefix += doc.newline
    separator = doc.newline if style.blank_between else ""
    new_text = prefix + separator + block + doc.text[at:]
    expected = _data(text, file)
    expected["providers"][provider.name] = provider.data()
    return _checked(doc.bom + new_text, expected, file)


def remove_provider(text: str, name: str, *, file: str = "providers.yaml") -> str:
    """Delete ``name``'s lines: its key, its settings, the comment lines directly above it (its
    caption), and one blank line so the spacing around it stays as it was."""
    doc = _read(text, file)
    key, value = _find(doc, name)
    node = doc.providers
    if isinstance(node, MappingNode) and node.flow_style:
        raise SourceEditError(
            f"{file}:{node.start_mark.line + 1}: `providers` is written in flow style ({{...}})",
            hint="write it in block style to edit it with `aibackend providers`, or remove the entry by hand",
        )
    column = key.start_mark.column
    first = key.start_mark.line
    last = _last_line(value)
    total = len(doc.line_starts)
    while first > 0 and _is_comment(doc.line_text(first - 1), exact_column=column):
        first -= 1
    while last + 1 < total and _is_comment(doc.line_text(last + 1), deeper_than=column):
        last += 1
    before_blank = first > 0 and not doc.line_text(first - 1).strip()
    after = doc.line_text(last + 1) if last + 1 < total else None
    if before_blank and (after is None or not after.strip() or _indent(after) < column):
        first -= 1
    elif not before_blank and after is not None and not after.strip() and first > 0 and (
        _indent(doc.line_text(first - 1)) < column
    ):
        last += 1  # the first provider: the blank line after it goes, the one before the next stays
    new_text = doc.text[:doc.line_starts[first]] + doc.text[doc.line_end(last):]
    expected = _data(text, file)
    del expected["providers"][name]
    return _checked(doc.bom + new_text, expected, file)


# --- helpers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    key_indent: int  # column of a provider's name
    child_indent: int  # extra columns of its settings
    dash_offset: int  # columns from `models:` to its items' dash
    blank_between: bool  # providers separated by a blank line


def _block_style(doc: _Doc, pairs: list[tuple[ScalarNode, Node]]) -> _Style:
    key_indent = pairs[0][0].start_mark.column if pairs else 2
    child_indent, dash_offset = 2, 2
    for _, value in pairs:
        if isinstance(value, MappingNode) and not value.flow_style and value.value:
            child_indent = value.value[0][0].start_mark.column - key_indent
            models = next(((k, v) for k, v in value.value if isinstance(k, ScalarNode) and k.value == "models"), None)
            if models and isinstance(models[1], SequenceNode) and not models[1].flow_style and models[1].value:
                item = models[1].value[0]
                dash_column = len(doc.line_text(item.start_mark.line)) - len(doc.line_text(item.start_mark.line).lstrip())
                dash_offset = dash_column - models[0].start_mark.column
            break
    blank_between = len(pairs) > 1 and not doc.line_text(pairs[1][0].start_mark.line - 1).strip()
    return _Style(key_indent, max(child_indent, 1), max(dash_offset, 0), blank_between)


def _render_block(provider: NewProvider, style: _Style, newline: str) -> str:
    pad = " " * style.key_indent
    child = pad + " " * style.child_indent
    lines = [f"{pad}{render_scalar(provider.name)}:"]
    for key, value in provider.data().items():
        if key == "models":
            lines.append(f"{child}models:")
            dash = child + " " * style.dash_offset
            lines += [f"{dash}- {render_scalar(model)}" for model in value]
        else:
            lines.append(f"{child}{key}: {render_scalar(str(value))}")
    return "".join(line + newline for line in lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_comment(line: str, *, exact_column: int | None = None, deeper_than: int | None = None) -> bool:
    stripped = line.lstrip(" ")
    if not stripped.startswith("#"):
        return False
    if exact_column is not None:
        return _indent(line) == exact_column
    return deeper_than is not None and _indent(line) > deeper_than


def _data(text: str, file: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text.lstrip("\ufeff"))
    except yaml.YAMLError as exc:  # _read parsed it already; kept for the type checker's sake
        raise SourceEditError(f"{file} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SourceEditError(f"{file}: the top level is not a mapping", hint="run `aibackend validate`")
    return copy.deepcopy(data)


def _checked(new_text: str, expected: dict[str, Any], file: str) -> str:
    """The edit must read back as exactly the data intended, in the intended order; else it is a
    bug of this module, and nothing may be written."""
    actual = yaml.safe_load(new_text.lstrip("\ufeff"))
    if actual != expected or list((actual or {}).get("providers") or {}) != list(expected.get("providers") or {}):
        raise RuntimeError(
            f"surgical edit of {file} did not read back as intended (nothing was written):\n"
            f"expected {expected!r}\ngot {actual!r}"
        )
    return new_text

