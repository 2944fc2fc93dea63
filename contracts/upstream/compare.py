"""Field-by-field comparison of a spec's component schemas with schemas derived from upstream
(``derived/vllm.json``): each difference as one line a test can hold against recorded reasons.

Both sides are flattened into field paths (``choices[].finish_reason``) with their facts: the JSON
types (null included), enum/const values, bounds, and whether the field is required.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["differences", "matches"]

BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems")
Facts = dict[str, Any]


def _resolve(schemas: dict[str, Any], node: Any, seen: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return {}, seen
        node, seen = schemas[name], (*seen, name)
    if isinstance(node, dict) and "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schemas, {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}, seen)
    return node, seen


def matches(line: str, pattern: str) -> bool:
    """``pattern`` with ``*`` for any text (nothing else is special: the lines are full of brackets)."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), line) is not None


def _members(schemas: dict[str, Any], node: Any, seen: tuple[str, ...]) -> list[tuple[Any, tuple[str, ...]]]:
    node, seen = _resolve(schemas, node, seen)
    if isinstance(node, dict) and ("anyOf" in node or "oneOf" in node):
        alternatives: list[Any] = node.get("anyOf") or node.get("oneOf") or []
        return [m for sub in alternatives for m in _members(schemas, sub, seen)]
    return [(node, seen)]


def _flatten(schemas: dict[str, Any], node: Any, path: str, out: dict[str, Facts], seen: tuple[str, ...] = (), depth: int = 0) -> None:
    node, seen = _resolve(schemas, node, seen)
    if not isinstance(node, dict) or depth > 5:
        return
    members = _members(schemas, node, seen)
    facts: Facts = out.setdefault(path or "(root)", {"types": set(), "enum": None, "bounds": {}, "required": set()})
    for member, member_seen in members:
        if not isinstance(member, dict) or "x-not-derived" in member:
            facts["types"].add("any")
            continue
        kind = member.get("type")
        facts["types"].update(kind if isinstance(kind, list) else [kind] if kind else [])
        if "const" in member or "enum" in member:
            values = [member["const"]] if "const" in member else list(member["enum"])
            known: list[str] = facts["enum"] or []
            facts["enum"] = sorted({*known, *map(json.dumps, values)})
            facts["types"].update("null" if v is None else "string" if isinstance(v, str) else "number" for v in values)
        facts["bounds"].update({b: member[b] for b in BOUNDS if b in member and not isinstance(member[b], dict)})
        if "properties" in member:
            facts["types"].add("object")
            facts["required"] |= set(member.get("required", []))
            for key, sub in member["properties"].items():
                _flatten(schemas, sub, f"{path}.{key}" if path else key, out, member_seen, depth + 1)
        if isinstance(member.get("items"), dict):
            facts["types"].add("array")
            _flatten(schemas, member["items"], f"{path}[]", out, member_seen, depth + 1)


def _required(flat: dict[str, Facts], path: str) -> bool:
    parent, _, key = path.rpartition(".")
    return key in flat.get(parent or "(root)", {}).get("required", set())


def differences(spec: dict[str, Any], spec_name: str, upstream: dict[str, Any], upstream_name: str) -> list[str]:
    """Lines ``<path>: <aspect>: spec <x>, upstream <y>`` for every field the spec names."""
    ours: dict[str, Facts] = {}
    theirs: dict[str, Facts] = {}
    _flatten(spec, spec[spec_name], "", ours)
    _flatten(upstream, upstream[upstream_name], "", theirs)
    found = []
    for path, facts in ours.items():
        other = theirs.get(path)
        if other is None:
            found.append(f"{path}: absent upstream")
            continue
        if path != "(root)" and not path.endswith("[]") and _required(ours, path) != _required(theirs, path):
            found.append(f"{path}: required: spec {_required(ours, path)}, upstream {_required(theirs, path)}")
        if "any" not in other["types"] and facts["types"] - {"any"} and facts["types"] != other["types"]:
            found.append(f"{path}: types: spec {sorted(facts['types'])}, upstream {sorted(other['types'])}")
        if facts["enum"] != other["enum"]:
            found.append(f"{path}: enum: spec {facts['enum']}, upstream {other['enum']}")
        if facts["bounds"] != other["bounds"]:
            found.append(f"{path}: bounds: spec {facts['bounds']}, upstream {other['bounds']}")
    return found
