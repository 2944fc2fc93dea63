"""Start simulators for tests and benchmarks: in a subprocess (default: own process group, timing
undisturbed by the caller, SIGKILL-able) or on a background thread; one handle API for both."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from contracts.simulators.config import SimulatorConfig
from generator.errors import AibackendError

__all__ = ["RunningSimulator", "SimulatorStartError", "start_simulator", "start_simulator_in_thread"]

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_URL = re.compile(r"on (http://\S+?:(\d+)) ")


class SimulatorStartError(AibackendError):
    """The simulator process did not come up; the message carries its output."""


def _request(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise ValueError(f"simulator control {method} {url} failed: {exc.code} {detail}") from None


class RunningSimulator:
    """A started simulator. ``url`` has no ``/v1`` suffix."""

    def __init__(self, config: SimulatorConfig, port: int, *, process: subprocess.Popen[bytes] | None = None,
                 log_path: Path | None = None, thread: _ThreadedServer | None = None) -> None:
        self.config = config
        self.type = config.type
        self.port = port
        self.host = config.host
        self.url = f"http://{config.host}:{port}"
        self.models = list(config.models)
        self._process = process
        self._thread = thread
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"RunningSimulator({self.type!r}, url={self.url!r}, models={self.models!r})"

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = _request("GET", self.url + "/_sim/stats")
        return result

    def control(self, **changes: Any) -> dict[str, Any]:
        """Change config fields at run time (``refuse_for_s=S`` refuses connections for S seconds)."""
        if set(changes) == {"refuse_connections"}:
            (self.refuse_connections if changes["refuse_connections"] else self.accept_connections)()
            return {"config": {"refuse_connections": changes["refuse_connections"]}}
        if changes == {"reset_connections": False}:  # unreachable over HTTP while every connection is reset
            self.accept_connections()
            return {"config": {"reset_connections": False}}
        result: dict[str, Any] = _request("POST", self.url + "/_sim/control", changes)
        return result

    def reset(self) -> None:
        _request("POST", self.url + "/_sim/reset", {})

    def refuse_connections(self) -> None:
        self._signal_or_call(signal.SIGUSR1, {"refuse_connections": True})
        self._wait_listening(False)

    def accept_connections(self) -> None:
        """Listen again and stop resetting connections (undoes refuse_connections and reset_connections)."""
        self._signal_or_call(signal.SIGUSR2, {"refuse_connections": False, "reset_connections": False})
        _wait_stats(self, 5.0, stop_on_failure=False)

    def _signal_or_call(self, signum: int, changes: dict[str, Any]) -> None:
        if self._process is not None:
            self._process.send_signal(signum)
        elif self._thread is not None:
            self._thread.apply(changes)

    def _wait_listening(self, listening: bool, timeout: float = 5.0) -> None:
        from generator.net import port_is_open

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_is_open(self.host, self.port) == listening:
                return
            time.sleep(0.01)
        raise SimulatorStartError(f"{self!r} did not {'start' if listening else 'stop'} listening within {timeout}s")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the control endpoint answers (after a loading phase, for example)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if not self.stats()["loading"]:
                    return
            time.sleep(0.02)
        raise SimulatorStartError(f"{self!r} not ready after {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._process is None:
            return
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._process is not None and self._process.stdout is not None and not self._process.stdout.closed:
            self._process.stdout.close()

    def kill(self) -> None:
        """SIGKILL the whole process group (a crashed provider, as a test sees it)."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(5)
        self._close_pipe()

    @property
    def alive(self) -> bool:
        if self._thread is not None:
            return True
        return self._process is not None and self._process.poll() is None


def _expects_stats(config: SimulatorConfig) -> bool:
    return not (config.loading_s > 0 or config.refuse_connections or config.reset_connections)


def _wait_stats(sim: RunningSimulator, timeout: float, *, stop_on_failure: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            sim.stats()
            return
        time.sleep(0.01)
    if stop_on_failure:
        sim.stop()
    raise SimulatorStartError(f"{sim!r} did not answer /_sim/stats within {timeout}s")


def start_simulator(config: SimulatorConfig, *, wait: bool = True, timeout: float = 20.0) -> RunningSimulator:
    """Start ``python -m contracts.simulators`` in its own process group; return once it serves."""
    argv = [sys.executable, "-m", "contracts.simulators", *config.to_argv()]
    log = tempfile.NamedTemporaryFile(prefix=f"sim-{config.type}-", suffix=".log", delete=False)  # noqa: SIM115
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                               cwd=_PROJECT_ROOT, env=env, start_new_session=True)
    log.close()
    assert process.stdout is not None
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                byte = process.stdout.read1(4096) if hasattr(process.stdout, "read1") else process.stdout.read(1)
                if not byte:
                    break
                line += byte
    match = _URL.search(line.decode("utf-8", "replace"))
    if match is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
        process.stdout.close()
        output = Path(log.name).read_text(encoding="utf-8", errors="replace")
        raise SimulatorStartError(
            f"simulator {' '.join(argv[3:])} did not start (exit {process.returncode}):\n{line.decode()}{output[-3000:]}"
        )
    sim = RunningSimulator(config, int(match.group(2)), process=process, log_path=Path(log.name))
    if wait and _expects_stats(config):
        _wait_stats(sim, timeout)
    return sim


class _ThreadedServer:
    def __init__(self, config: SimulatorConfig) -> None:
        from contracts.simulators.server import SimulatorServer, _run

        self.loop = asyncio.new_event_loop()
        self.server: SimulatorServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

        def started(server: SimulatorServer) -> None:
            self.server = server
            self._ready.set()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(_run(config, lambda s: None, install_signals=False, started=started))
            except BaseException as exc:
                self._error = exc
                self._ready.set()
            finally:
                self.loop.close()

        self.thread = threading.Thread(target=main, name=f"simulator-{config.type}", daemon=True)
        self.thread.start()
        self._ready.wait(15)
        if self._error is not None or self.server is None:
            raise SimulatorStartError(f"threaded simulator failed to start: {self._error!r}")

    def apply(self, changes: dict[str, Any]) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.apply(dict(changes)), self.loop).result(5)

    def stop(self) -> None:
        if self.server is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(5)


def start_simulator_in_thread(config: SimulatorConfig) -> RunningSimulator:
    """The same server on an event loop in a background thread of this process (no timing guarantees)."""
    threaded = _ThreadedServer(config)
    assert threaded.server is not None
    sim = RunningSimulator(config, threaded.server.port, thread=threaded)
    if _expects_stats(config):
        _wait_stats(sim, 10)
    return sim
