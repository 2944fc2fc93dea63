"""Any OpenAI-compatible server, cloud or local. ``base_url`` includes its ``/v1``."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import PLACEHOLDER_API_KEY, ProviderType


class OpenAIProvider(ProviderBase):
    type: Literal["openai"]


PROVIDER_TYPE = ProviderType(
    name="openai",
    settings_model=OpenAIProvider,
    litellm_prefix="openai",
    health_endpoint="/models",
    contract_type="openai",
    default_port=443,
    api_family="openai",
    # Local OpenAI-compatible servers (vLLM, LM Studio's proxy...) commonly listen on 8000.
    simulator_port=8000,
    # Local OpenAI-compatible servers often need no key, but the OpenAI client insists on one.
    placeholder_api_key=PLACEHOLDER_API_KEY,
)
