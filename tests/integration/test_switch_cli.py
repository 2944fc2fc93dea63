"""``aibackend switch`` without a gateway: refusals, the engines and files it changes, signals,
systemd units. Engines are simulators started and stopped by start_command / stop_command
(tests/plugins/sim_engine.py); the gateway's part is tests/rollback/test_switch.py's.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.net import free_port, port_is_open
from tests.plugins.gateway import AIBACKEND, aibackend
from tests.plugins.processes import ignore_every_signal
from tests.plugins.switch_engines import EngineCommands, engine_commands

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # engines started and stopped: seconds each

TEMPLATE = """\
# two engines, one GPU
providers:
  vllm-a:
    type: vllm
    base_url: http://127.0.0.1:{a_port}
    status: active
    exclusive_group: gpu0
{a_commands}    models:
      - model-a

  vllm-b:
    type: vllm
    base_url: http://127.0.0.1:{b_port}
    status: disabled # not yet
    exclusive_group: gpu0
{b_commands}    models:
      - model-b

  loner:
    type: ollama
    base_url: http://127.0.0.1:{loner_port}
    status: disabled
    models: [m]
"""


def _commands(engine: EngineCommands, start_prefix: str = "") -> str:
    fields = engine.fields()
    start = start_prefix + fields["start_command"]
    return f"    start_command: {_quote(start)}\n    stop_command: {_quote(fields['stop_command'])}\n"


def _quote(value: str) -> str:
    import json

    return json.dumps(value)


def make_config(directory: Path, *, commands: bool = True, a_start_prefix: str = "", b_start_prefix: str = "",
                same_port: bool = False) -> tuple[Path, EngineCommands, EngineCommands]:
    directory.mkdir(parents=True)
    a_port = free_port()
    b_port = a_port if same_port else free_port()
    a = engine_commands(directory, "vllm-a", port=a_port, model="model-a")
    b = engine_commands(directory, "vllm-b", port=b_port, model="model-b")
    (directory / "providers.yaml").write_text(TEMPLATE.format(
        a_port=a.port, b_port=b.port, loner_port=free_port(),
        a_commands=_commands(a, a_start_prefix) if commands else "",
        b_commands=_commands(b, b_start_prefix) if commands else "",
    ))
    (directory / "model-mappings.yaml").write_text(
        "exact_matches:\n  coder: {provider: vllm-a, backend_model: model-a}\n")
    (directory / "gateway.yaml").write_text(f"server: {{port: {free_port()}}}\ncache: {{enabled: false}}\n")
    return directory, a, b


def switch(config: Path, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return aibackend("switch", name, "--config-dir", str(config), "--skip-litellm-check", *args, env=env, timeout=120)


def snapshot(config: Path) -> dict[str, bytes]:
    return {str(p.relative_to(config)): p.read_bytes() for p in sorted(config.rglob("*"))
            if p.is_file() and ".run" not in p.parts and p.suffix in (".yaml",)}


def answering(engine: EngineCommands) -> bool:
    return port_is_open("127.0.0.1", engine.port)


def test_refusals_name_the_reason_and_change_nothing(tmp_path: Path, switch_engines: object) -> None:
    config, a, b = make_config(tmp_path / "config")
    before = snapshot(config)
    result = switch(config, "loner")
    assert result.returncode == 1
    assert f"{config}/providers.yaml:23: provider `loner` is in no exclusive_group" in result.stderr
    result = switch(config, "vlm-b")
    assert result.returncode == 1
    assert f"unknown provider `vlm-b` in {config}/providers.yaml, did you mean `vllm-b`?" in result.stderr
    assert snapshot(config) == before
    assert not answering(a) and not answering(b)

    bare, _, _ = make_config(tmp_path / "bare", commands=False)
    result = switch(bare, "vllm-b")
    assert result.returncode == 1
    assert "no way to start and stop vllm-b's engine: give providers.vllm-b.start_command (and stop_command)" in \
        result.stderr

    shared, _, _ = make_config(tmp_path / "shared", same_port=True)
    result = switch(shared, "vllm-b", "--overlap")
    assert result.returncode == 1 and "use the same port" in result.stderr and "drop --overlap" in result.stderr


def test_a_switch_without_a_gateway_swaps_engines_and_edits_two_lines(tmp_path: Path, switch_engines: object) -> None:
    config, a, b = make_config(tmp_path / "config")
    switch_engines(config)  # type: ignore[operator]
    original = (config / "providers.yaml").read_text()
    a.start()
    a.wait_healthy()
    result = switch(config, "vllm-b")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no gateway is running: the files are regenerated, nothing is reloaded or checked" in result.stdout
    assert "4 check    skipped: no gateway is running" in result.stdout
    assert answering(b) and not answering(a)
    assert (config / "providers.yaml").read_text() == original.replace(
        "    status: active\n", "    status: disabled\n").replace("status: disabled # not yet", "status: active # not yet")
    check = aibackend("generate", "--check", "--skip-litellm-check", "--config-dir", str(config))
    assert check.returncode == 0, check.stdout + check.stderr
    # Switching to the active member whose engine answers: nothing to do.
    again = switch(config, "vllm-b")
    assert again.returncode == 0 and "already answers" in again.stdout
    # --overlap: the new engine starts first, the old one stops last.
    back = switch(config, "vllm-a", "--overlap")
    assert back.returncode == 0, back.stdout + back.stderr
    out = back.stdout
    assert out.index("starting vllm-a") < out.index("wrote") < out.index("stopping vllm-b")
    assert (config / "providers.yaml").read_text() == original
    assert answering(a) and not answering(b)


def _sig_masks(path: Path) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in path.read_text().splitlines()}


def _ignore_signals() -> None:
    # What a careless parent leaves behind (`nohup`, a non-interactive shell's `&`, a supervisor's
    # mask, a CI runner's raw sigaction): signals ignored, including ones the switch does not handle
    # itself and glibc's reserved 32 and 33, and one blocked.
    ignore_every_signal()


def test_signals_ignored_by_the_caller_neither_reach_the_engine_nor_stop_the_rollback(
    tmp_path: Path, switch_engines: object
) -> None:
    probe = "grep -E '^Sig(Ign|Blk)' /proc/self/status > {name}.signals; exec "
    config, a, b = make_config(tmp_path / "config", a_start_prefix=probe.format(name="a"),
                               b_start_prefix=probe.format(name="b"))
    switch_engines(config)  # type: ignore[operator]
    original = snapshot(config)
    a.start()
    a.wait_healthy()
    # 1. The new engine never becomes healthy; SIGTERM arrives while the switch waits for it. The
    # switch was started with SIGTERM ignored: it must handle the signal anyway, and roll back.
    b.flags("--refuse-connections")
    process = subprocess.Popen(
        [AIBACKEND, "switch", "vllm-b", "--config-dir", str(config), "--skip-litellm-check", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_signals,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "starting vllm-b" in line:
            time.sleep(1.0)
            process.send_signal(signal.SIGTERM)
            break
    rest, err = process.communicate(timeout=60)
    out = "".join(seen) + rest
    assert process.returncode == 1, out + err
    assert "FAILED: interrupted by SIGTERM" in out
    assert "failed at step '2 engines': interrupted by SIGTERM; rolled back: everything is as it was" in err
    assert answering(a) and snapshot(config) == original
    assert not list((config / ".run").glob("engine-vllm-b.json"))
    # The engine was started with default dispositions and nothing blocked, whatever the switch inherited.
    b_masks = _sig_masks(config / "b.signals")
    assert b_masks == {"SigBlk": 0, "SigIgn": 0}, b_masks

    # 2. A switch that succeeds: its engine outlives the switch (a service), and stops on SIGTERM.
    b.flags(None)
    result = subprocess.run(
        [AIBACKEND, "switch", "vllm-b", "--config-dir", str(config), "--skip-litellm-check"],
        capture_output=True, text=True, timeout=120, preexec_fn=_ignore_signals, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert answering(b)
    pid = b.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while answering(b) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not answering(b), "the engine did not stop on SIGTERM: it inherited an ignored disposition"


FAKE_SYSTEMCTL = """\
#!{python}
import subprocess, sys
from pathlib import Path
args = sys.argv[1:]
Path({log!r}).open("a").write(" ".join(args) + "\\n")
words = [a for a in args if a != "--user"]
action, unit = words[0], words[1]
units = {units!r}
if unit not in units:
    print(f"No files found for {{unit}}.", file=sys.stderr)
    sys.exit(1)
if action == "cat":
    print(f"# /home/u/.config/systemd/user/{{unit}}")
    sys.exit(0)
sys.exit(subprocess.run(units[unit][action], shell=True).returncode)
"""


def test_units_made_by_deploy_systemd_are_started_and_stopped_with_systemctl(
    tmp_path: Path, switch_engines: object
) -> None:
    config, a, b = make_config(tmp_path / "config", commands=False)
    switch_engines(config)  # type: ignore[operator]
    units = {
        f"aibackend-{engine.name}.service": {"start": shlex.join(engine._words("start")),
                                             "stop": shlex.join(engine._words("stop"))}
        for engine in (a, b)
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL.format(python=sys.executable, log=str(log), units=units))
    systemctl.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    a.start()
    a.wait_healthy()
    result = switch(config, "vllm-b", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopping vllm-a (systemctl --user start|stop aibackend-vllm-a.service)" in result.stdout
    assert answering(b) and not answering(a)
    assert log.read_text().splitlines() == [
        "--user cat aibackend-vllm-b.service",
        "--user cat aibackend-vllm-a.service",
        "--user stop aibackend-vllm-a.service",
        "--user start aibackend-vllm-b.service",
    ]


def test_a_switch_killed_midway_is_named_by_the_next_one_which_cleans_up(tmp_path: Path, switch_engines: object) -> None:
    config, a, b = make_config(tmp_path / "config")
    switch_engines(config)  # type: ignore[operator]
    original = snapshot(config)
    a.start()
    a.wait_healthy()
    b.flags("--refuse-connections")  # the new engine runs but never answers
    process = subprocess.Popen(
        [AIBACKEND, "switch", "vllm-b", "--config-dir", str(config), "--skip-litellm-check", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "starting vllm-b" in line:
            time.sleep(1.0)
            process.kill()  # SIGKILL: no rollback can run
            break
    process.wait(timeout=30)
    process.stdout.close()
    b.flags(None)
    leftover = b.pid()
    assert leftover is not None and (config / ".run" / "switch.json").exists()
    assert not answering(a) and snapshot(config) == original  # the old engine stopped, the files untouched

    # The next switch says what was interrupted, stops the leftover engine (it holds the GPU
    # although its provider is disabled) and brings the active member back.
    result = switch(config, "vllm-a")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: a switch to vllm-b (from vllm-a) started at" in result.stdout
    assert "was killed during step '2 engines'" in result.stdout
    assert "stopping vllm-b" in result.stdout and "starting vllm-a" in result.stdout
    assert answering(a) and snapshot(config) == original
    assert _group_gone(leftover)
    assert not (config / ".run" / "switch.json").exists()


def _group_gone(pgid: int) -> bool:
    from tests.plugins.switch_engines import group_alive

    return not group_alive(pgid)
