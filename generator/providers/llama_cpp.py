"""llama.cpp's native llama-server: OpenAI-compatible ``/v1``; one model per server."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import PLACEHOLDER_API_KEY, ProviderType


class LlamaCppProvider(ProviderBase):
    type: Literal["llama_cpp"]


PROVIDER_TYPE = ProviderType(
    self_hosted=True,
    name="llama_cpp",
    settings_model=LlamaCppProvider,
    litellm_prefix="openai",
    health_endpoint="/health",
    contract_type="llama_cpp",
    default_port=8080,
    api_family="openai",
    simulator_port=8080,
    engine_backed=True,
    api_base_suffix="/v1",
    placeholder_api_key=PLACEHOLDER_API_KEY,
    serves_any_model=True,
    # llama-server closes the connection after every streamed response while announcing
    # "Keep-Alive: timeout=5, max=100" (observed on the real server: docs/llama-cpp.md). LiteLLM's
    # aiohttp pool then sometimes hands the next request that dying connection: 500 "Connection
    # error" (~1 request in 250 back to back). Asking for "Connection: close" makes aiohttp open
    # a fresh connection per request (what llama-server forces for streams anyway).
    extra_params={"extra_headers": {"Connection": "close"}},
)
