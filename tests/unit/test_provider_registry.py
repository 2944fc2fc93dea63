"""Adding a provider type is one small module: proven by adding ``tgi`` in a test."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import generator.providers as providers_package
from generator.layers import CRITICAL
from generator.pipeline import build
from generator.providers import REGISTRY, refresh
from tests.plugins.configs import MakeConfig

pytestmark = pytest.mark.unit

TGI_MODULE = '''
"""Hugging Face text-generation-inference: OpenAI-compatible Messages API under /v1."""

from typing import Literal

from generator.models import ProviderBase
from generator.providers import ProviderType


class TgiProvider(ProviderBase):
    type: Literal["tgi"]
    max_batch_prefill_tokens: int | None = None


PROVIDER_TYPE = ProviderType(
    name="tgi",
    settings_model=TgiProvider,
    litellm_prefix="huggingface",
    health_endpoint="/health",
    contract_type="openai",
    default_port=3000,
    api_base_suffix="/v1",
)
'''


@pytest.fixture
def tgi_type(tmp_path: Path) -> Iterator[None]:
    package_dir = tmp_path / "extra_providers"
    package_dir.mkdir()
    (package_dir / "tgi.py").write_text(textwrap.dedent(TGI_MODULE))
    providers_package.__path__.append(str(package_dir))
    refresh()
    try:
        yield
    finally:
        providers_package.__path__.remove(str(package_dir))
        sys.modules.pop("generator.providers.tgi", None)
        refresh()


def test_builtin_types() -> None:
    assert sorted(REGISTRY) == ["anthropic", "llama_cpp", "llama_cpp_python", "ollama", "openai", "vllm"]
    assert {name: (t.health_endpoint, t.contract_type) for name, t in REGISTRY.items()} == {
        "anthropic": ("/v1/models", None),
        "llama_cpp": ("/health", "llama_cpp"),
        "llama_cpp_python": ("/v1/models", "llama_cpp_python"),
        "ollama": ("/api/tags", "ollama"),
        "openai": ("/models", "openai"),
        "vllm": ("/health", "vllm"),
    }


def test_a_new_type_is_one_module(tgi_type: None, make_config: MakeConfig) -> None:
    config = make_config(providers="""
        providers:
          tgi:
            type: tgi
            base_url: http://127.0.0.1:3000
            max_batch_prefill_tokens: 4096
            models: [mistral-7b]
        """, mappings="routing_rules: {default_provider: tgi}\n", gateway=None)
    result = build(config, layers=CRITICAL, commit="none")
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.config is not None
    assert [e["litellm_params"] for e in result.config["model_list"]] == [
        {"model": "huggingface/mistral-7b", "api_base": "http://127.0.0.1:3000/v1", "timeout": 30, "stream_timeout": 120},
        {"model": "huggingface/*", "api_base": "http://127.0.0.1:3000/v1", "timeout": 30, "stream_timeout": 120},
    ]
    assert REGISTRY["tgi"].health_url(result.sources.providers.providers["tgi"]) == "http://127.0.0.1:3000/health"  # type: ignore[union-attr]


def test_a_new_types_extra_fields_are_its_own(tgi_type: None, make_config: MakeConfig) -> None:
    config = make_config(providers="""
        providers:
          v: {type: vllm, base_url: "http://127.0.0.1:8000", max_batch_prefill_tokens: 1, models: [m]}
        """, mappings="{}\n", gateway=None)
    [d] = build(config, layers=CRITICAL).diagnostics
    assert (d.code, d.path) == ("unknown-key", "providers.v.max_batch_prefill_tokens")
