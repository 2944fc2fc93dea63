"""Typed sources back to YAML text: for copies a program makes of a config (the demo's, CI's).

The operator's own files are never rewritten this way (comments and layout would be lost); this
is for temporary copies whose values a program changed through the models. What is written loads
back to equal models (``tests/unit/test_source_text.py``).
"""

from __future__ import annotations

from typing import Any

import yaml

from generator.models import GatewayFile, ProvidersFile

__all__ = ["gateway_yaml", "providers_yaml"]


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def providers_yaml(providers: ProvidersFile) -> str:
    # Per provider: its type's model (a ProviderBase subclass) knows its own extra fields.
    return _dump({"providers": {
        name: provider.model_dump(mode="json", exclude_defaults=True) for name, provider in providers.providers.items()
    }})


def gateway_yaml(gateway: GatewayFile) -> str:
    return _dump(gateway.model_dump(mode="json", exclude_defaults=True))
