"""`aibackend generate` / `backups` / `diff` / `rollback` end to end, through the CLI's main().

Each test works on ``config_dir`` (tests/plugins/configs.py): a fresh copy of the example
config in its own tmp dir.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from aibackend.cli import main
from generator import store
from generator.diagnostics import errors_of
from generator.pipeline import build
from tests.plugins.configs import EXAMPLE_CONFIG

pytestmark = [pytest.mark.rollback]

NOTE = (
    "note: the running gateway serves the restored config once restarted; the source files were "
    "not changed, so `aibackend generate` would re-create the config they describe\n"
)


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` with its bytes: 'nothing changed' means this is equal."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def with_extra_models(config_dir: Path, count: int) -> None:
    """A source change that changes the generated config: ``count`` more Ollama models."""
    providers = (EXAMPLE_CONFIG / "providers.yaml").read_text()
    anchor = "      - mythomax-l2-13b-q5_k_m"
    assert anchor in providers
    extra = "".join(f"\n      - extra-model-{n}" for n in range(count))
    (config_dir / "providers.yaml").write_text(providers.replace(anchor, anchor + extra))


def generate(config_dir: Path, *extra: str) -> str:
    """Run `aibackend generate`; return the text it wrote."""
    assert main(["generate", "--config-dir", str(config_dir), "--skip-litellm-check", *extra]) == 0
    output = (
        Path(extra[extra.index("--output") + 1])
        if "--output" in extra
        else config_dir / "litellm-unified.yaml"
    )
    return output.read_text()


def history(config_dir: Path, versions: int, *extra: str) -> list[str]:
    """Generate ``versions`` different configs in turn; return their texts, oldest first."""
    texts = []
    for version in range(versions):
        with_extra_models(config_dir, version)
        texts.append(generate(config_dir, *extra))
    assert len(set(texts)) == versions
    return texts


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- backups ---------------------------------------------------------------------------------


def test_backups_lists_newest_first_with_time_and_size(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = history(config_dir, 4)
    backups = store.list_backups(config_dir / "litellm-unified.yaml")
    assert [b.path.read_text() for b in backups] == [texts[2], texts[1], texts[0]]
    code, out, err = run(capsys, "backups", "--config-dir", str(config_dir))
    assert (code, err) == (0, "")
    width = len(backups[0].name)
    expected = [f"{'NAME':<{width}}  {'CREATED (UTC)':<26}    SIZE"]
    for backup, text in zip(backups, [texts[2], texts[1], texts[0]], strict=True):
        stamp = backup.name.split(".", 1)[1].removesuffix("Z.yaml")  # 20261123T184230.147016
        created = (
            f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}{stamp[15:]}"
        )
        expected.append(f"{backup.name}  {created}  {len(text.encode()):>6}")
    assert out == "\n".join(expected) + "\n"


def test_backups_json(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = history(config_dir, 3)
    code, out, err = run(capsys, "backups", "--config-dir", str(config_dir), "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    backups = document.pop("backups")
    assert document == {
        "config": str(config_dir / "litellm-unified.yaml"),
        "directory": str(config_dir / "backups"),
    }
    assert [Path(b["path"]).read_text() for b in backups] == [texts[1], texts[0]]
    assert [b["size"] for b in backups] == [len(texts[1].encode()), len(texts[0].encode())]
    assert [b["name"] for b in backups] == [Path(b["path"]).name for b in backups]
    assert backups[0]["created"] > backups[1]["created"]


def test_backups_when_there_are_none(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(config_dir)
    code, out, err = run(capsys, "backups", "--config-dir", str(config_dir))
    assert (code, err) == (0, "")
    assert out == (
        f"no backups of {config_dir / 'litellm-unified.yaml'} yet: one is saved in {config_dir / 'backups'}/ "
        "each time `aibackend generate` replaces a changed config\n"
    )
    code, out, _ = run(capsys, "backups", "--config-dir", str(config_dir), "--json")
    assert json.loads(out)["backups"] == []


def test_generate_of_unchanged_sources_makes_no_backup(config_dir: Path) -> None:
    generate(config_dir)
    before = tree(config_dir)
    generate(config_dir)
    assert tree(config_dir) == before


def test_backups_are_pruned_to_keep_from_gateway_yaml(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (config_dir / "gateway.yaml").open("a") as gateway:
        gateway.write("\nbackups:\n  keep: 2\n")
    texts = history(config_dir, 5)
    path = config_dir / "litellm-unified.yaml"
    assert [b.path.read_text() for b in store.list_backups(path)] == [texts[3], texts[2]]
    # rollback honours it too: its safety backup pushes out the oldest
    code, _, err = run(capsys, "rollback", "--config-dir", str(config_dir))
    assert (code, err) == (0, "")
    assert [b.path.read_text() for b in store.list_backups(path)] == [texts[4], texts[3]]
    assert path.read_text() == texts[3]


def test_the_default_keep_is_ten(config_dir: Path) -> None:
    texts = history(config_dir, 13)
    backups = store.list_backups(config_dir / "litellm-unified.yaml")
    assert [b.path.read_text() for b in backups] == list(reversed(texts[2:12]))


# --- rollback --------------------------------------------------------------------------------


def test_rollback_to_the_newest(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = history(config_dir, 3)
    path = config_dir / "litellm-unified.yaml"
    newest = store.list_backups(path)[0]
    code, out, err = run(capsys, "rollback", "--config-dir", str(config_dir))
    safety = store.list_backups(path)[0]
    assert (code, err) == (0, "")
    assert out == (
        f"restored {newest.name} as {path}\n"
        f"the replaced config was saved as {safety.name}\n"
        f"  undo with: aibackend rollback --config-dir {config_dir} {safety.name}\n" + NOTE
    )
    assert path.read_text() == texts[1]
    assert safety.path.read_text() == texts[2]


def test_rollback_to_a_named_backup(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = history(config_dir, 4)
    path = config_dir / "litellm-unified.yaml"
    oldest = store.list_backups(path)[-1]
    code, out, err = run(
        capsys, "rollback", "--config-dir", str(config_dir), oldest.name.removesuffix(".yaml")
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"restored {oldest.name} as {path}\n")
    assert path.read_text() == texts[0]


def test_rollback_of_a_rollback_restores_the_config_it_replaced(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = history(config_dir, 3)
    path = config_dir / "litellm-unified.yaml"
    assert run(capsys, "rollback", "--config-dir", str(config_dir), store.list_backups(path)[-1].name)[0] == 0
    assert path.read_text() == texts[0]
    assert run(capsys, "rollback", "--config-dir", str(config_dir))[0] == 0  # undo: the newest backup
    assert path.read_text() == texts[2]
    # and the undo can be undone in turn
    assert run(capsys, "rollback", "--config-dir", str(config_dir))[0] == 0
    assert path.read_text() == texts[0]


def test_every_config_ever_generated_is_recoverable(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = history(config_dir, 6)
    path = config_dir / "litellm-unified.yaml"
    for backup, text in zip(reversed(store.list_backups(path)), texts, strict=False):
        code, _, err = run(capsys, "rollback", "--config-dir", str(config_dir), backup.name)
        assert (code, err) == (0, "")
        assert path.read_text() == text
    assert {b.path.read_text() for b in store.list_backups(path)} | {path.read_text()} == set(texts)


def test_rollback_without_backups(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(config_dir)
    before = tree(config_dir)
    code, out, err = run(capsys, "rollback", "--config-dir", str(config_dir))
    assert (code, out) == (1, "")
    assert err == (
        f"aibackend rollback: error: there are no backups of {config_dir / 'litellm-unified.yaml'} "
        f"(looked in {config_dir / 'backups'})\n"
        "  hint: a backup is made each time `aibackend generate` replaces a changed config\n"
    )
    assert tree(config_dir) == before


def test_rollback_to_an_unknown_name_lists_the_backups(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history(config_dir, 3)
    names = [b.name for b in store.list_backups(config_dir / "litellm-unified.yaml")]
    before = tree(config_dir)
    code, out, err = run(
        capsys, "rollback", "--config-dir", str(config_dir), "litellm-unified.yesterday.yaml"
    )
    assert (code, out) == (1, "")
    assert err == (
        f"aibackend rollback: error: no backup named 'litellm-unified.yesterday.yaml' in {config_dir / 'backups'}\n"
        f"  hint: the backups are (newest first): {names[0]}, {names[1]}\n"
    )
    assert tree(config_dir) == before


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("truncate", "it does not end with a newline (truncated?)"),
        ("empty", "it is empty"),
        ("not-yaml", "it is not valid YAML at line 4"),
        ("no-marker", "its first line is not the # AUTO-GENERATED marker"),
    ],
)
def test_rollback_to_a_corrupted_backup_is_refused_and_changes_nothing(
    config_dir: Path, capsys: pytest.CaptureFixture[str], damage: str, reason: str
) -> None:
    history(config_dir, 3)
    backup = store.list_backups(config_dir / "litellm-unified.yaml")[0]
    text = backup.path.read_text()
    damaged = {
        "truncate": text[: len(text) // 2],
        "empty": "",
        "not-yaml": text.split("\n", 1)[0] + "\nmodel_list: [\n  {unclosed\n",
        "no-marker": text.split("\n", 1)[1],
    }[damage]
    backup.path.write_text(damaged)
    before = tree(config_dir)
    code, out, err = run(capsys, "rollback", "--config-dir", str(config_dir))
    assert (code, out) == (1, "")
    assert err == (
        f"aibackend rollback: error: backup {backup.name} is corrupted: {reason}; nothing was changed\n"
        "  hint: choose another backup from `aibackend backups`, or regenerate with `aibackend generate`\n"
    )
    assert tree(config_dir) == before


def test_rollback_to_the_config_already_in_place(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history(config_dir, 3)
    path = config_dir / "litellm-unified.yaml"
    run(capsys, "rollback", "--config-dir", str(config_dir))
    before = tree(config_dir)
    same = store.list_backups(path)[1]  # the backup just restored
    code, out, err = run(capsys, "rollback", "--config-dir", str(config_dir), same.name)
    assert (code, out, err) == (0, f"{path} already holds {same.name}; nothing was changed\n", "")
    assert tree(config_dir) == before


def test_rollback_with_an_invalid_gateway_yaml_still_works(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = history(config_dir, 2)
    (config_dir / "gateway.yaml").write_text("backups:\n  keep: zero\n")
    code, _, err = run(capsys, "rollback", "--config-dir", str(config_dir))
    assert code == 0
    assert err == (
        f"warning: {config_dir / 'gateway.yaml'} does not validate (run `aibackend validate`); "
        "keeping the default 10 backups\n"
    )
    assert (config_dir / "litellm-unified.yaml").read_text() == texts[0]


def test_output_elsewhere_keeps_its_backups_beside_it(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "deploy"
    out_dir.mkdir()
    output = out_dir / "gateway.yaml"
    texts = history(config_dir, 3, "--output", str(output))
    assert not (config_dir / "litellm-unified.yaml").exists()
    assert not (config_dir / "backups").exists()
    code, out, _ = run(capsys, "backups", "--config-dir", str(config_dir), "--output", str(output), "--json")
    assert [Path(b["path"]).read_text() for b in json.loads(out)["backups"]] == [texts[1], texts[0]]
    code, out, err = run(capsys, "rollback", "--config-dir", str(config_dir), "--output", str(output))
    assert (code, err) == (0, "")
    safety = store.list_backups(output)[0]
    assert (
        f"  undo with: aibackend rollback --config-dir {config_dir} --output {output} {safety.name}\n" in out
    )
    assert output.read_text() == texts[1]
    assert sorted(p.name for p in (out_dir / "backups").iterdir()) == sorted(
        b.name for b in store.list_backups(output)
    )


# --- diff ------------------------------------------------------------------------------------


def dry_run(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(
        capsys, "generate", "--config-dir", str(config_dir), "--dry-run", "--skip-litellm-check"
    )
    assert code == 0
    return out


def test_diff_before_the_first_generate_is_against_dev_null(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = dry_run(config_dir, capsys)
    before = tree(config_dir)
    code, out, _ = run(capsys, "diff", "--config-dir", str(config_dir))
    path = config_dir / "litellm-unified.yaml"
    lines = text.splitlines(keepends=True)
    assert code == 0
    assert out == (
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}" for line in lines)
    )
    assert tree(config_dir) == before  # diff writes nothing


def test_diff_shows_what_generate_would_change_and_writes_nothing(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = generate(config_dir)
    with_extra_models(config_dir, 2)
    new = dry_run(config_dir, capsys)
    before = tree(config_dir)
    code, out, err = run(capsys, "diff", "--config-dir", str(config_dir))
    path = config_dir / "litellm-unified.yaml"
    expected = "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}")
    )
    assert (code, err) == (0, "")
    assert out == expected
    assert "+  - model_name: extra-model-1\n" in out
    assert tree(config_dir) == before
    # ... and it is exactly what generate then does
    assert generate(config_dir) == new


def test_diff_when_up_to_date(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(config_dir)
    code, out, err = run(capsys, "diff", "--config-dir", str(config_dir))
    assert (code, out) == (0, "")
    assert err == f"{config_dir / 'litellm-unified.yaml'} is up to date: generate would change nothing\n"


def test_diff_of_a_hand_edited_file_without_final_newline(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = generate(config_dir)
    path = config_dir / "litellm-unified.yaml"
    path.write_text(text + "# hand edit")
    code, out, _ = run(capsys, "diff", "--config-dir", str(config_dir))
    assert code == 0
    assert out.endswith("-# hand edit\n\\ No newline at end of file\n")


def test_diff_of_invalid_sources_prints_the_diagnostics_and_exits_1(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(config_dir)
    mappings = config_dir / "model-mappings.yaml"
    mappings.write_text(
        mappings.read_text().replace("chain: [qwen2.5-coder:7b, llama-cpp-python]", "chain: [no-such-model]")
    )
    before = tree(config_dir)
    diagnostics = build(config_dir).diagnostics
    assert errors_of(diagnostics)
    code, out, err = run(capsys, "diff", "--config-dir", str(config_dir))
    assert (code, out) == (1, "")
    assert err == (
        "".join(d.format() + "\n" for d in diagnostics)
        + f"aibackend diff: the configuration is invalid ({len(errors_of(diagnostics))} error(s)); "
        "generate would write nothing\n"
    )
    assert "no-such-model" in err
    assert tree(config_dir) == before


@pytest.mark.parametrize("command", ["backups", "rollback"])
def test_a_missing_config_dir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    missing = tmp_path / "no-such-config"
    code, out, err = run(capsys, command, "--config-dir", str(missing))
    assert (code, out) == (2, "")
    assert err == (
        f"aibackend {command}: error: directory {missing} does not exist\n"
        "  hint: pass --config-dir DIR (default: config/) or --output FILE naming the generated config\n"
    )
    assert not missing.exists()


def test_rollback_when_the_generated_file_was_deleted(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = history(config_dir, 2)
    path = config_dir / "litellm-unified.yaml"
    path.unlink()
    newest = store.list_backups(path)[0]
    code, out, err = run(capsys, "rollback", "--config-dir", str(config_dir))
    assert (code, err) == (0, "")
    assert out == f"restored {newest.name} as {path}\n" + NOTE
    assert path.read_text() == texts[0]
    assert store.list_backups(path) == [newest]
