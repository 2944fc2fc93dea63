"""Run ``loadtests/locustfile.py`` headless in subprocesses: one Locust, or a master and N workers.

Locust runs in its own processes (gevent monkey-patching stays out of the CLI, and each worker
gets a core). Lines the locustfile prints with the ``[loadtest]`` prefix (progress, summary, gate)
are echoed live; everything else goes to a log file beside the report, whose tail is shown when
Locust fails.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from generator.net import free_port
from loadtests.settings import LoadSettings

__all__ = ["LOCUSTFILE", "PREFIX", "LocustRun", "run_locust"]

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
PREFIX = "[loadtest] "  # the locustfile's lines for the terminal (loadtests.plugin.say)


@dataclass
class LocustRun:
    """One headless run: Locust's own flags, and the settings it gets as ``--llm-*`` options."""

    host: str
    users: int
    spawn_rate: float
    settings: LoadSettings  # its report must be set: that is where the run's report is read
    workers: int = 0
    run_time: float | None = None
    stop_timeout: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def report(self) -> Path:
        if self.settings.report is None:
            raise ValueError("a LocustRun needs settings.report")
        return self.settings.report


def _base(run: LocustRun) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--skip-log-setup"]


def _master_argv(run: LocustRun, master_port: int) -> list[str]:
    argv = [*_base(run), "--headless", "--host", run.host, "-u", str(run.users), "-r", f"{run.spawn_rate:g}",
            "--only-summary", *run.settings.locust_argv()]
    # Locust takes whole seconds only ("20", "20s", "1h20m").
    if run.run_time:
        argv += ["-t", f"{math.ceil(run.run_time)}s"]
    if run.stop_timeout:
        argv += ["--stop-timeout", str(math.ceil(run.stop_timeout))]
    if run.workers:
        argv += ["--master", "--expect-workers", str(run.workers), "--master-bind-host", "127.0.0.1",
                 "--master-bind-port", str(master_port)]
    return argv


def _worker_argv(run: LocustRun, master_port: int) -> list[str]:
    return [*_base(run), "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]


def _pump(stream: TextIO, log: TextIO, echo: Callable[[str], None], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            log.write(line)
            log.flush()
        if line.startswith(PREFIX):
            echo(line[len(PREFIX):].rstrip("\n"))


def run_locust(run: LocustRun, *, echo: Callable[[str], None] = print) -> tuple[int, dict[str, Any] | None, Path]:
    """Run to completion; returns (exit code of Locust, the report or None, the log path)."""
    log_path = run.report.with_suffix(".locust.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if run.report.exists():
        run.report.unlink()  # a stale report must never pass for this run's
    env = {**os.environ, **run.env, "PYTHONUNBUFFERED": "1"}
    master_port = free_port()
    lock = threading.Lock()
    procs: list[subprocess.Popen[str]] = []
    threads: list[threading.Thread] = []
    with log_path.open("w", encoding="utf-8") as log:
        try:
            argvs = [_master_argv(run, master_port)] + [_worker_argv(run, master_port)] * run.workers
            for argv in argvs:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
                procs.append(proc)
                assert proc.stdout is not None
                t = threading.Thread(target=_pump, args=(proc.stdout, log, echo, lock), daemon=True)
                t.start()
                threads.append(t)
            code = procs[0].wait()
            for proc in procs[1:]:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGTERM)
                        proc.wait(timeout=10)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        try:
                            os.killpg(proc.pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            for t in threads:
                t.join(timeout=5)
            for proc in procs:
                if proc.stdout is not None:
                    proc.stdout.close()
    report = json.loads(run.report.read_text(encoding="utf-8")) if run.report.exists() else None
    return code, report, log_path
