"""Layer 7 — LiteLLM acceptance: the generated config is one the pinned LiteLLM takes whole.

LiteLLM silently drops keys it does not know and skips invalid deployments at load time,
so this layer (1) compares every key the generator wrote with the keys the installed LiteLLM
reads, found by introspection, and (2) builds a ``litellm.Router`` in-process from the
config. It imports LiteLLM (seconds), so it is not part of ``validate --critical``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import warnings
from collections.abc import Iterator
from typing import Any

from generator.diagnostics import Diagnostic

__all__ = ["accepted_keys", "check_acceptance"]


@contextlib.contextmanager
def _offline_env(config: dict[str, Any]) -> Iterator[None]:
    """Offline cost map, and a dummy value for each os.environ/ reference that is unset."""
    wanted = set(re.findall(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)", repr(config)))
    added = {name: "acceptance-check-placeholder" for name in wanted if name not in os.environ}
    if "LITELLM_LOCAL_MODEL_COST_MAP" not in os.environ:
        added["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch the cost map from the internet
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def accepted_keys() -> dict[str, set[str]]:
    """Per section, the keys the installed LiteLLM reads (introspected, not hard-coded)."""
    import importlib.util
    from pathlib import Path

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
    return {
        "top": set(re.findall(r'config\.get\(\s*"(\w+)"', load_config)),
        "model_list[]": {"model_name", "litellm_params", "model_info"},
        "litellm_params": params,
        "model_info": set(ModelInfo.model_fields) | set(ModelInfoBase.__annotations__),
        "router_settings": set(inspect.signature(litellm.Router.__init__).parameters) - {"self"},
        "litellm_settings": litellm_settings,
        "general_settings": set(ConfigGeneralSettings.model_fields),
    }


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


def check_acceptance(config: dict[str, Any], file: str) -> list[Diagnostic]:
    # LiteLLM's import-time and build-time warnings (pydantic TypedDict notes and the like) are not
    # findings about the config; under `-W error` they would masquerade as a rejection.
    with _offline_env(config), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        known = accepted_keys()
        found: list[Diagnostic] = []
        found += _unknown("top", config, known["top"], file)
        for entry in config.get("model_list", []):
            found += _unknown("model_list[]", entry, known["model_list[]"], file)
            found += _unknown("litellm_params", entry.get("litellm_params", {}), known["litellm_params"], file)
            found += _unknown("model_info", entry.get("model_info", {}), known["model_info"], file)
        for section in ("router_settings", "litellm_settings", "general_settings"):
            found += _unknown(section, config.get(section, {}), known[section], file)
        found = list({(d.path, d.code): d for d in found}.values())
        try:
            import litellm

            router = litellm.Router(model_list=config.get("model_list", []), **config.get("router_settings", {}))
        except Exception as exc:  # any failure to build is the finding itself
            found.append(
                Diagnostic("litellm-rejected", f"litellm.Router refused the generated config: {exc}", file,
                           "model_list", None, "this is a generator bug; please report it with the config")
            )
            return found
        built = len(router.model_list)
        expected = len(config.get("model_list", []))
        if built != expected:
            found.append(
                Diagnostic("litellm-dropped-deployment",
                           f"litellm.Router kept {built} of {expected} deployments (the rest were invalid)",
                           file, "model_list", None, "run with LITELLM_LOG=DEBUG to see which")
            )
        return found
