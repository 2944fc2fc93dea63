"""Ollama: native /api/chat through LiteLLM's ``ollama_chat/`` (``ollama/`` would use /api/generate)."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import ProviderType


class OllamaProvider(ProviderBase):
    type: Literal["ollama"]


PROVIDER_TYPE = ProviderType(
    self_hosted=True,
    name="ollama",
    settings_model=OllamaProvider,
    litellm_prefix="ollama_chat",
    health_endpoint="/api/tags",
    contract_type="ollama",
    default_port=11434,
    api_family="ollama",
    simulator_port=11434,
    # LiteLLM's ollama_chat talks to the native API at the server root: a /v1 base breaks it.
    forbidden_base_suffix="/v1",
)
