"""Anthropic's API through LiteLLM's ``anthropic/`` provider; the key must come from the environment."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import ProviderType


class AnthropicProvider(ProviderBase):
    type: Literal["anthropic"]


PROVIDER_TYPE = ProviderType(
    name="anthropic",
    settings_model=AnthropicProvider,
    litellm_prefix="anthropic",
    health_endpoint="/v1/models",
    contract_type=None,  # no spec yet: `contract` refuses it
    default_port=443,
    api_family="anthropic",
)
