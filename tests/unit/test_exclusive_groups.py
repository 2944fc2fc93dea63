"""Exclusive groups (one GPU, one engine), and validating an edit before it is written.

- at most one active member per ``exclusive_group`` (layer 3), located at the second one;
- a pattern naming a switched-off member is a warning (its names wait for ``aibackend switch``),
  while a pattern naming any other inactive provider stays an error;
- ``build(texts=...)`` validates and renders a providers.yaml that is not on disk, with the
  diagnostics naming the file and the line in that text, secrets scanned there too;
- providers.yaml backups are kept beside the generated file's and restored by their own kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import store
from generator.errors import StoreError
from generator.layers import COMPILE
from generator.pipeline import build
from generator.source_edit import set_field
from tests.plugins.configs import MakeConfig

pytestmark = pytest.mark.unit

TWO_ENGINES = """
providers:
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434
    models: [llama3.1:8b]
  vllm-a:
    type: vllm
    base_url: http://127.0.0.1:8001
    status: active
    exclusive_group: gpu0
    start_command: vllm serve model-a --port 8001
    models: [model-a]
  vllm-b:
    type: vllm
    base_url: http://127.0.0.1:8001
    status: disabled
    exclusive_group: gpu0
    models: [model-b]
"""


def findings(config: Path, **texts: str) -> list[tuple[str, str, str, int | None, str]]:
    result = build(config, layers=COMPILE, render=False, environ={"LITELLM_MASTER_KEY": "x"}, texts=texts or None)
    return [(d.severity, d.code, d.path, d.line, d.message) for d in result.diagnostics]


def test_members_of_a_group_may_share_a_port_since_one_runs_at_a_time(make_config: MakeConfig) -> None:
    config = make_config(providers=TWO_ENGINES, mappings="{}\n", gateway="cache: {enabled: false}\n")
    assert findings(config) == []


def test_two_active_members_of_a_group_are_an_error_at_the_second(make_config: MakeConfig) -> None:
    config = make_config(providers=TWO_ENGINES.replace("status: disabled", "status: active"), mappings="{}\n",
                         gateway="cache: {enabled: false}\n")
    assert [f for f in findings(config) if f[0] == "error"] == [
        ("error", "port-conflict", "providers.vllm-b.base_url", 15,
         "providers `vllm-a` and `vllm-b` both use localhost:8001"),
        ("error", "exclusive-group-conflict", "providers.vllm-b.status", 16,
         "providers `vllm-a` and `vllm-b` of exclusive group `gpu0` are both active; only one member of a group "
         "can run at a time"),
    ]


def test_a_group_name_must_be_a_name(make_config: MakeConfig) -> None:
    config = make_config(providers=TWO_ENGINES.replace("exclusive_group: gpu0\n    models: [model-b]",
                                                       "exclusive_group: gpu 0\n    models: [model-b]"),
                         mappings="{}\n", gateway=None)
    assert findings(config) == [
        ("error", "invalid-value", "providers.vllm-b.exclusive_group", 17, "'gpu 0' is not a group name")]


def test_a_pattern_on_a_switched_off_member_waits_for_the_switch(make_config: MakeConfig) -> None:
    mappings = "patterns:\n  - pattern: '^model-'\n    provider: vllm-b\n"
    config = make_config(providers=TWO_ENGINES, mappings=mappings, gateway="cache: {enabled: false}\n")
    assert findings(config) == [
        ("warning", "pattern-inactive-provider", "patterns[0].provider", 3,
         "pattern '^model-' routes to `vllm-b`, which is disabled (exclusive group `gpu0`); it is left out of the "
         "gateway"),
    ]
    # Outside a group, a pattern naming a disabled provider is still a mistake.
    loner = TWO_ENGINES.replace("    exclusive_group: gpu0\n    models: [model-b]", "    models: [model-b]")
    config = make_config(providers=loner, mappings=mappings, gateway="cache: {enabled: false}\n")
    assert [f[:3] for f in findings(config)] == [("error", "inactive-provider", "patterns[0].provider")]


def test_the_example_validates_with_either_vllm_model_active(config_dir: Path) -> None:
    text = (config_dir / "providers.yaml").read_text()
    switched = set_field(set_field(text, "vllm-dolphin", "status", "active"), "vllm-qwen", "status", "disabled")
    result = build(config_dir, layers=COMPILE, texts={"providers": switched},
                   environ={"LITELLM_MASTER_KEY": "x", "REDIS_PASSWORD": "y"})
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.routes is not None
    assert "cognitivecomputations/Dolphin3.0-Llama3.1-8B" in result.routes.groups
    assert "qwen-coder-vllm" not in result.routes.groups
    assert {d.code for d in result.diagnostics} == {
        "alias-inactive-provider", "pattern-inactive-provider", "inactive-model", "fallback-to-inactive"}
    assert (config_dir / "providers.yaml").read_text() == text  # validated in memory only


def test_an_edit_in_memory_is_located_in_its_own_text(config_dir: Path) -> None:
    text = (config_dir / "providers.yaml").read_text()
    # One line inserted above, then a mistake below it: the line named is the edited text's.
    broken = set_field(set_field(text, "ollama", "exclusive_group", "cpu"), "vllm-dolphin", "type", "vlm")
    result = build(config_dir, layers=COMPILE, texts={"providers": broken})
    [error] = [d for d in result.diagnostics if d.severity == "error"]
    line = broken.splitlines().index("    type: vlm") + 1
    on_disk = [n for n, t in enumerate(text.splitlines(), 1) if t == "    type: vllm"][1]
    assert line == on_disk + 1
    assert (error.code, error.path, error.line) == ("unknown-provider-type", "providers.vllm-dolphin.type", line)
    assert error.file.endswith("providers.yaml")
    assert result.text is None


def test_a_literal_secret_in_an_edit_is_found_before_it_is_written(config_dir: Path) -> None:
    text = (config_dir / "providers.yaml").read_text()
    leaked = set_field(text, "vllm-dolphin", "start_command", "vllm serve x --api-key sk-abcdefghijklmnopqrstuvwx")
    result = build(config_dir, layers=COMPILE, texts={"providers": leaked},
                   environ={"LITELLM_MASTER_KEY": "x", "REDIS_PASSWORD": "y"})
    line = next(n for n, t in enumerate(leaked.splitlines(), 1) if "sk-abc" in t)
    assert [(d.code, d.line) for d in result.diagnostics if d.severity == "error"] == [("literal-secret", line)]
    assert "sk-abc" not in (config_dir / "providers.yaml").read_text()


def test_providers_backups_live_beside_the_generated_ones_and_restore_by_kind(tmp_path: Path) -> None:
    providers = tmp_path / "providers.yaml"
    generated = tmp_path / "litellm-unified.yaml"
    providers.write_text("providers: {}\n")
    store.install(providers, "providers:\n  a: {}\n")
    store.install(generated, "# AUTO-GENERATED x\n")
    assert [b.name.split(".")[0] for b in store.list_backups(providers)] == ["providers"]
    assert store.list_backups(generated) == []
    restored, safety = store.rollback(providers, kind=store.PROVIDERS_SOURCE)
    assert providers.read_text() == "providers: {}\n"
    assert safety is not None and safety.path.read_text() == "providers:\n  a: {}\n"
    # A copy that is not YAML is refused, and nothing changes.
    safety.path.write_text("providers: [\n")
    with pytest.raises(StoreError, match=r"is corrupted: YAML syntax error.*nothing was changed"):
        store.rollback(providers, safety.name, kind=store.PROVIDERS_SOURCE)
    assert providers.read_text() == "providers: {}\n"
    with pytest.raises(StoreError) as info:
        store.rollback(tmp_path / "other.yaml", kind=store.PROVIDERS_SOURCE)
    assert info.value.hint == store.PROVIDERS_SOURCE.made_by
    assert restored.name.startswith("providers.")
