"""The generated specs on disk (``contracts/specs/<type>.yaml``): where each is, loading it, and
validating JSON documents against its named component schemas."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from generator.providers import contract_types

__all__ = ["SPEC_DIR", "SpecSchemas", "load_spec", "spec_path", "spec_schemas"]

SPEC_DIR = Path(__file__).resolve().parent / "specs"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_FORMATS = jsonschema.FormatChecker(formats=())


def _is_datetime(value: object) -> bool:
    # jsonschema only checks date-time with an optional package; Ollama's nanosecond timestamps
    # (9 fractional digits) are valid RFC 3339, which datetime.fromisoformat rejects on 3.11.
    return not isinstance(value, str) or bool(_RFC3339.match(value))


_FORMATS.checks("date-time")(_is_datetime)


def spec_path(provider_type: str) -> Path:
    """The spec file of a contract type (written by ``python -m contracts.specbuilder``)."""
    return SPEC_DIR / f"{provider_type}.yaml"


@functools.cache
def load_spec(provider_type: str) -> dict[str, Any]:
    if provider_type not in contract_types():
        raise KeyError(provider_type)
    spec: dict[str, Any] = yaml.safe_load(spec_path(provider_type).read_text(encoding="utf-8"))
    return spec


class SpecSchemas:
    """``errors("ChatCompletion", doc)`` → readable schema errors (empty when ``doc`` conforms)."""

    def __init__(self, provider_type: str) -> None:
        self.provider_type = provider_type
        self._components = load_spec(provider_type)["components"]
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def has(self, name: str) -> bool:
        return name in self._components["schemas"]

    def finish_reasons(self, name: str) -> frozenset[str] | None:
        """The finish reasons the chunk or answer schema ``name`` allows (None: any string)."""
        choice = self._components["schemas"][name]["properties"]["choices"]["items"]
        node = choice["properties"]["finish_reason"]
        values: set[str] = set()
        for member in node.get("anyOf", [node]):
            values.update(member.get("enum", []))
        return frozenset(values) if values else None

    def _validator(self, name: str) -> jsonschema.Draft202012Validator:
        if name not in self._validators:
            if not self.has(name):
                raise KeyError(f"{self.provider_type} spec has no schema {name!r}")
            root = {"$ref": f"#/components/schemas/{name}", "components": self._components}
            self._validators[name] = jsonschema.Draft202012Validator(root, format_checker=_FORMATS)
        return self._validators[name]

    def first_error(self, name: str, document: Any) -> str | None:
        """The class of ``document``'s first error against ``name``: ``<keyword> of <path>``, with
        list indexes as ``[]`` (``type of messages[].role``, ``required of (root)``); None: valid."""
        found = sorted(self._validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
        if not found:
            return None
        error = _best(found[0])
        path = "".join("[]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".") or "(root)"
        detail = f" {error.validator_value}" if error.validator == "required" else ""
        return f"{error.validator}{detail} of {path}"

    def errors(self, name: str, document: Any, *, limit: int = 3) -> list[str]:
        found = sorted(self._validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
        messages = []
        for error in found[:limit]:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            messages.append(f"{where}: {_best(error).message}")
        return messages


def _best(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    # anyOf/oneOf errors say only "is not valid under any of the given schemas": dig for the cause.
    if error.context:
        # A nullable field's value failed its real branch: name that, not "is not of type 'null'".
        context = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")] or error.context
        best = jsonschema.exceptions.best_match(context)
        if best is not None:
            return best
    return error


@functools.cache
def spec_schemas(provider_type: str) -> SpecSchemas:
    return SpecSchemas(provider_type)
