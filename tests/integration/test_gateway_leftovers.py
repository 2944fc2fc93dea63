"""``gateway stop``/``start`` find what their run directory names, also without a state file.

A ``gateway start`` killed after it started LiteLLM but before it wrote ``gateway.json`` leaves a
process that no record names -- except its command line, which names the snapshot in ``.run/``.
Stand-in: a tiny program called ``litellm`` given a ``--config`` in the run directory.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from aibackend.gateway.runtime import processes_named_in
from tests.plugins.gateway import aibackend

pytestmark = [pytest.mark.integration]


def _stray_litellm(tmp_path: Path, run: Path) -> subprocess.Popen[bytes]:
    program = tmp_path / "bin" / "litellm"
    program.parent.mkdir()
    program.write_text("import time\ntime.sleep(600)\n")
    run.mkdir(parents=True)
    (run / "live-blue.yaml").write_text("model_list: []\n")
    return subprocess.Popen([sys.executable, str(program), "--config", str(run / "live-blue.yaml"), "--port", "1"],
                            start_new_session=True)


def test_stop_without_state_stops_a_litellm_named_in_the_run_directory(config_dir: Path, tmp_path: Path) -> None:
    run = config_dir.resolve() / ".run"
    stray = _stray_litellm(tmp_path, run)
    try:
        time.sleep(0.3)
        assert processes_named_in(run, "litellm", "haproxy") == [stray.pid]
        result = aibackend("gateway", "stop", "--config-dir", str(config_dir))
        assert result.returncode == 1
        assert result.stderr.startswith(f"aibackend gateway: error: the gateway is not running (no state in {run}); "
                                        "stopped 1 leftover process(es) named there")
        assert stray.wait(10) is not None
        assert processes_named_in(run, "litellm", "haproxy") == []
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def test_processes_elsewhere_are_not_touched(config_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / ".run"
    stray = _stray_litellm(tmp_path, other)
    try:
        time.sleep(0.3)
        assert processes_named_in(config_dir.resolve() / ".run", "litellm", "haproxy") == []
        assert processes_named_in(other, "haproxy") == []  # the program must match too
    finally:
        stray.kill()
        stray.wait()
