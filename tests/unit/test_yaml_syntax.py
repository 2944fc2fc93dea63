"""Layer 1: YAML syntax errors name the file, the line and what to do."""

from __future__ import annotations

import pytest

from generator.diagnostics import Diagnostic
from generator.yamlsource import format_path, parse_yaml

pytestmark = pytest.mark.unit


def only(raw: bytes) -> Diagnostic:
    parsed, diagnostics = parse_yaml(raw, "p.yaml")
    assert parsed is None
    assert len(diagnostics) == 1, diagnostics
    return diagnostics[0]


def test_valid_yaml_keeps_the_line_of_every_key() -> None:
    parsed, diagnostics = parse_yaml(b"a:\n  b:\n    - x\n    - {c: 1}\nd: 2\n", "p.yaml")
    assert diagnostics == []
    assert parsed is not None
    assert parsed.data == {"a": {"b": ["x", {"c": 1}]}, "d": 2}
    assert parsed.lines.lines == {(): 1, ("a",): 1, ("a", "b"): 2, ("a", "b", 0): 3, ("a", "b", 1): 4,
                                  ("a", "b", 1, "c"): 4, ("d",): 5}
    # a path below a known one falls back to its nearest ancestor's line
    assert parsed.lines.line_of(("a", "b", 1, "missing", 3)) == 4


def test_tab_indentation_gets_its_own_message() -> None:
    assert only(b"providers:\n\tollama:\n    type: ollama\n") == Diagnostic(
        code="yaml-tab",
        message="tab character in indentation: YAML allows only spaces there",
        file="p.yaml",
        line=2,
        hint="replace the tab(s) on this line with spaces (2 per level, as in the rest of the file)",
    )


def test_syntax_error_names_line_and_column() -> None:
    d = only(b"a: 1\nb: [1, 2\nc: 3\n")
    assert (d.code, d.file, d.line) == ("yaml-syntax", "p.yaml", 3)
    assert d.message == "YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence)"
    assert d.column == 2


def test_empty_file() -> None:
    d = only(b"# only a comment\n\n")
    assert (d.code, d.line) == ("yaml-empty", 1)
    assert d.message == "file is empty (no YAML content, only blanks or comments)"


def test_empty_file_allowed_for_optional_files() -> None:
    parsed, diagnostics = parse_yaml(b"", "gateway.yaml", allow_empty=True)
    assert diagnostics == [] and parsed is not None and parsed.data == {}


def test_non_utf8_names_the_byte_and_line() -> None:
    d = only(b"a: 1\nb: caf\xe9\n")
    assert d == Diagnostic(
        code="yaml-encoding", message="not valid UTF-8 (byte 0xe9 at offset 11)", file="p.yaml", line=2,
        hint="save the file as UTF-8",
    )


def test_binary_input() -> None:
    d = only(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert (d.code, d.line) == ("yaml-binary", 3)
    assert d.message == "file contains NUL bytes: this is a binary file, not YAML"


def test_duplicate_keys_are_errors_not_silent_overrides() -> None:
    d = only(b"providers:\n  a: 1\n  b: 2\n  a: 3\n")
    assert d == Diagnostic(
        code="yaml-duplicate-key", message="duplicate key 'a' (first defined on line 2)", file="p.yaml", line=4,
        hint="YAML keeps only the last value silently; merge the two entries or rename one",
    )


def test_top_level_must_be_a_mapping() -> None:
    d = only(b"- a\n- b\n")
    assert (d.code, d.message) == ("yaml-not-mapping", "top level must be a mapping of keys, found list")


def test_several_documents_are_refused() -> None:
    d = only(b"a: 1\n---\nb: 2\n")
    assert d.code == "yaml-syntax" and d.line == 2
    assert "expected a single document" in d.message


def test_unsafe_tags_are_refused() -> None:
    d = only(b"a: !!python/object/apply:os.system ['true']\n")
    assert d.code == "yaml-syntax"
    assert "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'" in d.message


def test_merge_keys_work_like_safe_load() -> None:
    parsed, diagnostics = parse_yaml(b"base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "p.yaml")
    assert diagnostics == [] and parsed is not None
    assert parsed.data["other"] == {"x": 1, "y": 2}


def test_a_utf8_bom_is_accepted() -> None:
    parsed, diagnostics = parse_yaml("\ufeffa: 1\n".encode(), "p.yaml")
    assert diagnostics == [] and parsed is not None and parsed.data == {"a": 1}


@pytest.mark.parametrize(
    ("path", "text"),
    [((), ""), (("a",), "a"), (("a", 0, "b"), "a[0].b"), (("p", "x.y", 2), "p.x.y[2]")],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text
