"""vLLM's OpenAI server: ``hosted_vllm/`` (``vllm/`` means the in-process library) and ``/v1``."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import ProviderType


class VllmProvider(ProviderBase):
    type: Literal["vllm"]


PROVIDER_TYPE = ProviderType(
    self_hosted=True,
    name="vllm",
    settings_model=VllmProvider,
    litellm_prefix="hosted_vllm",
    health_endpoint="/health",
    contract_type="vllm",
    default_port=8000,
    api_family="openai",
    simulator_port=8000,
    api_base_suffix="/v1",
)
