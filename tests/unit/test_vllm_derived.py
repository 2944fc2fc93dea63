"""The vllm spec against vLLM's own models (derived from the pinned wheel: contracts/upstream/
derived/vllm.json): every difference has a recorded reason (contracts/specbuilder/vllm.py,
DERIVED_DIFFERENCES), and every recorded reason still explains a difference."""

from __future__ import annotations

import json

import pytest

from contracts.specbuilder import BUILDERS
from contracts.specbuilder.vllm import DERIVED_DIFFERENCES, DERIVED_PAIRS
from contracts.upstream.compare import differences, matches
from contracts.upstream.refetch import DERIVED_VLLM

pytestmark = [pytest.mark.unit]


def _differences() -> list[str]:
    spec = BUILDERS["vllm"]()["components"]["schemas"]
    upstream = json.loads(DERIVED_VLLM.read_text(encoding="utf-8"))["$defs"]
    return [f"{ours}: {line}" for ours, theirs in DERIVED_PAIRS for line in differences(spec, ours, upstream, theirs)]


def test_every_difference_from_vllms_models_has_a_recorded_reason() -> None:
    unexplained = [d for d in _differences() if not any(matches(d, p) for p in DERIVED_DIFFERENCES)]
    assert unexplained == [], "record why in contracts/specbuilder/vllm.py DERIVED_DIFFERENCES, or fix the spec"


def test_every_recorded_reason_explains_a_difference() -> None:
    found = _differences()
    stale = [p for p in DERIVED_DIFFERENCES if not any(matches(d, p) for d in found)]
    assert stale == []


def test_a_changed_vllm_model_is_caught() -> None:
    """The comparison has teeth: vLLM making `messages` optional would be an unexplained difference."""
    spec = BUILDERS["vllm"]()["components"]["schemas"]
    upstream = json.loads(DERIVED_VLLM.read_text(encoding="utf-8"))["$defs"]
    upstream["ChatCompletionRequest"]["required"] = []
    found = differences(spec, "ChatCompletionRequest", upstream, "ChatCompletionRequest")
    assert "messages: required: spec True, upstream False" in found
