"""Read a config directory into typed ``Sources`` (layers 1 and 2: YAML syntax and schema).

Every problem becomes a ``Diagnostic`` naming the file, the dotted key path and the line;
pydantic's error locations are mapped back to YAML nodes through ``LineMap``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from generator.diagnostics import Diagnostic, errors_of, sort_diagnostics
from generator.models import GatewayFile, MappingsFile, ProviderBase, ProvidersFile
from generator.providers import REGISTRY
from generator.yamlsource import KeyPath, LineMap, ParsedYaml, format_path, parse_yaml, read_yaml_file

__all__ = [
    "GATEWAY_FILE",
    "MAPPINGS_FILE",
    "PROVIDERS_FILE",
    "LoadResult",
    "ParsedSources",
    "Sources",
    "display_path",
    "load_providers_file",
    "load_sources",
    "read_sources",
    "suggest",
    "type_sources",
]

PROVIDERS_FILE = "providers.yaml"
MAPPINGS_FILE = "model-mappings.yaml"
GATEWAY_FILE = "gateway.yaml"


@dataclass(frozen=True)
class Sources:
    """The three source files, typed, plus what is needed to point back into them."""

    config_dir: Path
    providers: ProvidersFile
    mappings: MappingsFile
    gateway: GatewayFile
    files: dict[str, str]  # role ("providers", "mappings", "gateway") -> display path
    lines: dict[str, LineMap]  # role -> line map
    hashes: dict[str, str]  # display path -> sha256 of the bytes read

    def line(self, role: str, path: KeyPath) -> int | None:
        return self.lines[role].line_of(path)


@dataclass
class LoadResult:
    sources: Sources | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def suggest(word: str, candidates: typing.Iterable[str]) -> str | None:
    """The closest candidate, if any is close enough to be a likely typo."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def display_path(path: Path) -> str:
    """How messages name a file: relative to the working directory when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_display = display_path


# --- mapping pydantic errors back to the YAML ------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Annotated/Optional/Union peeled)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk ``loc`` through ``model``'s fields; the model class found there, if any."""
    current: Any = model
    index = 0
    while index < len(loc):
        part = loc[index]
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            candidates = _unwrap(info.annotation)
            current = candidates[0] if len(candidates) == 1 else next(
                (c for c in candidates if typing.get_origin(c) in (dict, list) or isinstance(c, type)), None
            )
            index += 1
            continue
        origin = typing.get_origin(current)
        if origin is dict:
            current = _unwrap(typing.get_args(current)[1])[0]
            index += 1
            continue
        if origin is list:
            current = _unwrap(typing.get_args(current)[0])[0]
            index += 1
            continue
        return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _describe(error: Any) -> tuple[str, str, str | None]:
    """(code, message, hint) for one pydantic error."""
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    if kind == "missing":
        return "missing-key", f"missing required key `{loc[-1]}`", f"add `{loc[-1]}:` here (see the example config)"
    if kind == "too_short":
        return "empty-value", "must not be empty", "give at least one entry"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        hint_value = suggest(str(value), [part.strip(" '") for part in expected.replace(" or ", ",").split(",")])
        hint = f"did you mean {hint_value!r}?" if hint_value else f"use one of {expected}"
        return "invalid-value", f"{value!r} is not allowed; expected {expected}", hint
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "exclusive_group":
        return (
            "invalid-value",
            f"{value!r} is not a group name",
            "letters, digits, '_', '.' and '-', starting with a letter or digit (e.g. gpu0)",
        )
    if kind == "string_pattern_mismatch" and loc and str(loc[-1]).endswith("_env"):
        return (
            "invalid-env-name",
            f"{value!r} is not an environment variable name",
            "give the NAME of a variable (letters, digits, _), not its value: secrets never go in these files",
        )
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message}, got {value!r}"
    return "invalid-value", message, None


def _schema_diagnostics(
    exc: ValidationError, root: type[BaseModel], parsed: ParsedYaml, prefix: KeyPath = ()
) -> list[Diagnostic]:
    diagnostics = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        full: KeyPath = (*prefix, *loc)
        if error["type"] == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            known = list(owner.model_fields) if owner else []
            close = suggest(str(loc[-1]), known)
            hint = f"rename it to `{close}`" if close else (f"known keys: {', '.join(known)}" if known else None)
            message = f"unknown key `{loc[-1]}`" + (f", did you mean `{close}`?" if close else "")
            diagnostics.append(
                Diagnostic("unknown-key", message, parsed.file, format_path(full), parsed.lines.line_of(full), hint)
            )
            continue
        code, message, hint = _describe(error)
        diagnostics.append(Diagnostic(code, message, parsed.file, format_path(full), parsed.lines.line_of(full), hint))
    # `base_ulr` (did you mean `base_url`?) already explains the missing `base_url`: say it once.
    suggested = {
        d.path.rsplit(".", 1)[0] + "." + d.hint.split("`")[1]
        for d in diagnostics
        if d.code == "unknown-key" and d.hint and d.hint.startswith("rename it to `") and "." in d.path
    }
    return [d for d in diagnostics if not (d.code == "missing-key" and d.path in suggested)]


# --- the three files ----------------------------------------------------------------------------


def _parse_providers(parsed: ParsedYaml) -> tuple[ProvidersFile | None, list[Diagnostic]]:
    data = parsed.data
    diagnostics: list[Diagnostic] = []
    extra = [k for k in data if k != "providers"]
    for key in extra:
        close = suggest(str(key), ["providers"])
        diagnostics.append(
            Diagnostic(
                "unknown-key",
                f"unknown key `{key}`" + (f", did you mean `{close}`?" if close else ""),
                parsed.file,
                str(key),
                parsed.lines.line_of((str(key),)),
                "the file has one top-level key: providers",
            )
        )
    raw = data.get("providers")
    if not isinstance(raw, dict) or not raw:
        diagnostics.append(
            Diagnostic(
                "missing-key" if raw is None else "invalid-value",
                "`providers` must be a non-empty mapping of provider name -> settings",
                parsed.file,
                "providers",
                parsed.lines.line_of(("providers",)) or 1,
                "see the example config: providers: {ollama: {type: ollama, base_url: ...}}",
            )
        )
        return None, diagnostics
    providers: dict[str, ProviderBase] = {}
    for name, settings in raw.items():
        where: KeyPath = ("providers", str(name))
        if not isinstance(settings, dict):
            diagnostics.append(
                Diagnostic(
                    "invalid-value",
                    f"provider `{name}` must be a mapping of settings, got {type(settings).__name__}",
                    parsed.file,
                    format_path(where),
                    parsed.lines.line_of(where),
                )
            )
            continue
        type_name = settings.get("type")
        if type_name not in REGISTRY:
            close = suggest(str(type_name), REGISTRY)
            diagnostics.append(
                Diagnostic(
                    "unknown-provider-type" if type_name is not None else "missing-key",
                    f"unknown provider type {type_name!r}" if type_name is not None else "missing required key `type`",
                    parsed.file,
                    format_path((*where, "type")),
                    parsed.lines.line_of((*where, "type")),
                    (f"did you mean {close!r}? " if close else "") + f"known types: {', '.join(REGISTRY)}",
                )
            )
            continue
        model = REGISTRY[type_name].settings_model
        try:
            providers[str(name)] = model.model_validate(settings)
        except ValidationError as exc:
            diagnostics.extend(_schema_diagnostics(exc, model, parsed, where))
    if errors_of(diagnostics):
        return None, diagnostics
    return ProvidersFile.model_construct(providers=providers), diagnostics


def _parse_model(
    parsed: ParsedYaml, model: type[BaseModel]
) -> tuple[BaseModel | None, list[Diagnostic]]:
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        return None, _schema_diagnostics(exc, model, parsed)


@dataclass
class ParsedSources:
    """Layer 1's result: each source file read as YAML (role -> parsed), with the files' paths."""

    config_dir: Path
    paths: dict[str, Path]  # role -> path (gateway.yaml may be absent on disk)
    parsed: dict[str, ParsedYaml] = field(default_factory=dict)


def read_sources(
    config_dir: Path, texts: Mapping[str, str] | None = None
) -> tuple[ParsedSources | None, list[Diagnostic]]:
    """Layer 1 (YAML syntax) over a config directory. Missing required files are UsageErrors (exit 2).

    ``texts`` (role -> text) stands in for files on disk: an edit is validated before it is
    written (``aibackend providers``, ``switch``); diagnostics still name the file it will be.
    """
    from generator.errors import UsageError

    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise UsageError(
            f"config directory {_display(config_dir)} does not exist",
            hint="pass --config-dir DIR, or run from the project root (the default is config/)",
        )
    paths = {
        "providers": config_dir / PROVIDERS_FILE,
        "mappings": config_dir / MAPPINGS_FILE,
        "gateway": config_dir / GATEWAY_FILE,
    }
    given = dict(texts or {})
    for role in ("providers", "mappings"):
        if role not in given and not paths[role].is_file():
            raise UsageError(
                f"{_display(paths[role])} not found",
                hint=f"every config directory needs {PROVIDERS_FILE} and {MAPPINGS_FILE}; copy them from the example config",
            )
    diagnostics: list[Diagnostic] = []
    parsed: dict[str, ParsedYaml] = {}
    for role, path in paths.items():
        if role in given:
            result, problems = parse_yaml(given[role].encode("utf-8"), _display(path), allow_empty=(role == "gateway"))
            diagnostics.extend(problems)
            if result is not None:
                parsed[role] = result
            continue
        if role == "gateway" and not path.exists():
            continue
        try:
            result, problems = read_yaml_file(path, _display(path), allow_empty=(role == "gateway"))
        except OSError as exc:
            raise UsageError(f"cannot read {_display(path)}: {exc.strerror}") from exc
        diagnostics.extend(problems)
        if result is not None:
            parsed[role] = result
    if errors_of(diagnostics):
        return None, diagnostics
    return ParsedSources(config_dir, paths, parsed), diagnostics


def type_sources(read: ParsedSources) -> tuple[Sources | None, list[Diagnostic]]:
    """Layer 2 (schema): the parsed files into typed models; every error located."""
    diagnostics: list[Diagnostic] = []
    parsed = read.parsed
    providers, problems = _parse_providers(parsed["providers"])
    diagnostics.extend(problems)
    mappings, problems = _parse_model(parsed["mappings"], MappingsFile)
    diagnostics.extend(problems)
    gateway: BaseModel | None = GatewayFile()
    if "gateway" in parsed:
        gateway, problems = _parse_model(parsed["gateway"], GatewayFile)
        diagnostics.extend(problems)
    if providers is None or not isinstance(mappings, MappingsFile) or not isinstance(gateway, GatewayFile):
        return None, diagnostics
    sources = Sources(
        config_dir=read.config_dir,
        providers=providers,
        mappings=mappings,
        gateway=gateway,
        files={role: _display(path) for role, path in read.paths.items()},
        lines={role: parsed[role].lines if role in parsed else LineMap() for role in read.paths},
        hashes={parsed[role].file: parsed[role].sha256 for role in parsed},
    )
    return sources, diagnostics


def load_providers_file(path: Path) -> tuple[ProvidersFile | None, list[Diagnostic]]:
    """Layers 1-2 over one providers.yaml wherever it is (``contract --providers-file``); UsageError
    when it cannot be read, otherwise the typed file (None when invalid) and the sorted diagnostics."""
    from generator.errors import UsageError

    try:
        parsed, diagnostics = read_yaml_file(path, _display(path))
    except OSError as exc:
        raise UsageError(f"cannot read {_display(path)}: {exc.strerror}") from exc
    providers = None
    if parsed is not None and not errors_of(diagnostics):
        providers, problems = _parse_providers(parsed)
        diagnostics += problems
    return providers, sort_diagnostics(diagnostics)


def load_sources(config_dir: Path) -> LoadResult:
    """Layers 1-2 over a config directory (for callers that need only the typed sources)."""
    read, diagnostics = read_sources(config_dir)
    if read is None:
        return LoadResult(None, sort_diagnostics(diagnostics))
    sources, problems = type_sources(read)
    diagnostics += problems
    return LoadResult(sources, sort_diagnostics(diagnostics) if sources is None else diagnostics)
