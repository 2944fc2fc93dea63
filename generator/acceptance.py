"""Layer 7 — LiteLLM acceptance: the generated config is one the pinned LiteLLM takes whole.

LiteLLM silently drops keys it does not know and skips invalid deployments at load time,
so this layer (1) compares every key the generator wrote with the keys the installed LiteLLM
reads, found by introspection, and (2) builds a ``litellm.Router`` in-process from the config.

Building LiteLLM's Router costs milliseconds per deployment, and more as the model list grows
(LiteLLM 1.106.2 registers each deployment's pricing in its cost map and rebuilds a lower-cased
copy of the whole map on the next lookup: about 6 s for 2,000 deployments, minutes at 16,000).
Deployments the generator writes differ mostly in names, so the Router is built from one
deployment per *shape* (``deployment_shape``: the entry with the values derived from names and
the numbers from the sources reduced to their kind) and the whole router_settings. A shape the
Router refuses or drops is reported from a full build, so the findings are exactly those of a
full build (``tests/integration/test_acceptance.py`` compares the two on configs wrong in every
way this layer knows).

Importing LiteLLM costs seconds, so ``validate`` and ``generate`` import it in a worker process
(``Prefetch``) started before layer 1 and given the rendered config at layer 7: the import
overlaps the compile on a second core. ``python -m generator.acceptance`` is that worker.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator import acceptance_cache
from generator.diagnostics import Diagnostic

__all__ = ["Prefetch", "accepted_keys", "built_list", "cached_check", "check_acceptance", "deployment_shape", "key_findings",
           "known_keys", "representatives"]


@contextlib.contextmanager
def _offline_env(config: dict[str, Any]) -> Iterator[None]:
    """Offline cost map, and a dummy value for each os.environ/ reference that is unset."""
    wanted = set(re.findall(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)", json.dumps(config, default=str)))
    added = {name: "acceptance-check-placeholder" for name in wanted if name not in os.environ}
    if "LITELLM_LOCAL_MODEL_COST_MAP" not in os.environ:
        added["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch the cost map from the internet
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


_ACCEPTED: dict[str, set[str]] | None = None


def accepted_keys() -> dict[str, set[str]]:
    """Per section, the keys the installed LiteLLM reads (introspected, not hard-coded)."""
    global _ACCEPTED
    if _ACCEPTED is not None:
        return _ACCEPTED
    import importlib.util

    import litellm
    from litellm.proxy._types import ConfigGeneralSettings
    from litellm.types.router import GenericLiteLLMParams, LiteLLM_Params, ModelInfo
    from litellm.types.utils import ModelInfoBase

    # The proxy's config loader is read as source, not imported: importing proxy_server costs
    # ~15 s of CPU and starts nothing useful here.
    spec = importlib.util.find_spec("litellm.proxy.proxy_server")
    assert spec is not None and spec.origin is not None
    load_config = Path(spec.origin).read_text(encoding="utf-8")
    params = set(GenericLiteLLMParams.model_fields) | set(LiteLLM_Params.model_fields)
    if hasattr(litellm.utils, "get_deployment_order"):
        params.add("order")  # read by the router's order filter, not declared in the params model
    # The router passes a deployment's litellm_params on to litellm.completion() as keyword
    # arguments, so its parameters are read too (extra_headers, used for llama-server).
    params |= set(inspect.signature(litellm.completion).parameters) - {"kwargs", "args"}
    litellm_settings = set(re.findall(r'key == "(\w+)"', load_config))
    litellm_settings |= {name for name in dir(litellm) if not name.startswith("_")}
    _ACCEPTED = {
        "top": set(re.findall(r'config\.get\(\s*"(\w+)"', load_config)),
        "model_list[]": {"model_name", "litellm_params", "model_info"},
        "litellm_params": params,
        "model_info": set(ModelInfo.model_fields) | set(ModelInfoBase.__annotations__),
        "router_settings": set(inspect.signature(litellm.Router.__init__).parameters) - {"self"},
        "litellm_settings": litellm_settings,
        "general_settings": set(ConfigGeneralSettings.model_fields),
    }
    return _ACCEPTED


def _unknown(section: str, keys: Any, known: set[str], file: str) -> list[Diagnostic]:
    return [
        Diagnostic(
            "litellm-unknown-key",
            f"the generator wrote `{key}` under {section}, which the installed LiteLLM does not read "
            "(it would be dropped silently)",
            file,
            f"{section}.{key}",
            None,
            "this is a generator bug or a LiteLLM version change: check constraints.txt's litellm pin",
        )
        for key in keys
        if key not in known
    ]


# -- shapes -------------------------------------------------------------------------------------
# The values the generator derives from model and provider names, and the numbers it copies from
# the sources: the Router reads them (as text, as numbers) but nothing in building it depends on
# which name or which number, only on its kind. Every other value is kept as it is.
_NAMED_PARAMS = ("model",)
_NUMBER_PARAMS = ("rpm", "tpm", "order")
_NAMED_INFO = ("id",)
_NUMBER_INFO = ("max_input_tokens",)


def _name_kind(value: Any) -> Any:
    if not isinstance(value, str):
        return ("not-text", _literal(value))
    return ("text", bool(value), "*" in value)


def _model_kind(value: Any) -> Any:
    # The Router resolves the provider from the prefix (`ollama_chat/`, `hosted_vllm/`, ...).
    if not isinstance(value, str):
        return ("not-text", _literal(value))
    prefix, slash, rest = value.partition("/")
    return ("model", prefix if slash else None, bool(rest) if slash else bool(prefix), "*" in value)


def _number_kind(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ("literal", _literal(value))
    return (type(value).__name__, (value > 0) - (value < 0))


_PLAIN = (str, int, float, bool, type(None))


def _literal(value: Any) -> Any:
    if value.__class__ in _PLAIN:
        return (value.__class__, value)  # 1, 1.0 and True are different values here
    return ("json", json.dumps(value, sort_keys=True, default=repr))


def _section(section: dict[str, Any], named: tuple[str, ...], numbers: tuple[str, ...],
             name_kind: Any) -> tuple[Any, ...]:
    shape: list[tuple[Any, ...]] = []
    for key, value in section.items():
        if key in named:
            shape.append((key, name_kind(value)))
        elif key in numbers:
            shape.append((key, _number_kind(value)))
        elif value.__class__ in _PLAIN:
            shape.append((key, value.__class__, value))
        else:
            shape.append((key, _literal(value)))
    return tuple(shape)


def deployment_shape(entry: Any) -> tuple[Any, ...] | None:
    """What the Router's build of ``entry`` depends on; None for an entry of no known shape."""
    if not isinstance(entry, dict):
        return None
    params, info = entry.get("litellm_params"), entry.get("model_info", {})
    if not isinstance(params, dict) or not isinstance(info, dict):
        return None
    others = tuple((key, _literal(value)) for key, value in entry.items()
                   if key not in ("model_name", "litellm_params", "model_info"))
    return (
        others,
        tuple(entry),  # the order of the keys, as written
        _name_kind(entry.get("model_name")),
        _section(params, _NAMED_PARAMS, _NUMBER_PARAMS, _model_kind),
        _section(info, _NAMED_INFO, _NUMBER_INFO, _name_kind),
    )


def representatives(model_list: Any) -> list[dict[str, Any]] | None:
    """The first deployment of each shape, in order; None when a full build is the only honest check
    (an entry of no known shape, or two deployments with one id)."""
    if not isinstance(model_list, list):
        return None
    chosen: dict[tuple[Any, ...], dict[str, Any]] = {}
    ids: set[Any] = set()
    for entry in model_list:
        shape = deployment_shape(entry)
        if shape is None:
            return None
        identity = entry.get("model_info", {}).get("id")
        if identity is not None:
            if identity in ids:
                return None
            ids.add(identity)
        chosen.setdefault(shape, entry)
    return list(chosen.values())


# -- the check ----------------------------------------------------------------------------------
def _router_findings(model_list: Any, router_settings: dict[str, Any], file: str) -> list[Diagnostic]:
    import litellm

    expected = len(model_list) if isinstance(model_list, list) else 0
    try:
        router = litellm.Router(model_list=model_list, **router_settings)  # it takes apart a copy
    except Exception as exc:  # any failure to build is the finding itself
        return [
            Diagnostic("litellm-rejected", f"litellm.Router refused the generated config: {exc}", file,
                       "model_list", None, "this is a generator bug; please report it with the config")
        ]
    built = len(router.model_list)
    if built != expected:
        return [
            Diagnostic("litellm-dropped-deployment",
                       f"litellm.Router kept {built} of {expected} deployments (the rest were invalid)",
                       file, "model_list", None, "run with LITELLM_LOG=DEBUG to see which")
        ]
    return []


def check_acceptance(config: dict[str, Any], file: str, *, exhaustive: bool = False) -> list[Diagnostic]:
    """Layer 7's findings for ``config``. ``exhaustive`` builds the Router from every deployment
    instead of one per shape (the reference the shortcut is tested against; same findings)."""
    # LiteLLM's import-time and build-time warnings (pydantic TypedDict notes and the like) are not
    # findings about the config; under `-W error` they would masquerade as a rejection.
    with _offline_env(config), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        known = known_keys()
        found = key_findings(config, known, file)
        model_list = config.get("model_list", [])
        router_settings = config.get("router_settings", {})
        built = built_list(model_list, exhaustive=exhaustive)
        refused = _router_findings(built, router_settings, file)
        if refused and built is not model_list:
            # A shape the Router refuses: the full build says exactly what it refuses.
            refused = _router_findings(model_list, router_settings, file)
    if not refused:
        # Outside _offline_env: the answer is kept under the environment as the caller sees it.
        acceptance_cache.store_accepted(built, router_settings)
    return found + refused


def cached_check(config: dict[str, Any], file: str) -> list[Diagnostic] | None:
    """``check_acceptance``'s findings from the answers kept for the installed LiteLLM
    (``generator.acceptance_cache``), without importing it; None unless both answers are kept."""
    known = acceptance_cache.load_keys()
    if known is None:
        return None
    if not acceptance_cache.accepted(built_list(config.get("model_list", [])), config.get("router_settings", {})):
        return None
    return key_findings(config, known, file)


def known_keys() -> dict[str, set[str]]:
    """``accepted_keys()``, from the answer kept for the installed LiteLLM when there is one (the
    introspection imports LiteLLM's proxy types: most of a second beyond LiteLLM's own import)."""
    known = acceptance_cache.load_keys()
    if known is None:
        known = accepted_keys()
        acceptance_cache.store_keys(known)
    return known


def key_findings(config: dict[str, Any], known: dict[str, set[str]], file: str) -> list[Diagnostic]:
    """Every key written that the installed LiteLLM does not read (``known``: ``accepted_keys()``)."""
    found: list[Diagnostic] = []
    found += _unknown("top", config, known["top"], file)
    model_list = config.get("model_list", [])
    for entry in model_list if isinstance(model_list, list) else []:
        if not isinstance(entry, dict):
            continue
        found += _unknown("model_list[]", entry, known["model_list[]"], file)
        found += _unknown("litellm_params", entry.get("litellm_params") or {}, known["litellm_params"], file)
        found += _unknown("model_info", entry.get("model_info") or {}, known["model_info"], file)
    for section in ("router_settings", "litellm_settings", "general_settings"):
        found += _unknown(section, config.get(section, {}), known[section], file)
    return list({(d.path, d.code): d for d in found}.values())


def built_list(model_list: Any, *, exhaustive: bool = False) -> Any:
    """What the Router is built from first: one deployment per shape, or the whole list when the
    shortcut would not be shorter or is not honest (see ``representatives``)."""
    sample = None if exhaustive else representatives(model_list)
    return sample if sample is not None and len(sample) < len(model_list) else model_list


# -- the worker that imports LiteLLM while the compiler runs ------------------------------------
class Prefetch:
    """A ``python -m generator.acceptance`` process importing LiteLLM from the moment it starts.

    It reads one JSON request (``{"config", "file"}``) on stdin, answers with the findings on
    stdout and exits; at end of input without a request it exits at once. ``close`` kills it if it
    is still there, so a build that stops early (an error in layers 1-5, Ctrl-C) leaves nothing.
    """

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])  # where this `generator` was imported from
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        self.process = subprocess.Popen(
            # -P: the current directory is not on the path (a `generator/` there must not shadow ours)
            [sys.executable, "-P", "-m", "generator.acceptance"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )

    def check(self, config: dict[str, Any], file: str) -> list[Diagnostic] | None:
        """The findings, or None when the worker failed (the caller then checks in-process)."""
        request = json.dumps({"config": config, "file": file}, default=str).encode()
        try:
            out, _ = self.process.communicate(request)
        except (BrokenPipeError, OSError):
            return None
        if self.process.returncode != 0:
            return None
        try:
            return [Diagnostic(**item) for item in json.loads(out)["diagnostics"]]
        except (ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.communicate(timeout=10)


def _serve() -> int:
    # Ctrl-C reaches the whole foreground group: this worker ends quietly, its owner reports.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # What the owner's compile overlaps: LiteLLM's import, and its introspection unless kept.
        known_keys()
        import litellm  # noqa: F401
    raw = sys.stdin.buffer.read()
    if not raw:
        return 0  # the owner stopped before layer 7
    request = json.loads(raw)
    found = check_acceptance(request["config"], request["file"])
    sys.stdout.write(json.dumps({"diagnostics": [
        {"code": d.code, "message": d.message, "file": d.file, "path": d.path, "line": d.line, "hint": d.hint,
         "severity": d.severity} for d in found]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve())
