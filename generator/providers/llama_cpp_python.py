"""llama-cpp-python's server (``python -m llama_cpp.server``): OpenAI-compatible ``/v1``."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import PLACEHOLDER_API_KEY, ProviderType


class LlamaCppPythonProvider(ProviderBase):
    type: Literal["llama_cpp_python"]


PROVIDER_TYPE = ProviderType(
    self_hosted=True,
    name="llama_cpp_python",
    settings_model=LlamaCppPythonProvider,
    litellm_prefix="openai",
    health_endpoint="/v1/models",
    contract_type="llama_cpp_python",
    default_port=8000,
    api_family="openai",
    simulator_port=8000,
    engine_backed=True,
    api_base_suffix="/v1",
    placeholder_api_key=PLACEHOLDER_API_KEY,
)
