"""``gateway stop``/``start`` find what their run directory names, also without a state file.

A ``gateway start`` killed after it started LiteLLM but before it wrote ``gateway.json`` leaves a
process that no record names -- except its command line, which names the snapshot in ``.run/``.
Stand-in: a tiny program called ``litellm`` given a ``--config`` in the run directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aibackend.gateway.runtime import processes_named_in
from tests.plugins.gateway import AIBACKEND, aibackend, generate, new_master_key, write_sources
from tests.plugins.processes import signalable

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


@pytest.mark.slow
@pytest.mark.requires_litellm
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_start_cut_short_while_replicas_boot_stops_them_at_once(tmp_path: Path, signum: int) -> None:
    """SIGTERM (or Ctrl-C) while LiteLLM replicas are still booting: they stop now, not when ready."""
    config = write_sources(
        tmp_path / "config",
        providers={"sim": {"type": "vllm", "base_url": "http://127.0.0.1:9/v1", "models": ["m"], "status": "active"}},
        gateway={"server": {"replicas": 2}, "cache": {"enabled": False}},
    )
    generate(config)
    run = config.resolve() / ".run"
    env = {**os.environ, "LITELLM_MASTER_KEY": new_master_key(), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    process = subprocess.Popen(signalable([AIBACKEND, "gateway", "start", "--config-dir", str(config)]),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(processes_named_in(run, "litellm")) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.1)
        assert len(processes_named_in(run, "litellm")) == 2
        os.kill(process.pid, signum)
        sent = time.monotonic()
        output, _ = process.communicate(timeout=60)
        print(f"gateway start ended {time.monotonic() - sent:.1f} s after the signal")
        assert process.returncode == 130, output
        assert output.rstrip().endswith("interrupted"), output
        assert processes_named_in(run, "litellm", "haproxy") == []
        assert not (run / "gateway.json").exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in processes_named_in(run, "litellm", "haproxy"):
            os.killpg(pid, signal.SIGKILL)
