"""vLLM's request and response bodies as JSON Schemas, derived from its own pydantic models.

vLLM cannot be imported without torch, so its model classes are read as source text (``ast``) and
their annotations and ``Field(...)`` arguments translated into JSON Schema (Draft 2020-12):

- ``properties`` / ``required``: pydantic's view: a field without a default is required;
  ``X | None`` without a default is required but nullable;
- ``enum`` from ``Literal[...]``; ``minimum``/``maximum``/``exclusive*``/``min*``/``max*`` from
  ``ge``/``le``/``gt``/``lt``/``min_length``/``max_length``; ``default`` from a constant default;
- ``additionalProperties: true`` for ``extra="allow"`` models (vLLM's ``OpenAIBaseModel``) and
  TypedDicts;
- ``x-validators``: the ``@model_validator``/``@field_validator`` methods (line, and the messages
  they raise): rules pydantic enforces beyond the types, answered 400 by vLLM's handler;
- ``x-runtime-checks``: ``SamplingParams._verify_args``'s raises (n >= 1, 0 <= temperature <= 2,
  0 < top_p <= 1, max_tokens >= 1, ...), which decide the other 400s;
- ``x-source``: ``path:line`` of each class and field; a class outside ``EXPANDED`` is named, not
  expanded (``x-not-derived``): the contract checks none of its fields.

The input is source text by file: the whole files of the wheel (``refetch.py``, which also learns
here which line ranges to keep) or the kept excerpts (offline, what the provenance test runs):
each snippet is parsed on its own, its line numbers kept.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FILES", "PIN", "ROOTS", "Snippets", "derive"]

PIN = "vllm"
# The files of vllm==0.34.0 the models live in (0.11 kept them in one entrypoints/openai/protocol.py).
FILES = (
    "vllm/entrypoints/openai/chat_completion/protocol.py",
    "vllm/entrypoints/openai/completion/protocol.py",
    "vllm/entrypoints/generate/base/protocol.py",
    "vllm/entrypoints/serve/engine/protocol.py",
    "vllm/renderers/chat_utils/types.py",
    "vllm/sampling_params.py",
)
ROOTS = (
    "ChatCompletionRequest",
    "CompletionRequest",
    "ChatCompletionResponse",
    "ChatCompletionStreamResponse",
    "CompletionResponse",
    "CompletionStreamResponse",
    "ModelList",
    "ErrorResponse",
)
# The classes whose fields the contract checks; any other class is referenced by name only.
EXPANDED = frozenset(
    {
        *ROOTS,
        "OpenAIBaseModel",
        "StreamOptions",
        "ChatCompletionResponseChoice",
        "ChatCompletionResponseStreamChoice",
        "CompletionResponseChoice",
        "CompletionResponseStreamChoice",
        "ChatMessage",
        "DeltaMessage",
        "UsageInfo",
        "ModelCard",
        "ModelPermission",
        "ErrorInfo",
        "CustomChatCompletionMessageParam",
        "ChatCompletionSystemMessageParam",
        "ChatCompletionUserMessageParam",
        "ChatCompletionAssistantMessageParam",
        "ChatCompletionToolMessageParam",
        "ChatCompletionDeveloperMessageParam",
        "ChatCompletionFunctionMessageParam",
    }
)
CONSTRAINTS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
    "min_length": "minLength",
    "max_length": "maxLength",
}
PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "Any": {},
    "object": {},
    "None": {"type": "null"},
    "dict": {"type": "object"},
    "list": {"type": "array"},
}

# path -> [(line number of the snippet's first line, its text)]
Snippets = dict[str, list[tuple[int, str]]]


@dataclass(frozen=True)
class _Expr:
    source: str


def _const(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _Expr(ast.unparse(node))


def _json(value: Any) -> Any:
    if isinstance(value, _Expr):
        return {"x-expression": value.source}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return value


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _name(node.value)
    return ast.unparse(node)


@dataclass
class _Field:
    name: str
    annotation: ast.expr
    line: int
    has_default: bool = False
    default: Any = None
    default_factory: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    alias: str | None = None


@dataclass
class _Class:
    name: str
    path: str
    line: int
    end: int
    bases: list[str]
    fields: list[_Field]
    extra: Any
    total: bool | None  # TypedDicts only
    validators: list[dict[str, Any]]


def _raised(function: ast.AST) -> list[str]:
    messages = []
    for node in ast.walk(function):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            arg = node.exc.args[0]
            messages.append(arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else ast.unparse(arg))
    return messages


def _field_call(node: ast.expr | None) -> ast.Call | None:
    return node if isinstance(node, ast.Call) and _name(node.func) == "Field" else None


def _apply_field(info: _Field, call: ast.Call) -> None:
    if call.args and _const(call.args[0]) is not Ellipsis:
        info.has_default, info.default = True, _const(call.args[0])
    for keyword in call.keywords:
        if keyword.arg == "default" and _const(keyword.value) is not Ellipsis:
            info.has_default, info.default = True, _const(keyword.value)
        elif keyword.arg == "default_factory":
            info.has_default, info.default_factory = True, ast.unparse(keyword.value)
        elif keyword.arg in CONSTRAINTS:
            info.constraints[CONSTRAINTS[keyword.arg]] = _const(keyword.value)
        elif keyword.arg == "alias":
            alias = _const(keyword.value)
            info.alias = alias if isinstance(alias, str) else None


def _validators(node: ast.ClassDef) -> list[dict[str, Any]]:
    found = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in item.decorator_list:
            kind = _name(decorator.func if isinstance(decorator, ast.Call) else decorator)
            if kind not in ("model_validator", "field_validator"):
                continue
            mode = None
            if isinstance(decorator, ast.Call):
                mode = next((_const(k.value) for k in decorator.keywords if k.arg == "mode"), None)
            found.append({"name": item.name, "kind": kind, "mode": mode, "line": item.lineno, "raises": _raised(item)})
    return found


def _class(path: str, node: ast.ClassDef) -> _Class:
    bases = [_name(b) for b in node.bases]
    total: bool | None = None
    for keyword in node.keywords:
        if keyword.arg == "total":
            total = bool(_const(keyword.value))
    if "TypedDict" in bases and total is None:
        total = True
    fields: list[_Field] = []
    extra: Any = None
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            if _name(item.annotation) == "ClassVar" or item.target.id.startswith("_"):
                continue
            info = _Field(item.target.id, item.annotation, item.lineno)
            call = _field_call(item.value)
            if call is not None:
                _apply_field(info, call)
            elif item.value is not None:
                info.has_default, info.default = True, _const(item.value)
            fields.append(info)
        elif (
            isinstance(item, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "model_config" for t in item.targets)
            and isinstance(item.value, ast.Call)
        ):
            extra = next((_const(k.value) for k in item.value.keywords if k.arg == "extra"), extra)
    return _Class(node.name, path, node.lineno, node.end_lineno or node.lineno, bases, fields, extra, total, _validators(node))


@dataclass
class _Module:
    classes: dict[str, _Class] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ast.expr, int, int]] = field(default_factory=dict)  # name -> path, value, lines
    functions: dict[str, tuple[str, ast.AST, int, int]] = field(default_factory=dict)


def _parse(snippets: Snippets) -> _Module:
    module = _Module()
    for path, parts in snippets.items():
        for first, text in parts:
            try:
                # A kept method (SamplingParams._verify_args) is indented: dedent keeps its lines.
                tree = ast.parse(textwrap.dedent(text), filename=path)
            except SyntaxError:  # a kept fragment (a cited line inside a function): not a model
                continue
            ast.increment_lineno(tree, first - 1)
            for node in ast.walk(tree) if path.endswith("sampling_params.py") else tree.body:
                _collect(module, path, node)
    return module


def _collect(module: _Module, path: str, node: ast.AST) -> None:
    start: int = getattr(node, "lineno", 0)
    end: int = getattr(node, "end_lineno", None) or start
    if isinstance(node, ast.ClassDef) and not path.endswith("sampling_params.py"):
        # The OpenAI server's own definition wins over a same-named class elsewhere.
        if node.name not in module.classes or "/openai/" in path:
            module.classes[node.name] = _class(path, node)
    elif isinstance(node, ast.FunctionDef) and node.name == "_verify_args":
        module.functions[node.name] = (path, node, node.lineno, end)
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        if isinstance(node.value, ast.Subscript | ast.BinOp):
            module.aliases.setdefault(node.targets[0].id, (path, node.value, node.lineno, end))
    elif (
        isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.value is not None
        and _name(node.annotation) == "TypeAlias"
    ):
        module.aliases.setdefault(node.target.id, (path, node.value, node.lineno, end))


class _Translator:
    def __init__(self, module: _Module) -> None:
        self.module = module
        self.needed: list[str] = []
        self.used: dict[str, set[tuple[int, int]]] = {}  # path -> line ranges the derivation read

    def use(self, path: str, start: int, end: int) -> None:
        self.used.setdefault(path, set()).add((start, end))

    def ref(self, name: str) -> dict[str, Any]:
        if name not in EXPANDED:
            return {"x-not-derived": name}
        if name not in self.needed:
            self.needed.append(name)
        return {"$ref": f"#/$defs/{name}"}

    def schema(self, node: ast.expr, marker: list[bool] | None = None) -> dict[str, Any]:
        if isinstance(node, ast.Constant):
            if node.value is None:
                return {"type": "null"}
            if isinstance(node.value, str):  # a forward reference
                return self.schema(ast.parse(node.value, mode="eval").body)
            return {"const": node.value}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._union(self._members(node))
        if isinstance(node, ast.Subscript):
            return self._subscript(node, marker)
        if isinstance(node, ast.Name | ast.Attribute):
            name = _name(node)
            if name in PRIMITIVES:
                return dict(PRIMITIVES[name])
            if name in self.module.classes:
                return self.ref(name)
            if name in self.module.aliases:
                path, value, start, end = self.module.aliases[name]
                self.use(path, start, end)
                return self.schema(value, marker)
        return {"x-not-derived": ast.unparse(node)}

    def _subscript(self, node: ast.Subscript, marker: list[bool] | None) -> dict[str, Any]:
        head = _name(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return self._union([args[0], ast.Constant(None)])
        if head == "Union":
            return self._union(args)
        if head in ("list", "List", "Sequence", "Iterable"):
            return {"type": "array", "items": self.schema(args[0])}
        if head in ("dict", "Dict", "Mapping"):
            return {"type": "object"}
        if head == "Literal":
            return {"enum": [_json(_const(a)) for a in args]}
        if head == "Annotated":
            base = self.schema(args[0])
            for meta in args[1:]:
                call = _field_call(meta)
                for keyword in call.keywords if call is not None else []:
                    if keyword.arg in CONSTRAINTS:
                        _attach(base, CONSTRAINTS[keyword.arg], _const(keyword.value))
            return base
        if head in ("SerializeAsAny", "ClassVar", "Final"):
            return self.schema(args[0], marker)
        if head in ("Required", "NotRequired"):
            if marker is not None:
                marker.append(head == "Required")
            return self.schema(args[0])
        return self.schema(node.value, marker)

    def _members(self, node: ast.expr) -> list[ast.expr]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._members(node.left) + self._members(node.right)
        return [node]

    def _union(self, members: Iterable[ast.expr]) -> dict[str, Any]:
        schemas: list[dict[str, Any]] = []
        for member in members:
            schema = self.schema(member)
            for part in schema["anyOf"] if set(schema) == {"anyOf"} else [schema]:
                if part not in schemas:
                    schemas.append(part)
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}

    def class_schema(self, info: _Class) -> dict[str, Any]:
        chain: list[_Class] = []

        def collect(current: _Class) -> None:
            for base in current.bases:
                if base in self.module.classes and base != current.name:
                    collect(self.module.classes[base])
            chain.append(current)

        collect(info)
        fields: dict[str, tuple[_Field, _Class]] = {}
        extra: Any = None
        validators: list[dict[str, Any]] = []
        for current in chain:
            self.use(current.path, current.line, current.end)
            for item in current.fields:
                fields[item.name] = (item, current)
            extra = current.extra if current.extra is not None else extra
            validators += [{**v, "class": current.name, "source": f"{current.path}:{v['line']}"} for v in current.validators]
        typed_dict = any(c.total is not None for c in chain)
        total = next((c.total for c in reversed(chain) if c.total is not None), True)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, (item, owner) in fields.items():
            marker: list[bool] = []
            schema = self.schema(item.annotation, marker)
            if "$ref" in schema and (item.constraints or item.has_default):
                schema = {"allOf": [schema]}
            for key, value in item.constraints.items():
                _attach(schema, key, value)
            if item.default_factory is not None:
                schema["x-default-factory"] = item.default_factory
            elif item.has_default:
                schema["default"] = _json(item.default)
            schema["x-source"] = f"{owner.path}:{item.line}"
            key = item.alias or name
            properties[key] = schema
            if (typed_dict and (marker[0] if marker else total)) or (not typed_dict and not item.has_default):
                required.append(key)
        schema = {
            "title": info.name,
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": extra == "allow" or typed_dict,
            "x-source": f"{info.path}:{info.line}",
        }
        if validators:
            schema["x-validators"] = validators
        return schema


def _attach(schema: dict[str, Any], key: str, value: Any) -> None:
    """A pydantic constraint where it applies: a list's lengths are minItems/maxItems, and in a
    union a constraint belongs to the member it can constrain."""
    members = schema.get("anyOf")
    if members:
        for member in members:
            lengths = key in ("minLength", "maxLength")
            if (lengths and member.get("type") in ("array", "string")) or (not lengths and member.get("type") in ("integer", "number")):
                _attach(member, key, value)
        return
    if key in ("minLength", "maxLength") and schema.get("type") == "array":
        key = "minItems" if key == "minLength" else "maxItems"
    schema[key] = _json(value)


def _runtime_checks(translator: _Translator) -> list[dict[str, Any]]:
    if "_verify_args" not in translator.module.functions:
        return []
    path, function, start, end = translator.module.functions["_verify_args"]
    translator.use(path, start, end)
    checks = []
    for node in ast.walk(function):
        if isinstance(node, ast.If):
            raises = [r for r in node.body if isinstance(r, ast.Raise)]
            if raises:
                messages = _raised(raises[0])
                checks.append({"condition": ast.unparse(node.test), "message": messages[0] if messages else "", "source": f"{path}:{node.lineno}"})
    return checks


def derive(snippets: Snippets) -> tuple[dict[str, Any], dict[str, list[tuple[int, int]]]]:
    """The schemas of ``ROOTS`` (and what they reference), and the line ranges of each file read."""
    module = _parse(snippets)
    missing = [root for root in ROOTS if root not in module.classes]
    if missing:
        raise ValueError(f"vLLM classes not found: {', '.join(missing)}")
    translator = _Translator(module)
    for root in ROOTS:
        translator.ref(root)
    definitions: dict[str, Any] = {}
    index = 0
    while index < len(translator.needed):
        name = translator.needed[index]
        definitions[name] = translator.class_schema(module.classes[name])
        index += 1
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-generated-by": "python -m contracts.upstream.refetch (contracts/upstream/vllm_schemas.py)",
        "x-roots": list(ROOTS),
        "x-runtime-checks": _runtime_checks(translator),
        "$defs": definitions,
    }
    used = {path: sorted(ranges) for path, ranges in sorted(translator.used.items())}
    return document, used
