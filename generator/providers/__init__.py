"""The provider type registry: one small module per type, found through ``REGISTRY``.

Adding a type (say ``tgi``) is one module in this package defining ``PROVIDER_TYPE``: its extra
schema fields (a ``ProviderBase`` subclass), its LiteLLM prefix and parameters, its health
endpoint, its contract type. Modules are discovered, so nothing else in the compiler changes.

This registry is the one declaration of which provider types exist and what the rest of the
project has for each: a simulator (``simulator_port``), a contract spec (``contract_type``), a real
engine built by the set-up (``engine_backed``). ``contracts/`` and the app derive their lists from
it (``simulated_types()``, ``contract_types()``, ``engine_types()``); none keeps its own tuple.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Literal

from generator.models import ModelSpec, ProviderBase

__all__ = [
    "GATEWAY_CONTRACT_TYPE",
    "REGISTRY",
    "ProviderType",
    "contract_types",
    "discover",
    "engine_types",
    "openai_family_contract_types",
    "refresh",
    "simulated_types",
]

# The gateway itself (the LiteLLM proxy) is a contract type but not a provider type: it is not
# declared in providers.yaml, and it speaks the OpenAI API family.
GATEWAY_CONTRACT_TYPE = "litellm"

PLACEHOLDER_API_KEY = "sk-no-key-required"  # llama.cpp ignores it; the OpenAI client needs one


@dataclass(frozen=True)
class ProviderType:
    """What the compiler needs to know about one kind of inference server."""

    name: str
    settings_model: type[ProviderBase]
    litellm_prefix: str
    health_endpoint: str
    contract_type: str | None  # the spec the contract suite holds it to (contracts/specs/); None: none
    default_port: int
    # The port of ``aibackend simulate TYPE`` (the real server's default); None: no simulator.
    simulator_port: int | None = None
    engine_backed: bool = False  # the set-up builds the real server; engine tests run it
    api_base_suffix: str = ""  # appended to base_url unless already there ("/v1")
    forbidden_base_suffix: str | None = None  # a suffix that is a known mistake (Ollama + "/v1")
    placeholder_api_key: str | None = None
    serves_any_model: bool = False  # one model per server, name ignored (llama.cpp)
    extra_params: dict[str, Any] = field(default_factory=dict)
    api_family: Literal["openai", "ollama", "anthropic"] = "openai"  # the wire protocol it speaks
    # A server the user runs on their own hardware: no price per token. Its deployments declare
    # rates of 0 in model_info, which LiteLLM reads as "free" and which spares it, per request, its
    # zero-cost diagnosis of a pricing entry without rates (litellm_core_utils/llm_cost_calc/
    # zero_cost_diagnostic.py, 1.106.2: ~5 ms of CPU per request, benchmarks/bench_gateway_overhead.py).
    self_hosted: bool = False

    def free_rates(self) -> dict[str, float]:
        """The model_info rates a deployment of this type declares (none for a priced service).

        All four of LiteLLM's per-token rates, the cache ones too: with input and output rates alone,
        LiteLLM 1.106.2's ``register_model`` (utils.py) warns at start-up, once per deployment, that
        the cache rates "will default to 0", and takes a slower path (+1 ms per deployment)."""
        if not self.self_hosted:
            return {}
        return dict.fromkeys(("input_cost_per_token", "output_cost_per_token", "cache_creation_input_token_cost",
                              "cache_read_input_token_cost"), 0.0)

    def api_base(self, provider: ProviderBase) -> str:
        base = provider.base_url.rstrip("/")
        if self.api_base_suffix and not base.endswith(self.api_base_suffix):
            base += self.api_base_suffix
        return base

    def litellm_model(self, backend_model: str) -> str:
        return f"{self.litellm_prefix}/{backend_model}"

    def api_key(self, provider: ProviderBase) -> str | None:
        if provider.api_key_env:
            return f"os.environ/{provider.api_key_env}"
        return self.placeholder_api_key

    def litellm_params(self, provider: ProviderBase, model: ModelSpec) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.litellm_model(model.name),
            "api_base": self.api_base(provider),
        }
        key = self.api_key(provider)
        if key is not None:
            params["api_key"] = key
        params.update(self.extra_params)
        return params

    def health_url(self, provider: ProviderBase) -> str:
        return provider.base_url.rstrip("/") + (provider.health_endpoint or self.health_endpoint)


def discover() -> dict[str, ProviderType]:
    """Every module of this package that defines ``PROVIDER_TYPE``, in name order."""
    registry: dict[str, ProviderType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        provider_type: ProviderType | None = getattr(module, "PROVIDER_TYPE", None)
        if provider_type is not None:
            registry[provider_type.name] = provider_type
    return registry


REGISTRY: dict[str, ProviderType] = {}


def refresh() -> None:
    """(Re)discover the provider modules; the registry object itself stays the same."""
    REGISTRY.clear()
    REGISTRY.update(discover())


refresh()


def simulated_types() -> tuple[str, ...]:
    """The types ``aibackend simulate`` can stand in for."""
    return tuple(name for name, provider_type in REGISTRY.items() if provider_type.simulator_port is not None)


def engine_types() -> tuple[str, ...]:
    """The types whose real server the set-up builds (the engine tests run them)."""
    return tuple(name for name, provider_type in REGISTRY.items() if provider_type.engine_backed)


def contract_types() -> tuple[str, ...]:
    """Every type the contract suite has a spec for: the providers' and the gateway's."""
    types = [provider_type.contract_type for provider_type in REGISTRY.values() if provider_type.contract_type]
    return (*types, GATEWAY_CONTRACT_TYPE)


def openai_family_contract_types() -> frozenset[str]:
    """Contract types that serve the OpenAI-compatible ``/v1`` surface (the gateway included)."""
    types = {t.contract_type for t in REGISTRY.values() if t.contract_type and t.api_family == "openai"}
    return frozenset({*types, GATEWAY_CONTRACT_TYPE})
