"""``aibackend ci``: the stages, their order and commands, and the stop at the first failure (no process)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import yaml

from aibackend.commands import ci
from generator.errors import UsageError

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]


def _args(config_dir: Path, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {"config_dir": config_dir, "json": False, "skip_tests": False,
                                 "tests": "unit,contract,integration", "pytest_args": "", "skip_simulated": False,
                                 "live": False, "report_dir": Path("ci-reports")}
    values.update(extra)
    return argparse.Namespace(**values)


def test_stages_in_order_with_their_commands(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    stages = ci.plan(_args(config_dir, pytest_args="-n 2 --dist loadgroup"))
    assert [s.name for s in stages] == ["yaml-lint", "validate", "secrets", "generate-check", "acceptance", "routes",
                                        "contract", "pytest-unit", "pytest-contract", "pytest-integration"]
    py = sys.executable
    assert stages[0].command == [py, "-m", "yamllint", "-f", "parsable", "-c", ".yamllint.yaml",
                                 f"{config_dir}/providers.yaml", f"{config_dir}/model-mappings.yaml",
                                 f"{config_dir}/gateway.yaml"]
    assert stages[1].command == [py, "-m", "aibackend.cli", "validate", "--critical", "--config-dir", str(config_dir)]
    assert stages[2].command == ["aibackend", "secrets", "scan", "--config-dir", str(config_dir)]
    assert stages[3].command == [py, "-m", "aibackend.cli", "generate", "--check", "--config-dir", str(config_dir)]
    assert stages[4].command == [py, "-m", "aibackend.cli", "validate", "--config-dir", str(config_dir)]
    assert stages[7].command == [py, "-m", "pytest", "-m", "unit", "-q", "-p", "no:cacheprovider", "-n", "2",
                                 "--dist", "loadgroup"]
    assert all(s.status == "not-run" for s in stages)


def test_without_a_yamllint_file_the_relaxed_rules_apply(config_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stages = ci.plan(_args(config_dir, skip_tests=True))
    assert stages[0].command[5:7] == ["-d", ci.YAMLLINT_DEFAULT]
    assert [(s.name, s.status, s.note) for s in stages[7:]] == [
        ("pytest-unit", "skipped", "--skip-tests"), ("pytest-contract", "skipped", "--skip-tests"),
        ("pytest-integration", "skipped", "--skip-tests")]


def test_execute_stops_at_the_first_failure_and_names_it(config_dir: Path) -> None:
    ran: list[str] = []

    def runner(name: str, code: int) -> ci.Stage:
        def run() -> tuple[int, str]:
            ran.append(name)
            return code, f"{name} output"

        return ci.Stage(name, [name], runner=run)

    stages = [runner("yaml-lint", 0), runner("validate", 1), runner("secrets", 0),
              ci.Stage("unit", ["pytest"], status="skipped", note="--skip-tests")]
    lines: list[str] = []
    failed = ci.execute(stages, echo=lines.append)
    assert failed is stages[1]
    assert ran == ["yaml-lint", "validate"]
    assert [(s.name, s.status, s.exit_code) for s in stages] == [
        ("yaml-lint", "passed", 0), ("validate", "failed", 1), ("secrets", "not-run", None), ("unit", "skipped", None)]
    assert lines[0] == "[1/3] yaml-lint: yaml-lint" and lines[2] == "[2/3] validate: validate"
    assert stages[1].to_json()["output_tail"] == "validate output"


def test_no_test_collected_is_a_skip_not_a_failure() -> None:
    stage = ci.Stage("contract", ["pytest"], runner=lambda: (5, "no tests ran"))
    assert ci.execute([stage], echo=lambda _: None) is None
    assert (stage.status, stage.note) == ("skipped", "no test collected")


def test_bad_usage(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"config directory .* does not exist"):
        ci.run(_args(tmp_path / "nope"))
    (tmp_path / "c").mkdir()
    with pytest.raises(UsageError, match="--tests: unknown tier"):
        ci.run(_args(tmp_path / "c", tests="unit,smoke"))


def test_shipped_workflow_simulated_on_push_live_on_schedule_in_a_config_repository() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "validate.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request", "schedule", "workflow_dispatch"}
    jobs = workflow["jobs"]
    assert "push" in jobs["validate"]["if"] and "schedule" not in jobs["validate"]["if"]
    assert "schedule" in jobs["live"]["if"] and "workflow_dispatch" in jobs["live"]["if"] and "push" not in jobs["live"]["if"]
    for name, command in (("validate", "aibackend ci "), ("live", "aibackend ci --skip-tests --live ")):
        runs = [step.get("run", "") for step in jobs[name]["steps"]]
        install = next(i for i, r in enumerate(runs) if "pip install" in r)
        # A config repository has no scripts/setup.sh: its pin (requirements.txt or pyproject.toml) is installed.
        assert "if [ -f requirements.txt ]; then .venv/bin/pip install -r requirements.txt" in runs[install]
        assert "else .venv/bin/pip install .; fi" in runs[install]
        assert install < next(i for i, r in enumerate(runs) if command in r)
    assert "--report-dir ci-reports" in next(s["run"] for s in jobs["live"]["steps"] if "--live" in s.get("run", ""))
    assert jobs["live"]["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}"


def test_shipped_hooks_for_repo_rev_match_the_local_ones() -> None:
    local = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    shipped = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["entry"] for h in shipped} == {h["id"]: h["entry"] for h in local}
    assert {h["language"] for h in shipped} == {"python"}  # pre-commit installs this package for them


def test_shipped_precommit_hooks_are_local_and_offline() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = {hook["id"]: hook for hook in config["repos"][0]["hooks"]}
    assert {hook_id: hook["entry"] for hook_id, hook in hooks.items()} == {
        "aibackend-validate": "aibackend validate --critical",
        "aibackend-generate-check": "aibackend generate --check --skip-litellm-check",
        "aibackend-secrets": "aibackend secrets scan",
    }
    assert {hook["language"] for hook in hooks.values()} == {"system"}
