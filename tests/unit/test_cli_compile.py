"""``aibackend validate`` / ``generate``: exit codes, JSON, terminal output, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aibackend import cli
from tests.plugins.configs import MakeConfig

pytestmark = pytest.mark.unit

PROVIDERS = """
providers:
  ollama:
    type: ollama
    base_url: http://127.0.0.1:11434
    models: ["llama3.1:8b", "qwen2.5-coder:7b"]
"""
CYCLE = """
exact_matches:
  a: {provider: ollama, backend_model: "llama3.1:8b"}
  b: {provider: ollama, backend_model: "qwen2.5-coder:7b"}
fallback_chains:
  a:
    chain: [b]
  b:
    chain: [a]
"""


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-test-" + "x" * 32)
    monkeypatch.setenv("REDIS_PASSWORD", "pw")


def run(*argv: str) -> int:
    return cli.main(list(argv))


def test_validate_json_matches_the_interface(make_config: MakeConfig, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(providers=PROVIDERS, mappings=CYCLE)
    assert run("validate", "--config-dir", str(config), "--critical", "--json") == 1
    payload = json.loads(capsys.readouterr().out)
    del payload["routes"]  # not reached: cycles stop the build before routes matter
    assert payload == {
        "ok": False,
        "errors": [{"code": "fallback-cycle", "file": str(config / "model-mappings.yaml"),
                    "path": "fallback_chains.b.chain[0]", "line": 8, "message": "fallback cycle a -> b -> a",
                    "hint": "remove b's fallback to a"}],
        "warnings": [],
        "layers": ["syntax", "schema", "consistency"],
    }


def test_validate_terminal_output_names_file_line_and_hint(
    make_config: MakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(providers=PROVIDERS, mappings=CYCLE)
    assert run("validate", "--config-dir", str(config), "--critical") == 1
    captured = capsys.readouterr()
    assert captured.out == (
        f"{config}/model-mappings.yaml:8: error[fallback-cycle] fallback_chains.b.chain[0]: fallback cycle a -> b -> a\n"
        "    hint: remove b's fallback to a\n"
    )
    assert captured.err == "INVALID: 1 error(s), 0 warning(s) [layers: syntax, schema, consistency]\n"


def test_validate_valid_config_shows_the_resolved_routes(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", "--config-dir", str(config_dir), "--critical") == 0
    out = capsys.readouterr().out
    assert "  pattern '^Qwen/.*' -> vllm-qwen: Qwen/Qwen2.5-Coder-7B-Instruct-AWQ\n" in out
    assert "  pattern '^mythomax-.*' -> ollama: mythomax-l2-13b-q5_k_m\n" in out
    assert "falls back to: qwen2.5-coder:7b -> llama-cpp-python" in out
    assert out.endswith("valid: 0 error(s), 0 warning(s) [layers: syntax, schema, consistency]\n")


def test_validate_json_includes_routes(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", "--config-dir", str(config_dir), "--critical", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is True
    assert payload["routes"]["patterns"] == [
        {"pattern": "^Qwen/.*", "provider": "vllm-qwen", "matches": ["Qwen/Qwen2.5-Coder-7B-Instruct-AWQ"]},
        {"pattern": "^mythomax-.*", "provider": "ollama", "matches": ["mythomax-l2-13b-q5_k_m"]},
    ]
    assert payload["routes"]["groups"]["code_generation"] == {
        "kind": "capability",
        "deployments": [
            {"provider": "vllm-qwen", "backend_model": "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "order": 1},
            {"provider": "ollama", "backend_model": "qwen2.5-coder:7b", "order": 2},
        ],
    }


def test_missing_config_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", "--config-dir", str(tmp_path / "nope")) == 2
    assert capsys.readouterr().err == (
        f"aibackend validate: error: config directory {tmp_path / 'nope'} does not exist\n"
        "  hint: pass --config-dir DIR, or run from the project root (the default is config/)\n"
    )


def test_missing_providers_file_exits_2(make_config: MakeConfig, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(providers=None)
    assert run("generate", "--config-dir", str(config)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aibackend generate: error: {config / 'providers.yaml'} not found\n")


def test_bad_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", "--jsn") == 2
    assert "unrecognized arguments: --jsn" in capsys.readouterr().err


def test_internal_error_exits_3_and_writes_the_traceback(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aibackend.commands import validate

    def boom(args: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(validate, "run_validation", boom)
    assert run("validate", "--config-dir", str(config_dir)) == 3
    err = capsys.readouterr().err
    assert err.startswith("aibackend validate: internal error: RuntimeError: kaboom\n  this is a bug; the traceback was written to ")
    log = Path(err.rsplit(" ", 1)[-1].strip())
    assert "Traceback" in log.read_text() and "kaboom" in log.read_text()
    log.unlink()


def test_generate_writes_and_reports(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate", "--config-dir", str(config_dir), "--skip-litellm-check") == 0
    output = config_dir / "litellm-unified.yaml"
    assert capsys.readouterr().out == f"wrote {output} (14 deployments in 11 model groups)\n"
    assert run("generate", "--config-dir", str(config_dir), "--skip-litellm-check") == 0
    assert capsys.readouterr().out == f"{output} is up to date (14 deployments in 11 model groups)\n"
    assert not (config_dir / "backups").exists() or list((config_dir / "backups").iterdir()) == []


def test_generate_refuses_an_invalid_config_and_leaves_the_file_alone(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("generate", "--config-dir", str(config_dir), "--skip-litellm-check") == 0
    output = config_dir / "litellm-unified.yaml"
    before = output.read_bytes()
    (config_dir / "model-mappings.yaml").write_text(CYCLE.replace("fallback_chains:", "capabilities:\n  general_chat: {preferred_models: [a]}\n  code_generation: {preferred_models: [b]}\nfallback_chains:"))
    capsys.readouterr()
    assert run("generate", "--config-dir", str(config_dir), "--skip-litellm-check") == 1
    err = capsys.readouterr().err
    assert err.endswith(f"not generated: 1 error(s); {output} left unchanged\n")
    assert output.read_bytes() == before
    assert sorted(p.name for p in config_dir.iterdir()) == [
        "gateway.yaml", "litellm-unified.yaml", "model-mappings.yaml", "providers.yaml"]


def test_generate_output_flag_and_dry_run(config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "gw.yaml"
    target.parent.mkdir()
    assert run("generate", "--config-dir", str(config_dir), "--output", str(target), "--skip-litellm-check") == 0
    capsys.readouterr()
    assert run("generate", "--config-dir", str(config_dir), "--dry-run", "--skip-litellm-check") == 0
    printed = capsys.readouterr().out
    assert printed == target.read_text()
    assert not (config_dir / "litellm-unified.yaml").exists()


def test_generate_check_up_to_date_stale_hand_edited_missing(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = config_dir / "litellm-unified.yaml"
    args = ("generate", "--config-dir", str(config_dir), "--check", "--skip-litellm-check")
    assert run(*args) == 1
    assert "error[generated-missing] the generated config does not exist yet" in capsys.readouterr().err
    assert run("generate", "--config-dir", str(config_dir), "--skip-litellm-check") == 0
    capsys.readouterr()
    assert run(*args) == 0
    assert capsys.readouterr().out == f"{output} is up to date\n"
    # a later mtime alone is not staleness: content is compared
    os.utime(config_dir / "providers.yaml", (4_000_000_000, 4_000_000_000))
    assert run(*args) == 0
    capsys.readouterr()
    # hand edit of the generated file
    original = output.read_text()
    output.write_text(original.replace("num_retries: 2", "num_retries: 9"))
    assert run(*args) == 1
    assert ("error[generated-hand-edited] the generated config was edited by hand "
            "(its body no longer matches its recorded sha256)") in capsys.readouterr().err
    # a source change makes it stale
    output.write_text(original)
    mappings = config_dir / "model-mappings.yaml"
    mappings.write_text(mappings.read_text().replace("rpm: 100", "rpm: 120"))
    assert run(*args) == 1
    assert ("error[generated-stale] the generated config is stale: model-mappings.yaml changed since it was generated"
            in capsys.readouterr().err)
    assert output.read_text() == original  # --check never writes


def test_generate_check_ignores_only_the_commit_line(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate", "--config-dir", str(config_dir), "--skip-litellm-check") == 0
    output = config_dir / "litellm-unified.yaml"
    output.write_text(output.read_text().replace("# git-commit: none", "# git-commit: 0123456789ab"))
    assert run("generate", "--config-dir", str(config_dir), "--check", "--skip-litellm-check") == 0


def test_help_lists_the_interface_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help") == 0
    out = capsys.readouterr().out
    for command in ("validate", "generate", "diff", "backups", "rollback"):
        assert f"    {command}" in out
