"""Starting and stopping a provider's engine (the inference server itself), for ``aibackend switch``.

How an engine is controlled, in this order:

1. ``start_command`` / ``stop_command`` from providers.yaml: shell commands run by ``/bin/sh -c``
   in the config directory. ``start_command`` runs detached, in its own session, its output
   appended to ``<config-dir>/.run/engine-<name>.log``: it may run the engine in the foreground
   (aibackend records the process group in ``.run/engine-<name>.json`` and stops it by signal
   when there is no ``stop_command``) or start it and return 0 (a launcher). Either way the
   engine is a service: it outlives the command that started it.
2. a systemd unit that ``aibackend deploy systemd`` made (``<prefix>-<name>`` or, for the
   simulator units of a dry run, ``<prefix>-sim-<name>``) and systemd knows:
   ``systemctl [--user] start|stop UNIT``.

Commands get ``AIBACKEND_PROVIDER``, ``AIBACKEND_BASE_URL``, ``AIBACKEND_HOST``,
``AIBACKEND_PORT``, ``AIBACKEND_MODEL`` (the first model), ``AIBACKEND_MODELS`` (all, space
separated) and ``AIBACKEND_CONFIG_DIR`` in their environment, never the gateway's master key.
They start with default signal dispositions and an empty signal mask, whatever this process
inherited: an engine started from a shell that ignores SIGINT or SIGTERM must still stop.

"Started" means the health endpoint answers (``aibackend.ops.health``); "stopped" means it no
longer does and, for a local engine, its port is closed (the next engine may need that port).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from aibackend.gateway.runtime import group_alive
from aibackend.ops.health import HealthResult, Target, probe, provider_target
from aibackend.ops.interrupts import default_dispositions
from generator.atomicfile import write_atomic
from generator.errors import AibackendError
from generator.load import Sources
from generator.models import ProviderBase
from generator.net import port_is_open

__all__ = ["Engine", "EngineControlError", "Launch", "engine_for", "without_control"]

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
POLL_S = 0.25


class EngineControlError(AibackendError):
    """An engine could not be started or stopped (or did not become healthy / go away in time)."""


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): with the pid, it names one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])


@dataclass
class Launch:
    """A start command running (or that ran) detached: poll it for an early failure."""

    process: subprocess.Popen[bytes] | None
    log: Path | None

    def failed(self) -> str | None:
        """Why the start failed (the command exited non-zero), or None so far."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is None or code == 0:
            return None
        return f"its start command exited with status {code}" + _tail(self.log)


def _tail(log: Path | None, lines: int = 8) -> str:
    """The log's last lines, on lines of their own after the message's first line."""
    if log is None:
        return ""
    with contextlib.suppress(OSError):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        if text:
            return f"\n    last lines of {log}:\n" + "\n".join(f"      {line}" for line in text)
    return ""


@dataclass(frozen=True)
class Engine:
    """One provider's engine and how to control it."""

    name: str
    provider: ProviderBase
    config_dir: Path
    how: Literal["command", "systemd"]
    target: Target  # its health endpoint
    hide_env: tuple[str, ...] = ()  # variables the commands must not see (the gateway's key)
    unit: str | None = None
    systemd_user: bool = True

    # --- paths -----------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.config_dir / ".run"

    @property
    def log(self) -> Path:
        return self.run_dir / f"engine-{self.name}.log"

    @property
    def record(self) -> Path:
        return self.run_dir / f"engine-{self.name}.json"

    def describe(self) -> str:
        if self.how == "systemd":
            return f"systemctl {'--user ' if self.systemd_user else ''}start|stop {self.unit}"
        stop = self.provider.stop_command or "signal its process group"
        return f"start_command / {'stop_command' if self.provider.stop_command else stop}"

    @property
    def local(self) -> bool:
        return (urlsplit(self.provider.base_url).hostname or "") in _LOCAL_HOSTS

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.provider.base_url)
        host = parts.hostname or "127.0.0.1"
        return ("127.0.0.1" if host == "0.0.0.0" else host), parts.port or (443 if parts.scheme == "https" else 80)

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in self.hide_env}
        host, port = self.address
        env.update({
            "AIBACKEND_PROVIDER": self.name,
            "AIBACKEND_BASE_URL": self.provider.base_url,
            "AIBACKEND_HOST": host,
            "AIBACKEND_PORT": str(port),
            "AIBACKEND_MODEL": self.provider.models[0].name,
            "AIBACKEND_MODELS": " ".join(self.provider.model_names()),
            "AIBACKEND_CONFIG_DIR": str(self.config_dir.resolve()),
        })
        return env

    # --- health -----------------------------------------------------------------------------------
    def health(self, client: httpx.Client, timeout: float = 3.0) -> HealthResult:
        return probe(self.target, client, timeout=timeout)

    def answering(self, client: httpx.Client) -> bool:
        return self.health(client).healthy

    # --- start -------------------------------------------------------------------------------------
    def _run_shell(self, verb: str, command: str) -> subprocess.Popen[bytes]:
        """Run the provider's start/stop command in its own session, its output appended to the log."""
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} aibackend {verb}s {self.name}: {command}\n".encode())
            out.flush()
            try:
                return subprocess.Popen(
                    ["/bin/sh", "-c", command],
                    cwd=self.config_dir,
                    env=self.environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    preexec_fn=default_dispositions,
                )
            except OSError as exc:
                raise EngineControlError(f"cannot run the {verb} command of {self.name}: {exc}") from exc

    def start(self) -> Launch:
        """Start the engine (do not wait for it): detached, so that it outlives this process."""
        if self.how == "systemd":
            self._systemctl("start")
            return Launch(None, None)
        command = self.provider.start_command
        assert command is not None
        process = self._run_shell("start", command)
        write_atomic(self.record, json.dumps({
            "pgid": process.pid, "start_ticks": _start_ticks(process.pid), "command": command,
        }) + "\n")
        return Launch(process, self.log)

    def wait_healthy(self, launch: Launch, timeout: float, client: httpx.Client) -> HealthResult:
        """Poll the health endpoint until it answers; EngineControlError on timeout or a failed start."""
        deadline = time.monotonic() + timeout
        last: HealthResult | None = None
        while True:
            remaining = deadline - time.monotonic()
            last = self.health(client, timeout=max(0.2, min(3.0, remaining)))
            if last.healthy:
                return last
            failure = launch.failed()
            if failure is not None:
                raise EngineControlError(f"{self.name} did not start: {failure}")
            if time.monotonic() + POLL_S > deadline:
                break
            time.sleep(POLL_S)
        raise EngineControlError(
            f"{self.name} did not answer its health endpoint {self.target.url} within {timeout:g} s "
            f"(last: {last.state}, {last.detail})" + _tail(self.log if self.how == "command" else None),
            hint="a real engine may need longer to load its model: raise --timeout",
        )

    # --- stop ---------------------------------------------------------------------------------------
    def started_by_us(self) -> bool:
        """Whether a process group our start command made still runs."""
        pgid = self._recorded_group()
        return pgid is not None and group_alive(pgid)

    def can_stop(self) -> bool:
        """Whether ``stop`` has a way: systemd, a stop_command, or a process group we started."""
        return self.how == "systemd" or bool(self.provider.stop_command) or self.started_by_us()

    def stop(self, timeout: float, client: httpx.Client, *, verify: bool = True) -> None:
        """Stop the engine and (``verify``) wait until it is gone: health down, local port closed."""
        if self.how == "systemd":
            self._systemctl("stop", timeout=timeout)
        else:
            if self.provider.stop_command:
                self._run_stop_command(timeout)
            self._signal_recorded_group(timeout)
        if not verify:
            self.record.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + timeout
        while True:
            still = self._still_there(client)
            if still is None:
                self.record.unlink(missing_ok=True)
                return
            if time.monotonic() > deadline:
                raise EngineControlError(
                    f"{self.name} still {still} {timeout:g} s after it was stopped",
                    hint="stop it by hand, then run the switch again",
                )
            time.sleep(POLL_S)

    def _still_there(self, client: httpx.Client) -> str | None:
        if self.local and port_is_open(*self.address):
            return f"listens on {self.address[0]}:{self.address[1]}"
        if self.health(client, timeout=1.0).healthy:
            return f"answers {self.target.url}"
        return None

    def _run_stop_command(self, timeout: float) -> None:
        command = self.provider.stop_command
        assert command is not None
        process = self._run_shell("stop", command)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise EngineControlError(
                f"the stop command of {self.name} did not finish within {timeout:g} s" + _tail(self.log)
            ) from None
        if code != 0:
            raise EngineControlError(f"the stop command of {self.name} exited with status {code}" + _tail(self.log))

    def _signal_recorded_group(self, timeout: float) -> None:
        """SIGTERM (then SIGKILL) the process group our start command made, if it still runs."""
        pgid = self._recorded_group()
        if pgid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not group_alive(pgid):
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
            while time.monotonic() < deadline and group_alive(pgid):
                time.sleep(0.05)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pgid, os.WNOHANG)

    def _recorded_group(self) -> int | None:
        """The process group our start command made, unless its number now names another process."""
        try:
            record = json.loads(self.record.read_text(encoding="utf-8"))
            pgid = int(record["pgid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        leader_ticks = _start_ticks(pgid)
        if leader_ticks is not None and record.get("start_ticks") not in (None, leader_ticks):
            return None  # the pid was reused by an unrelated process: not ours to signal
        return pgid

    def _systemctl(self, action: str, timeout: float = 120.0) -> None:
        assert self.unit is not None
        command = ["systemctl", *(["--user"] if self.systemd_user else []), action, self.unit]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False,
                preexec_fn=default_dispositions,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineControlError(f"`{' '.join(command)}` failed: {exc}") from exc
        if result.returncode != 0:
            raise EngineControlError(
                f"`{' '.join(command)}` exited with status {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[:400]}",
                hint=f"journalctl {'--user ' if self.systemd_user else ''}-u {self.unit} says why",
            )


def _systemd_unit(name: str, sources: Sources) -> tuple[str, bool] | None:
    """The unit ``deploy systemd`` names for this provider, if systemd knows it: (unit, user scope)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return None
    deploy = sources.gateway.deploy
    user = deploy.scope == "user"
    for unit in (f"{deploy.unit_prefix}-{name}.service", f"{deploy.unit_prefix}-sim-{name}.service"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            known = subprocess.run(
                [systemctl, *(["--user"] if user else []), "cat", unit],
                capture_output=True, timeout=10, check=False,
            )
            if known.returncode == 0:
                return unit, user
    return None


def engine_for(name: str, sources: Sources) -> Engine | None:
    """How to control provider ``name``'s engine; None when there is no way (see the module doc)."""
    provider = sources.providers.providers[name]
    hide = (sources.gateway.server.master_key_env,)
    target = provider_target(name, provider)
    if provider.start_command:
        return Engine(name, provider, sources.config_dir, "command", target, hide)
    found = _systemd_unit(name, sources)
    if found is not None:
        return Engine(name, provider, sources.config_dir, "systemd", target, hide, unit=found[0],
                      systemd_user=found[1])
    return None


def without_control(name: str, sources: Sources) -> str:
    """What to tell the operator when ``engine_for`` finds no way."""
    prefix = sources.gateway.deploy.unit_prefix
    return (
        f"no way to start and stop {name}'s engine: give providers.{name}.start_command (and stop_command) "
        f"in {sources.files['providers']}, or install a systemd unit {prefix}-{name}.service"
    )

