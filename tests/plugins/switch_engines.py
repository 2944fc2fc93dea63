"""Fixtures: engines that ``aibackend switch`` starts and stops through ``start_command`` /
``stop_command``, played by simulators (``tests/plugins/sim_engine.py``).

    commands = engine_commands(config_dir, "vllm-qwen", port=p, model="m", type="vllm")
    providers["vllm-qwen"].update(commands.fields())      # start_command, stop_command
    commands.start(); commands.wait_healthy()             # the engine running before the test's switch
    commands.flags("--refuse-connections")                 # its next start never becomes healthy

``switch_engines`` stops, at the end of the test (module), every engine started in the config
directories it was given, whoever started it: the pid files of sim_engine, and the process groups
aibackend recorded in ``.run/engine-*.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aibackend.gateway.runtime import group_alive
from generator.net import wait_for_http

__all__ = ["EngineCommands", "engine_commands", "group_alive", "stop_engines_in"]

SCRIPT = Path(__file__).with_name("sim_engine.py")


@dataclass(frozen=True)
class EngineCommands:
    config_dir: Path
    name: str
    type: str
    port: int
    model: str

    @property
    def pid_file(self) -> Path:
        return self.config_dir / f"{self.name}.pid"

    @property
    def flags_file(self) -> Path:
        return self.config_dir / f"{self.name}.flags"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _words(self, action: str) -> list[str]:
        words = [sys.executable, str(SCRIPT), action, "--pid-file", str(self.pid_file)]
        if action == "start":
            words += ["--log", str(self.config_dir / f"{self.name}.log"), "--flags-file", str(self.flags_file),
                      "--", self.type, "--port", str(self.port), "--model", self.model,
                      "--ttft-ms", "5", "--tpot-ms", "1", "--slots", "256"]
        return words

    def fields(self) -> dict[str, str]:
        return {"start_command": shlex.join(self._words("start")), "stop_command": shlex.join(self._words("stop"))}

    def start(self) -> None:
        subprocess.run(self._words("start"), check=True, timeout=30)

    def stop(self) -> None:
        subprocess.run(self._words("stop"), check=True, timeout=30)

    def wait_healthy(self, timeout: float = 30) -> None:
        assert wait_for_http(self.url + "/health", timeout=timeout), f"{self.name} did not come up on {self.url}"

    def flags(self, words: str | None) -> None:
        if words is None:
            self.flags_file.unlink(missing_ok=True)
        else:
            self.flags_file.write_text(words)

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text().strip())
        return None


def engine_commands(config_dir: Path, name: str, *, port: int, model: str, type: str = "vllm") -> EngineCommands:
    config_dir.mkdir(parents=True, exist_ok=True)
    return EngineCommands(config_dir, name, type, port, model)


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(0.05)
        if not group_alive(pgid):
            return


def stop_engines_in(config_dir: Path) -> None:
    """Every engine started for ``config_dir``: sim_engine's pid files, aibackend's records."""
    groups: set[int] = set()
    for pid_file in config_dir.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            groups.add(int(pid_file.read_text().strip()))
    for record in (config_dir / ".run").glob("engine-*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            groups.add(int(json.loads(record.read_text())["pgid"]))
    for pgid in groups:
        _kill_group(pgid)


class _Reaper:
    def __init__(self) -> None:
        self.directories: list[Path] = []

    def __call__(self, config_dir: Path) -> Path:
        self.directories.append(config_dir)
        return config_dir

    def stop_all(self) -> None:
        for directory in self.directories:
            stop_engines_in(directory)


@pytest.fixture
def switch_engines() -> Iterator[_Reaper]:
    """``switch_engines(config_dir)``: every engine started for it is stopped after the test."""
    reaper = _Reaper()
    yield reaper
    reaper.stop_all()


@pytest.fixture(scope="module")
def module_switch_engines() -> Iterator[_Reaper]:
    reaper = _Reaper()
    yield reaper
    reaper.stop_all()
