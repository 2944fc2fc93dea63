"""The package as a user installs it: the wheel, in a fresh venv per extra, running that extra's commands.

The wheel is built from a copy of the source tree (what git tracks or would track), installed
with ``pip install WHEEL[extra]`` pinned by constraints.txt, and every command runs from a
directory outside the checkout, so nothing is imported from the source tree. A venv whose
dependencies were already installed for the same wheel requirements and pins is reused from
the cache (``AIBACKEND_CACHE_DIR``): the requirements decide what is in it, so reusing it proves
the same as a fresh install; the wheel itself is reinstalled every run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from generator.cachedir import aibackend_cache_dir
from generator.net import free_port
from generator.render import comparable
from tests.plugins.configs import EXAMPLE_CONFIG, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

CACHE = aibackend_cache_dir()
GOLDEN = ROOT / "fixtures" / "golden" / "example-litellm-unified.yaml"
KEY = "sk-wheel-test-" + "k" * 32


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    # Its own process group, so that a timeout stops what the command started too (Locust, LiteLLM).
    with subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            raise AssertionError(f"{' '.join(argv)} did not finish in {timeout} s\n{stdout}\n{stderr}") from None
    result = subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def _source_files() -> list[str]:
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel per session, shared by the xdist workers (built once, under a lock)."""
    # Under xdist each worker's base directory sits in the session's: share that one.
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "wheel"
    with _locked(shared.with_suffix(".lock")):
        built = sorted(shared.glob("*.whl"))
        if built:
            return built[0]
        source = shared / "source"
        for name in _source_files():
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(shared), str(source)], cwd=shared)
        return sorted(shared.glob("*.whl"))[0]


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    return sorted(line for line in text.splitlines() if line.startswith("Requires-Dist:"))


def _venv(wheel: Path, extra: str) -> Path:
    spec = f"{wheel}[{extra}]" if extra else str(wheel)
    key = hashlib.sha256("\n".join([extra, sys.version, *_requirements(wheel),
                                    (ROOT / "constraints.txt").read_text()]).encode()).hexdigest()[:16]
    venv = CACHE / "wheel-venvs" / f"{extra or 'base'}-{key}"
    python = venv / "bin" / "python"
    with _locked(venv.with_suffix(".lock")):
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(venv)], cwd=CACHE)
            _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  "-c", str(ROOT / "constraints.txt"), spec], cwd=CACHE)
            (venv / ".complete").write_text(spec)
        _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
              "--force-reinstall", str(wheel)], cwd=CACHE)
    _run([str(python), "-m", "pip", "check"], cwd=CACHE)
    return venv


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, config)
    return config


def test_base_install_compiles_and_keeps_backups(wheel: Path, tmp_path: Path) -> None:
    venv = _venv(wheel, "")
    env, aibackend = _env(venv), str(venv / "bin" / "aibackend")
    config = _config(tmp_path)
    # Not importable from here unless installed: the checkout is not on the path.
    _run([str(venv / "bin" / "python"), "-c", "import generator, aibackend; assert 'site-packages' in generator.__file__"],
         cwd=tmp_path, env=env)
    listed = _run([aibackend, "--help"], cwd=tmp_path, env=env).stdout
    assert all(command in listed for command in ("validate", "gateway", "loadtest", "contract", "demo"))
    validated = _run([aibackend, "validate", "--config-dir", str(config)], cwd=tmp_path, env=env)
    assert "warning[litellm-not-installed]" in validated.stdout
    _run([aibackend, "generate", "--config-dir", str(config)], cwd=tmp_path, env=env)
    generated = (config / "litellm-unified.yaml").read_text()
    assert comparable(generated) == comparable(GOLDEN.read_text())
    # An edit, a diff, a second generate (backing up the first), the backups, and a rollback.
    gateway_yaml = config / "gateway.yaml"
    gateway_yaml.write_text(gateway_yaml.read_text().replace("num_retries: 2", "num_retries: 3"))
    diff = _run([aibackend, "diff", "--config-dir", str(config)], cwd=tmp_path, env=env).stdout
    assert "\n-  num_retries: 2\n+  num_retries: 3\n" in diff
    _run([aibackend, "generate", "--config-dir", str(config)], cwd=tmp_path, env=env)
    backups = _run([aibackend, "backups", "--config-dir", str(config)], cwd=tmp_path, env=env).stdout
    assert "litellm-unified." in backups
    _run([aibackend, "rollback", "--config-dir", str(config)], cwd=tmp_path, env=env)
    assert (config / "litellm-unified.yaml").read_text() == generated
    # The registry's own tools are the compiler's too: an edit applied (regenerated: no gateway
    # runs), then undone.
    providers = (config / "providers.yaml").read_text()
    _run([aibackend, "providers", "disable", "llama_cpp_native", "--apply", "--config-dir", str(config)],
         cwd=tmp_path, env=env)
    assert (config / "providers.yaml").read_text().count("status: disabled") == providers.count("status: disabled") + 1
    assert "llama-cpp-native" not in (config / "litellm-unified.yaml").read_text()
    _run([aibackend, "providers", "rollback", "--apply", "--config-dir", str(config)], cwd=tmp_path, env=env)
    assert (config / "providers.yaml").read_text() == providers
    # The commands of the extras say which extra they need, instead of crashing.
    for argv, extra in ((["gateway", "start"], "gateway"),
                        (["loadtest", "--host", "http://127.0.0.1:9", "--model", "m"], "loadtest"),
                        (["contract", "--target", "vllm=http://127.0.0.1:9"], "contracts"),
                        (["demo"], "gateway"),
                        (["dashboard", "--store", str(tmp_path / "s.sqlite3")], "dashboard"),
                        (["top", "--gateway", "http://127.0.0.1:9"], "dashboard")):
        refused = _run([aibackend, *argv, "--config-dir", str(config)], cwd=tmp_path, env=env, check=False)
        assert refused.returncode == 2, refused.stderr
        assert f"pip install 'ai-backend-unified[{extra}]'" in refused.stderr
        assert "internal error" not in refused.stderr
    # The results history is the base install's (stdlib sqlite3).
    listed = _run([aibackend, "runs", "list", "--store", str(tmp_path / "s.sqlite3")], cwd=tmp_path, env=env).stdout
    assert listed.startswith("no runs recorded yet in ")


def test_gateway_extra_validates_with_litellm_and_serves(wheel: Path, tmp_path: Path) -> None:
    venv = _venv(wheel, "gateway")
    env, aibackend = _env(venv), str(venv / "bin" / "aibackend")
    config = _config(tmp_path)
    validated = _run([aibackend, "validate", "--config-dir", str(config)], cwd=tmp_path, env=env)
    assert "litellm" in validated.stdout.splitlines()[-1] and "litellm-not-installed" not in validated.stdout
    gateway_yaml = config / "gateway.yaml"
    port = free_port()
    gateway_yaml.write_text(gateway_yaml.read_text().replace("port: 4000", f"port: {port}"))
    _run([aibackend, "generate", "--config-dir", str(config)], cwd=tmp_path, env=env)
    env["LITELLM_MASTER_KEY"] = KEY
    try:
        _run([aibackend, "gateway", "start", "--front", "none", "--config-dir", str(config)], cwd=tmp_path, env=env)
        status = _run([aibackend, "gateway", "status", "--config-dir", str(config)], cwd=tmp_path, env=env).stdout
        assert f":{port}" in status
    finally:
        _run([aibackend, "gateway", "stop", "--config-dir", str(config)], cwd=tmp_path, env=env, check=False)


def test_loadtest_extra_runs_a_load_test(wheel: Path, tmp_path: Path) -> None:
    venv = _venv(wheel, "loadtest")
    env, python = _env(venv), str(venv / "bin" / "python")
    with subprocess.Popen([python, "-m", "loadtests.exact_server", "--port", "0"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split()[-1]
            report = tmp_path / "report.json"
            _run([str(venv / "bin" / "aibackend"), "loadtest", "--host", url, "--model", "m", "--requests", "10",
                  "--users", "2", "--report", str(report)], cwd=tmp_path, env=env, timeout=120)
            assert '"completed": 10' in report.read_text()
        finally:
            server.terminate()


def test_contracts_extra_simulates_and_checks(wheel: Path, tmp_path: Path) -> None:
    venv = _venv(wheel, "contracts")
    env, aibackend = _env(venv), str(venv / "bin" / "aibackend")
    port = free_port()
    with subprocess.Popen([aibackend, "simulate", "vllm", "--port", str(port)], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, text=True) as simulator:
        try:
            assert simulator.stdout is not None
            assert "simulating vllm" in simulator.stdout.readline()
            _run([aibackend, "contract", "--target", f"vllm=http://127.0.0.1:{port}"], cwd=tmp_path, env=env,
                 timeout=300)
        finally:
            simulator.terminate()


def test_all_extra_runs_the_demo(wheel: Path, tmp_path: Path) -> None:
    venv = _venv(wheel, "all")
    config = _config(tmp_path)
    demo = _run([str(venv / "bin" / "aibackend"), "demo", "--duration", "3", "--users", "1", "--config-dir", str(config),
                 "--workdir", str(tmp_path / "demo")], cwd=tmp_path, env=_env(venv), timeout=300)
    assert "demo finished in" in demo.stdout and "with problems" not in demo.stdout, demo.stdout[-3000:]


def test_dashboard_extra_serves_its_pages_and_the_vendored_charts(wheel: Path, tmp_path: Path) -> None:
    import httpx

    from generator.net import port_is_open

    venv = _venv(wheel, "dashboard")
    env, aibackend = _env(venv), str(venv / "bin" / "aibackend")
    config = _config(tmp_path)
    port = free_port()
    with subprocess.Popen([aibackend, "dashboard", "--port", str(port), "--store", str(tmp_path / "s.sqlite3"),
                           "--config-dir", str(config)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as dashboard:
        try:
            deadline = time.monotonic() + 30
            while not port_is_open("127.0.0.1", port):
                assert dashboard.poll() is None and time.monotonic() < deadline, dashboard.stdout and dashboard.stdout.read()
                time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            # served from the installed package, offline: the same bytes as the vendored files
            for name in ("uPlot.iife.min.js", "uPlot.min.css"):
                served = httpx.get(f"{base}/static/vendor/uplot/{name}")
                assert served.status_code == 200
                assert served.content == (ROOT / "aibackend" / "dashboard" / "static" / "vendor" / "uplot" / name).read_bytes()
            assert httpx.get(f"{base}/static/charts.js").status_code == 200
            for page in ("/", "/runs", "/trends"):
                assert httpx.get(base + page).status_code == 200, page
        finally:
            os.killpg(dashboard.pid, signal.SIGTERM)
            dashboard.wait(10)


def test_a_config_repository_with_only_config_and_a_pin_passes_ci(wheel: Path, tmp_path: Path) -> None:
    """The issue-18 gate where operators run it: a fresh git repository holding config/ and a
    requirements.txt pinning this package; `aibackend ci` runs every simulator stage there."""
    repo = tmp_path / "config-repo"
    repo.mkdir()
    _run(["git", "init", "-q"], cwd=repo)
    (repo / "requirements.txt").write_text(f"ai-backend-unified[ci] @ {wheel.as_uri()}\n")
    venv = _venv(wheel, "ci")  # the same requirement, installed (cached by what it installs)
    env = {**_env(venv), "LITELLM_MASTER_KEY": KEY}
    aibackend = str(venv / "bin" / "aibackend")
    shutil.copytree(EXAMPLE_CONFIG, repo / "config")
    _run([aibackend, "generate"], cwd=repo, env=env)
    result = _run([aibackend, "ci", "--json"], cwd=repo, env=env, timeout=600, check=False)
    summary = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        ("yaml-lint", "passed"), ("validate", "passed"), ("secrets", "passed"), ("generate-check", "passed"),
        ("acceptance", "passed"), ("routes", "passed"), ("contract", "passed"), ("pytest-unit", "skipped"),
        ("pytest-contract", "skipped"), ("pytest-integration", "skipped")]
    routes = next(s for s in summary["stages"] if s["name"] == "routes")["checked"]
    assert len(routes["names"]) == 12 and len(routes["chains"]) == 4
    assert all(n["seen_counts"] and set(n["seen_counts"]) <= set(n["expected"]) for n in routes["names"])
