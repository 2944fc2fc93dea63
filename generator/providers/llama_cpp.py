"""llama.cpp's native llama-server: OpenAI-compatible ``/v1``; one model per server."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import PLACEHOLDER_API_KEY, ProviderType


class LlamaCppProvider(ProviderBase):
    type: Literal["llama_cpp"]


PROVIDER_TYPE = ProviderType(
    name="llama_cpp",
    settings_model=LlamaCppProvider,
    litellm_prefix="openai",
    health_endpoint="/health",
    contract_type="llama_cpp",
    default_port=8080,
    api_base_suffix="/v1",
    placeholder_api_key=PLACEHOLDER_API_KEY,
    serves_any_model=True,
)
