"""``aibackend ci`` for real (yamllint, validate, secrets, generate --check in subprocesses), and the
shipped workflow's own command line run on a temporary config."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from aibackend.commands import ci
from generator import store
from generator.pipeline import build

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fixtures" / "configs" / "example"


@pytest.fixture
def repo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE, target)
    result = build(target, commit="none")
    assert result.text is not None
    store.install(target / "litellm-unified.yaml", result.text)
    monkeypatch.chdir(ROOT)  # the repository's .yamllint.yaml applies, as in CI
    return target


def _ci_args_from_workflow(config_dir: Path) -> argparse.Namespace:
    """The `aibackend ci ...` line of .github/workflows/validate.yml, parsed by ci's own parser."""
    steps = yaml.safe_load((ROOT / ".github/workflows/validate.yml").read_text())["jobs"]["validate"]["steps"]
    line = next(step["run"] for step in steps if "aibackend ci" in step.get("run", ""))
    argv = shlex.split(line)
    assert argv[:2] == [".venv/bin/aibackend", "ci"]
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    ci.add_arguments(parser)
    # Our own suite is not run from inside itself: the test stages are the ones --skip-tests leaves out.
    return parser.parse_args([*argv[2:], "--skip-tests", "--json", "--config-dir", str(config_dir)])


def _run(args: argparse.Namespace, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = ci.run(args)
    return code, json.loads(capsys.readouterr().out)


def _statuses(summary: dict[str, object]) -> list[tuple[str, str]]:
    stages = summary["stages"]
    assert isinstance(stages, list)
    return [(s["name"], s["status"]) for s in stages]


def test_workflow_command_passes_on_a_good_config(repo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _ci_args_from_workflow(repo_config)
    assert args.pytest_args == "-n auto --dist loadgroup"
    code, summary = _run(args, capsys)
    assert code == 0, summary
    assert summary["ok"] is True and summary["failed_stage"] is None
    assert _statuses(summary) == [("yaml-lint", "passed"), ("validate", "passed"), ("secrets", "passed"),
                                  ("generate-check", "passed"), ("acceptance", "passed"), ("routes", "passed"),
                                  ("contract", "passed"), ("pytest-unit", "skipped"), ("pytest-contract", "skipped"),
                                  ("pytest-integration", "skipped")]


@pytest.mark.parametrize(
    ("breakage", "failed", "evidence"),
    [
        ("yaml", "yaml-lint", "providers.yaml:5:4: [error] wrong indentation"),
        ("schema", "validate", "error[unknown-key] providers.ollama.bse_url"),
        ("secret", "secrets", "providers.yaml:8: error[literal-secret] this line contains what looks like a secret (sk-liv..."),
        ("stale", "generate-check", "error[generated-stale] the generated config is stale"),
    ],
)
def test_first_failing_stage_is_named_and_later_ones_do_not_run(
    repo_config: Path, capsys: pytest.CaptureFixture[str], breakage: str, failed: str, evidence: str
) -> None:
    providers = repo_config / "providers.yaml"
    text = providers.read_text()
    if breakage == "yaml":
        providers.write_text(text.replace("  ollama:\n    type: ollama", "  ollama:\n   type: ollama", 1))
    elif breakage == "schema":
        providers.write_text(text.replace("base_url: http://127.0.0.1:11434", "bse_url: http://127.0.0.1:11434", 1))
    elif breakage == "secret":
        # schema-valid (a description is any string), so only the secret scan can catch it
        providers.write_text(text.replace("description: Local Ollama server (GGUF models)",
                                          "description: key sk-live-0123456789abcdefghij", 1))
    else:
        (repo_config / "model-mappings.yaml").write_text(
            (repo_config / "model-mappings.yaml").read_text().replace("rpm: 100", "rpm: 90"))
    code, summary = _run(argparse.Namespace(config_dir=repo_config, json=True, skip_tests=True,
                                            tests="unit,contract,integration", pytest_args="",
                                            skip_simulated=True, live=False, report_dir=Path("r")), capsys)
    assert code == 1
    assert summary["ok"] is False and summary["failed_stage"] == failed
    names = [name for name, _ in _statuses(summary)]
    index = names.index(failed)
    assert [status for _, status in _statuses(summary)][: index + 1] == ["passed"] * index + ["failed"]
    assert all(status in ("not-run", "skipped") for _, status in _statuses(summary)[index + 1:])
    stages = summary["stages"]
    assert isinstance(stages, list)
    assert evidence in stages[index]["output_tail"]


def test_human_output_names_the_stage(repo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo_config / "providers.yaml").write_text("providers: [")
    args = argparse.Namespace(config_dir=repo_config, json=False, skip_tests=True, tests="unit", pytest_args="",
                              skip_simulated=True, live=False, report_dir=Path("r"))
    assert ci.run(args) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("[1/5] yaml-lint: ")
    assert captured.err.splitlines()[-1].startswith("ci: stage 'yaml-lint' failed (exit 1): ")
