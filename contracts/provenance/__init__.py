"""Where each rule of each contract type comes from: ``contracts/provenance/<type>.yaml``.

For every rule of the catalogue (``contracts/rules.py``) a type's contract includes: the
citations (ids of ``contracts/upstream/citations.yaml``) that support it for that type, or
``advisory``: why no source supports it, so that its violations are warnings that never fail a
run. ``not_checked`` names the cases of a rule's check that the type's upstream answers otherwise
by design (vLLM serves a request without ``model``), each with the citation that says so: those
cases are not run for the type.

For every item of the type's spec (each status code, required field, enum/const and bound; the
ids ``spec_items`` gives), ``items`` maps patterns (``fnmatch``, first match wins) to citations.
``attach`` writes them into the generated spec (``x-sources`` at each item, ``x-rules`` and
``x-citations`` at the top), so ``contracts/specs/<type>.yaml`` says where each of its rules comes
from; ``tests/unit/test_provenance.py`` fails on any item or rule without one.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from contracts.upstream.sources import CITATIONS

__all__ = [
    "ItemSources",
    "RuleProvenance",
    "TypeProvenance",
    "attach",
    "is_advisory",
    "load_provenance",
    "not_checked",
    "rule_provenance",
    "spec_items",
]

HERE = Path(__file__).resolve().parent
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems",
          "minProperties", "pattern")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleProvenance(_Strict):
    cites: list[str] = []
    advisory: str | None = None  # why no source supports it: its violations are warnings
    not_checked: dict[str, str] = {}  # a case of the check -> the citation saying the type does otherwise
    note: str | None = None


class ItemSources(_Strict):
    match: str
    cites: list[str]


class TypeProvenance(_Strict):
    rules: dict[str, RuleProvenance]
    items: list[ItemSources]

    @field_validator("items")
    @classmethod
    def _known_citations(cls, items: list[ItemSources]) -> list[ItemSources]:
        for item in items:
            unknown = [c for c in item.cites if c not in CITATIONS]
            if unknown:
                raise ValueError(f"{item.match}: unknown citations {unknown}")
        return items

    def sources(self, item: str) -> list[str] | None:
        """The citations of a spec item (the first pattern that matches), or None."""
        for entry in self.items:
            if fnmatch.fnmatchcase(item, entry.match):
                return entry.cites
        return None


@functools.cache
def load_provenance(provider_type: str) -> TypeProvenance:
    path = HERE / f"{provider_type}.yaml"
    return TypeProvenance.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def rule_provenance(provider_type: str, rule: str) -> RuleProvenance | None:
    return load_provenance(provider_type).rules.get(rule)


def is_advisory(provider_type: str, rule: str) -> bool:
    entry = rule_provenance(provider_type, rule)
    return entry is not None and entry.advisory is not None


def not_checked(provider_type: str, rule: str) -> dict[str, str]:
    entry = rule_provenance(provider_type, rule)
    return dict(entry.not_checked) if entry is not None else {}


# --- the items of a spec ------------------------------------------------------------------------

Located = tuple[str, dict[str, Any], str]  # item id, the node that holds it, the aspect in that node


def spec_items(spec: dict[str, Any]) -> list[Located]:
    """Every status code, required field, enum/const and bound of ``spec``, with an id like
    ``status POST /v1/chat/completions 404``, ``required ChatCompletion.choices[].finish_reason``,
    ``enum ChatCompletion.object``, ``bound ChatCompletionRequest.n minimum``."""
    found: list[Located] = []
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                found.append((f"status {method.upper()} {path} {status}", answer, "status"))
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        _walk(found, name, schema, "")
    return found


def _walk(found: list[Located], name: str, node: Any, path: str) -> None:
    if not isinstance(node, dict) or "$ref" in node:
        return
    where = f"{name}{path}"
    for key in ("anyOf", "oneOf", "allOf"):
        for index, sub in enumerate(node.get(key, [])):
            _walk(found, name, sub, f"{path}.{key}[{index}]")
    if "enum" in node or "const" in node:
        found.append((f"enum {where}", node, "enum"))
    for field in node.get("required", []):
        found.append((f"required {where}.{field}", node, f"required {field}"))
    for bound in BOUNDS:
        if bound in node:
            found.append((f"bound {where} {bound}", node, f"bound {bound}"))
    if node.get("additionalProperties") is False:
        found.append((f"bound {where} closed", node, "bound closed"))
    for key, sub in node.get("properties", {}).items():
        _walk(found, name, sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        _walk(found, name, node["items"], f"{path}[]")
    for key, sub in node.get("dependentSchemas", {}).items():
        _walk(found, name, sub, f"{path}.dependentSchemas[{key}]")
    for key in ("if", "then"):
        if key in node:
            _walk(found, name, node[key], f"{path}.{key}")


def attach(spec: dict[str, Any], provider_type: str) -> dict[str, Any]:
    """``spec`` with its provenance written in: ``x-sources`` at every item, the type's rules
    (``x-rules``) and every citation used (``x-citations``). Items without a source are left
    without ``x-sources`` (the provenance test names them)."""
    spec = copy.deepcopy(spec)
    provenance = load_provenance(provider_type)
    used: dict[str, None] = {}
    for item, node, aspect in spec_items(spec):
        cites = provenance.sources(item)
        if cites is None:
            continue
        used.update(dict.fromkeys(cites))
        if aspect == "status":
            node["x-sources"] = list(cites)
        else:
            node.setdefault("x-sources", {})[aspect] = list(cites)
    rules: dict[str, Any] = {}
    for rule, entry in provenance.rules.items():
        rules[rule] = entry.model_dump(exclude_defaults=True)
        used.update(dict.fromkeys(entry.cites))
        used.update(dict.fromkeys(entry.not_checked.values()))
    spec["x-rules"] = rules
    spec["x-citations"] = {cid: _citation(cid) for cid in sorted(used)}
    return spec


def _citation(citation_id: str) -> dict[str, str]:
    citation = CITATIONS[citation_id]
    entry = {"where": citation.where(), "says": citation.says}
    if citation.quote is not None:
        entry["quote"] = citation.quote
    return entry
