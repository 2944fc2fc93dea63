"""Surgical edits of providers.yaml (generator.source_edit): the whole new text, byte for byte.

Each test compares the entire output with the input changed by hand where the edit must change
it, so any stray byte (a comment lost, a quote changed, a blank line moved) fails it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.source_edit import (
    NewProvider,
    SourceEditError,
    add_provider,
    provider_names,
    remove_provider,
    render_scalar,
    set_field,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "fixtures" / "configs" / "example" / "providers.yaml").read_text(encoding="utf-8")

SMALL = """\
# header comment
providers:
  # the local one
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434 # default port
    status: active
    models:
      - llama3.1:8b   # plain string form
      - name: qwen2.5-coder:7b
        capabilities: [code_generation]

  vllm:
    type: 'vllm'
    base_url: "http://127.0.0.1:8001"
    status: "disabled"
    models: [Qwen/Qwen2.5-Coder-7B-Instruct-AWQ]

  # a cloud template
  cloud:
    type: openai
    base_url: https://api.openai.com/v1
    models:
      - gpt-4o-mini
# trailing comment
"""


def changed_lines(old: str, new: str) -> list[tuple[str, list[str], list[str]]]:
    matcher = difflib.SequenceMatcher(a=old.splitlines(keepends=True), b=new.splitlines(keepends=True))
    return [(tag, matcher.a[i1:i2], matcher.b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != "equal"]


# --- set_field ---------------------------------------------------------------------------------------


def test_setting_an_existing_status_replaces_that_value_only() -> None:
    assert set_field(SMALL, "ollama", "status", "disabled") == SMALL.replace(
        "    status: active\n", "    status: disabled\n")


def test_a_quoted_value_keeps_its_quotes() -> None:
    assert set_field(SMALL, "vllm", "status", "active") == SMALL.replace('status: "disabled"', 'status: "active"')
    single = SMALL.replace('status: "disabled"', "status: 'disabled'")
    assert set_field(single, "vllm", "status", "active") == single.replace("'disabled'", "'active'")


def test_a_value_with_a_trailing_comment_keeps_the_comment() -> None:
    text = SMALL.replace("    status: active\n", "    status: active   # on the GPU box\n")
    assert set_field(text, "ollama", "status", "disabled") == text.replace(
        "status: active   # on the GPU box", "status: disabled   # on the GPU box")


def test_a_missing_key_is_one_new_line_where_the_usual_order_puts_it() -> None:
    new = set_field(SMALL, "cloud", "status", "template")
    assert new == SMALL.replace(
        "    base_url: https://api.openai.com/v1\n",
        "    base_url: https://api.openai.com/v1\n    status: template\n")
    grouped = set_field(EXAMPLE, "openai", "exclusive_group", "gpu1")
    assert grouped == EXAMPLE.replace(
        "    api_key_env: OPENAI_API_KEY\n    models:\n      - gpt-4o-mini\n",
        "    api_key_env: OPENAI_API_KEY\n    exclusive_group: gpu1\n    models:\n      - gpt-4o-mini\n")


def test_every_status_edit_of_the_example_changes_one_line() -> None:
    for name in provider_names(EXAMPLE):
        for status in ("active", "disabled", "template"):
            new = set_field(EXAMPLE, name, "status", status)
            if new == EXAMPLE:
                continue
            [(tag, old_lines, new_lines)] = changed_lines(EXAMPLE, new)
            assert tag == "replace" and len(old_lines) == len(new_lines) == 1
            assert new_lines[0].strip() == f"status: {status}"
            assert yaml.safe_load(new)["providers"][name]["status"] == status


def test_crlf_and_a_byte_order_mark_are_kept() -> None:
    text = "\ufeff" + SMALL.replace("\n", "\r\n")
    assert set_field(text, "cloud", "status", "disabled") == "\ufeff" + SMALL.replace(
        "    base_url: https://api.openai.com/v1\n",
        "    base_url: https://api.openai.com/v1\n    status: disabled\n").replace("\n", "\r\n")


def test_a_flow_style_provider_gets_the_key_inside_its_braces() -> None:
    text = "providers:\n  a: {type: vllm, base_url: 'http://h:1', models: [m]}  # one line\n"
    assert set_field(text, "a", "status", "disabled") == (
        "providers:\n  a: {type: vllm, base_url: 'http://h:1', models: [m], status: disabled}  # one line\n")
    assert set_field(text, "a", "type", "ollama") == text.replace("type: vllm", "type: ollama")


def test_a_provider_whose_status_comes_from_a_merge_key_gets_its_own() -> None:
    text = (
        "base: &base {type: vllm, status: active, models: [m]}\n"
        "providers:\n"
        "  a:\n"
        "    <<: *base\n"
        "    base_url: http://h:1\n"
    )
    new = set_field(text, "a", "status", "disabled")
    assert new == text + "    status: disabled\n"


def test_an_aliased_provider_is_refused_rather_than_editing_its_anchor() -> None:
    text = "providers:\n  a: &a\n    type: vllm\n    base_url: http://h:1\n    models: [m]\n  b: *a\n"
    with pytest.raises(SourceEditError, match=r"providers.yaml:6: provider `b` is a YAML alias"):
        set_field(text, "b", "status", "disabled")


def test_an_unknown_provider_suggests_the_closest_name() -> None:
    with pytest.raises(SourceEditError) as info:
        set_field(EXAMPLE, "vllm-qwn", "status", "disabled", file="config/providers.yaml")
    assert str(info.value) == (
        "unknown provider `vllm-qwn` in config/providers.yaml, did you mean `vllm-qwen`?\n"
        "  hint: providers: ollama, llama_cpp_python, llama_cpp_native, vllm-qwen, vllm-dolphin, ollama_cloud, openai"
    )



def test_a_file_that_is_not_yaml_is_refused_with_its_line_and_column() -> None:
    text = "providers:\n  ollama:\n    type: ollama\n   bad: [\n"
    with pytest.raises(SourceEditError) as info:
        set_field(text, "ollama", "status", "disabled", file="config/providers.yaml")
    assert str(info.value) == (
        "config/providers.yaml:4:4: not valid YAML, so it cannot be edited: expected <block end>, but found "
        "'<block mapping start>' (while parsing a block mapping)\n"
        "  hint: fix the file first (`aibackend validate` shows every error); nothing was written"
    )

# --- add_provider ------------------------------------------------------------------------------------


def test_a_new_provider_is_appended_in_the_files_own_style() -> None:
    provider = NewProvider("vllm-mistral", {"type": "vllm", "base_url": "http://127.0.0.1:8003", "status": "disabled",
                                            "exclusive_group": "gpu0"}, ["mistralai/Mistral-7B-Instruct-v0.3"])
    assert add_provider(EXAMPLE, provider) == EXAMPLE + (
        "\n"
        "  vllm-mistral:\n"
        "    type: vllm\n"
        "    base_url: http://127.0.0.1:8003\n"
        "    status: disabled\n"
        "    exclusive_group: gpu0\n"
        "    models:\n"
        "      - mistralai/Mistral-7B-Instruct-v0.3\n"
    )


def test_a_new_provider_follows_another_indentation_and_goes_before_trailing_comments() -> None:
    text = (
        "providers:\n"
        "    a:\n"
        "        type: vllm\n"
        "        base_url: http://h:1\n"
        "        models:\n"
        "        - m\n"
        "# the end\n"
    )
    provider = NewProvider("b", {"type": "ollama", "base_url": "http://h:2"}, ["x"])
    assert add_provider(text, provider) == (
        "providers:\n"
        "    a:\n"
        "        type: vllm\n"
        "        base_url: http://h:1\n"
        "        models:\n"
        "        - m\n"
        "    b:\n"
        "        type: ollama\n"
        "        base_url: http://h:2\n"
        "        models:\n"
        "        - x\n"
        "# the end\n"
    )


def test_values_that_would_read_back_differently_are_quoted() -> None:
    command = "vllm serve 'Qwen/X' --port 8003 > /tmp/x.log 2>&1 # not a comment"
    provider = NewProvider("p", {"type": "vllm", "base_url": "http://h:3", "start_command": command,
                                 "description": "yes"}, ["no", "1.0", "a: b", "-x", "plain:name", "null"])
    new = add_provider(SMALL, provider)
    assert yaml.safe_load(new)["providers"]["p"] == {
        "type": "vllm", "base_url": "http://h:3", "description": "yes", "start_command": command,
        "models": ["no", "1.0", "a: b", "-x", "plain:name", "null"],
    }
    assert '      - "no"\n' in new and "      - plain:name\n" in new


def test_adding_an_existing_name_is_refused_with_its_line() -> None:
    with pytest.raises(SourceEditError, match=r"provider `vllm` already exists \(providers.yaml:13\)"):
        add_provider(SMALL, NewProvider("vllm", {"type": "vllm", "base_url": "http://h:1"}, ["m"]))


def test_a_flow_style_registry_is_refused_for_add_and_remove() -> None:
    text = "providers: {a: {type: vllm, base_url: 'http://h:1', models: [m]}}\n"
    with pytest.raises(SourceEditError, match="flow style"):
        add_provider(text, NewProvider("b", {"type": "vllm", "base_url": "http://h:2"}, ["m"]))
    with pytest.raises(SourceEditError, match="flow style"):
        remove_provider(text, "a")


# --- remove_provider ---------------------------------------------------------------------------------


def test_removing_the_first_provider_takes_its_caption_and_one_blank_line() -> None:
    assert remove_provider(SMALL, "ollama") == (
        "# header comment\n"
        "providers:\n"
        "  vllm:\n"
        "    type: 'vllm'\n"
        "    base_url: \"http://127.0.0.1:8001\"\n"
        "    status: \"disabled\"\n"
        "    models: [Qwen/Qwen2.5-Coder-7B-Instruct-AWQ]\n"
        "\n"
        "  # a cloud template\n"
        "  cloud:\n"
        "    type: openai\n"
        "    base_url: https://api.openai.com/v1\n"
        "    models:\n"
        "      - gpt-4o-mini\n"
        "# trailing comment\n"
    )


def test_removing_a_middle_and_the_last_provider() -> None:
    middle = remove_provider(SMALL, "vllm")
    assert middle == SMALL.replace(
        "  vllm:\n    type: 'vllm'\n    base_url: \"http://127.0.0.1:8001\"\n    status: \"disabled\"\n"
        "    models: [Qwen/Qwen2.5-Coder-7B-Instruct-AWQ]\n\n", "")
    last = remove_provider(SMALL, "cloud")
    assert last == SMALL.replace(
        "\n  # a cloud template\n  cloud:\n    type: openai\n    base_url: https://api.openai.com/v1\n"
        "    models:\n      - gpt-4o-mini\n", "")


def test_add_then_remove_gives_the_file_back() -> None:
    provider = NewProvider("x", {"type": "ollama", "base_url": "http://h:9"}, ["m"])
    for text in (EXAMPLE, SMALL):
        assert remove_provider(add_provider(text, provider), "x") == text


def test_removing_every_provider_of_the_example_keeps_the_rest_byte_for_byte() -> None:
    for name in provider_names(EXAMPLE):
        new = remove_provider(EXAMPLE, name)
        assert list(yaml.safe_load(new)["providers"]) == [n for n in provider_names(EXAMPLE) if n != name]
        assert all(tag == "delete" for tag, _, _ in changed_lines(EXAMPLE, new))


# --- scalars -------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_any_string_reads_back_as_itself_in_block_and_flow_context(value: str) -> None:
    rendered = render_scalar(value)
    assert yaml.safe_load(f"k: {rendered}\n") == {"k": value}
    assert yaml.safe_load(f"[{rendered}]") == [value]
