"""generator.source_text: typed sources written back as YAML load to equal models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.layers import CRITICAL
from generator.pipeline import build
from generator.source_text import gateway_yaml, providers_yaml

pytestmark = [pytest.mark.unit]

EXAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "configs" / "example"


def test_the_example_config_round_trips_through_the_models(tmp_path: Path) -> None:
    original = build(EXAMPLE, layers=CRITICAL, commit="none")
    assert original.sources is not None
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "providers.yaml").write_text(providers_yaml(original.sources.providers), encoding="utf-8")
    (copy / "gateway.yaml").write_text(gateway_yaml(original.sources.gateway), encoding="utf-8")
    shutil.copyfile(EXAMPLE / "model-mappings.yaml", copy / "model-mappings.yaml")
    again = build(copy, layers=CRITICAL, commit="none")
    assert again.diagnostics == [] and again.sources is not None
    assert again.sources.providers == original.sources.providers
    assert again.sources.gateway == original.sources.gateway
    # The generated config's body is the same; only the header's source hashes differ.
    assert original.text is not None and again.text is not None
    assert original.text.split("\n---\n", 1)[1] == again.text.split("\n---\n", 1)[1]
