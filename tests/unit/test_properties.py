"""Property tests: random valid registries always generate, deterministically, every name routable;
cycle detection agrees with brute force on small random graphs."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.layers import CRITICAL
from generator.pipeline import build
from generator.routing import find_cycles

pytestmark = pytest.mark.unit

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.:/", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum())
TYPES = ["ollama", "vllm", "llama_cpp", "llama_cpp_python", "openai"]


@st.composite
def registries(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    model_names = draw(st.lists(NAME, min_size=1, max_size=12, unique=True))
    provider_count = draw(st.integers(1, 4))
    providers: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for index in range(provider_count):
        mine = model_names[index::provider_count] or [model_names[0]]
        name = f"p{index}"
        providers[name] = {
            "type": draw(st.sampled_from(TYPES)),
            "base_url": f"http://127.0.0.1:{9000 + index}" + ("/v1" if draw(st.booleans()) and index else ""),
            "status": "active" if index == 0 else draw(st.sampled_from(["active", "active", "disabled", "template"])),
            "models": mine,
        }
        if providers[name]["type"] == "ollama":
            providers[name]["base_url"] = f"http://127.0.0.1:{9000 + index}"
        for model in mine:
            owner.setdefault(model, name)
    active = [m for m in model_names if providers[owner[m]]["status"] == "active"]
    aliases = {}
    for i, model in enumerate(draw(st.lists(st.sampled_from(active), max_size=4, unique=True))):
        aliases[f"alias-{i}"] = {"provider": owner[model], "backend_model": model}
    routable = active + list(aliases)
    capabilities = {}
    for i in range(draw(st.integers(0, 2))):
        capabilities[f"cap-{i}"] = {
            "preferred_models": draw(st.lists(st.sampled_from(routable), min_size=1, max_size=3, unique=True)),
            "routing_strategy": draw(st.sampled_from(["fallback", "load_balance"])),
        }
    # acyclic by construction: a name only falls back to names later in a random order
    order = draw(st.permutations(routable))
    chains = {}
    for i, source in enumerate(order[:-1]):
        later = order[i + 1 :]
        targets = draw(st.lists(st.sampled_from(later), max_size=3, unique=True))
        if targets:
            chains[source] = {"chain": targets}
    mappings = {
        "exact_matches": aliases,
        "capabilities": capabilities,
        "fallback_chains": chains,
        "rate_limits": {m: {"rpm": draw(st.integers(1, 1000))} for m in draw(st.lists(st.sampled_from(routable), max_size=2, unique=True))},
        "routing_rules": {"default_provider": "p0"},
    }
    return {"providers": providers}, mappings


def write(directory: Path, providers: dict[str, Any], mappings: dict[str, Any]) -> None:
    directory.mkdir(parents=True)
    (directory / "providers.yaml").write_text(yaml.safe_dump(providers))
    (directory / "model-mappings.yaml").write_text(yaml.safe_dump(mappings))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_random_valid_registries_generate_deterministically_with_every_name_routable(
    registry: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    providers, mappings = registry
    root = Path(tempfile.mkdtemp())
    try:
        write(root / "a", providers, mappings)
        write(root / "b", providers, mappings)
        first = build(root / "a", layers=CRITICAL, commit="none")
        assert first.ok, [d.format() for d in first.diagnostics]
        second = build(root / "b", layers=CRITICAL, commit="none")
        assert first.text == second.text
        assert first.config is not None
        groups = {e["model_name"] for e in first.config["model_list"]}
        active_models = {m for p in providers["providers"].values() if p["status"] == "active" for m in p["models"]}
        assert active_models | set(mappings["exact_matches"]) | set(mappings["capabilities"]) | {"*"} <= groups
        for entry in first.config["router_settings"].get("fallbacks", []):
            for source, targets in entry.items():
                assert source in groups and set(targets) <= groups
        assert yaml.safe_load(first.text) == first.config
    finally:
        shutil.rmtree(root)


def brute_force_has_cycle(graph: dict[str, list[str]]) -> bool:
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for length in range(1, len(nodes) + 1):
        for path in itertools.permutations(nodes, length):
            if all(b in graph.get(a, []) for a, b in itertools.pairwise(path)) and path[0] in graph.get(path[-1], []):
                return True
    return False


GRAPHS = st.dictionaries(
    st.sampled_from("abcdef"), st.lists(st.sampled_from("abcdef"), max_size=3, unique=True), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(GRAPHS)
def test_cycle_detection_agrees_with_brute_force(graph: dict[str, list[str]]) -> None:
    cycles = find_cycles(graph)
    assert bool(cycles) == brute_force_has_cycle(graph)
    for path, (source, edge) in cycles:
        assert path[0] == path[-1]
        assert all(b in graph[a] for a, b in itertools.pairwise(path))
        assert graph[source][edge] == path[-1] and path[-2] == source
