"""The shipped ``.pre-commit-config.yaml``, run FOR REAL by ``git commit`` in a temporary repository.

pre-commit (installed in .venv) runs the local hooks (``language: system``: the ``aibackend`` on PATH,
no network): a broken config, a stale generated file or a literal key is refused at commit time; a
good config is committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator import store
from generator.pipeline import build

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "fixtures" / "configs" / "example"


def _git(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # pre-commit reports through git's stderr: one stream, in order
    return subprocess.run(["git", "-C", str(repo), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, timeout=240, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "gateway-config"
    (repo / "config").mkdir(parents=True)
    for name in ("providers.yaml", "model-mappings.yaml", "gateway.yaml"):
        shutil.copy(EXAMPLE / name, repo / "config" / name)
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo / ".pre-commit-config.yaml")
    result = build(repo / "config", commit="none")
    assert result.ok and result.text is not None
    store.install(repo / "config" / "litellm-unified.yaml", result.text)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),  # never the user's cache
        "HOME": str(tmp_path),  # no global git config or hooks leak in
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for args in (("init", "-q", "-b", "main"), ("config", "user.email", "ops@example.com"),
                 ("config", "user.name", "Ops")):
        assert _git(repo, *args, env=env).returncode == 0
    installed = subprocess.run([str(VENV_BIN / "pre-commit"), "install"], cwd=repo, capture_output=True, text=True,
                               env=env, timeout=120, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo, env


def _commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    assert _git(repo, "add", "-A", env=env).returncode == 0
    return _git(repo, "commit", "-q", "-m", message, env=env)


def _head(repo: Path, env: dict[str, str]) -> str:
    return _git(repo, "log", "--format=%s", env=env).stdout.strip()


def test_good_config_is_committed_broken_ones_are_refused(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    good = _commit(path, env, "good config")
    assert good.returncode == 0, good.stdout
    output = good.stdout
    for hook in ("aibackend validate --critical", "aibackend generate --check", "aibackend secrets scan"):
        assert hook in output and "Passed" in output
    assert _head(path, env) == "good config"

    # 1. a schema error: refused by validate --critical, naming the file, key and line
    providers = path / "config" / "providers.yaml"
    original = providers.read_text()
    providers.write_text(original.replace("status: active", "status: actve", 1))
    refused = _commit(path, env, "typo in status")
    assert refused.returncode != 0
    assert "config/providers.yaml:" in refused.stdout and "providers.ollama.status" in refused.stdout
    assert _head(path, env) == "good config"
    providers.write_text(original)

    # 2. sources changed but the generated file not regenerated: refused by generate --check
    mappings = path / "config" / "model-mappings.yaml"
    mappings.write_text(mappings.read_text().replace("rpm: 100", "rpm: 120"))
    stale = _commit(path, env, "stale generated config")
    assert stale.returncode != 0
    assert "aibackend generate --check" in stale.stdout and "Failed" in stale.stdout
    assert ("config/litellm-unified.yaml: error[generated-stale] the generated config is stale: "
            "model-mappings.yaml changed since it was generated") in stale.stdout
    assert _head(path, env) == "good config"

    # ... and committed once regenerated
    result = build(path / "config", commit="none")
    assert result.text is not None
    store.install(path / "config" / "litellm-unified.yaml", result.text)
    regenerated = _commit(path, env, "rpm 120, regenerated")
    assert regenerated.returncode == 0, regenerated.stdout

    # 3. a literal key in any YAML file: refused by the secret scan
    (path / "notes.yaml").write_text("backup_provider:\n  api_key: sk-live-0123456789abcdefghijklmn\n")
    leaked = _commit(path, env, "leak a key")
    assert leaked.returncode != 0
    assert "notes.yaml:2: error[literal-secret]" in leaked.stdout
    assert _head(path, env).splitlines()[0] == "rpm 120, regenerated"
