"""The gateway's run-time directory: state file, pid file, logs, lock, and process identity.

Everything the running gateway leaves on disk lives in ``<config-dir>/.run/``:

    gateway.json      the state: front (haproxy or none), public address, the serving replicas
    gateway.pid       pids of the serving LiteLLM replicas, one a line (for humans and scripts)
    gateway-<slot>.log, gateway-<slot>-<i>.log   LiteLLM's output, one file per replica of a slot
    live-<slot>.yaml  the config the replicas of a slot were started on
    haproxy.cfg, haproxy.sock, haproxy.log, haproxy.pid   the front, when there is one
    reload.json       the journal of a reload in progress (see aibackend.gateway.reload)
    lock              flock'ed by every command that changes the gateway

The master key is never written here: it reaches LiteLLM only through its environment.

Who owns these processes: ``gateway start`` returns and the gateway keeps running, so its
processes are not the command's children to clean up but a service whose record is this
directory. ``gateway stop``, ``reload`` and the next ``gateway start`` find every process through
it -- the ones ``gateway.json`` names and any LiteLLM or HAProxy whose command line names a file
in it (a start killed before it wrote its state) -- and stop them. Started by an owner (the demo,
a test), the same processes also carry the owner's token and die with it (``generator.lifeline``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generator.atomicfile import write_atomic
from generator.errors import GatewayError

__all__ = [
    "FIRST_SLOT",
    "SLOTS",
    "GatewayState",
    "Instance",
    "RuntimeDir",
    "group_alive",
    "pid_matches",
    "processes_named_in",
    "stop_process_group",
]

# The two LiteLLM slots behind the front: one serves, the other takes the next generation on reload.
SLOTS = ("blue", "green")
FIRST_SLOT = SLOTS[0]


@dataclass(frozen=True)
class Instance:
    """One LiteLLM process (a replica): which slot, where it listens, which config it was started on."""

    slot: str
    pid: int
    port: int
    config: str
    log: str
    index: int = 0  # which replica of its slot

    @property
    def server(self) -> str:
        """Its name as a server of the HAProxy backend."""
        return f"{self.slot}-{self.index}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        return cls(
            slot=str(data["slot"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            config=str(data["config"]),
            log=str(data["log"]),
            index=int(data.get("index", 0)),
        )


@dataclass(frozen=True)
class FrontState:
    """The HAProxy process in front of the gateway and how to talk to it."""

    pid: int
    config: str
    socket: str
    log: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrontState:
        return cls(pid=int(data["pid"]), config=str(data["config"]), socket=str(data["socket"]), log=str(data["log"]))


@dataclass(frozen=True)
class GatewayState:
    """What ``gateway start`` started; rewritten atomically by ``reload`` at the switch."""

    host: str
    port: int
    replicas: tuple[Instance, ...]
    front: FrontState | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def active(self) -> Instance:
        """The first replica (the only one with ``server.replicas: 1``)."""
        return self.replicas[0]

    def to_json(self) -> str:
        data = asdict(self)
        data["active"] = asdict(self.active)  # what readers of one instance have always read
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GatewayState:
        front = data.get("front")
        replicas = data.get("replicas") or [data["active"]]
        return cls(
            host=str(data["host"]),
            port=int(data["port"]),
            replicas=tuple(Instance.from_json(r) for r in replicas),
            front=FrontState.from_json(front) if front else None,
            started_at=float(data.get("started_at", 0.0)),
        )


class RuntimeDir:
    """Paths and state under ``<config-dir>/.run``."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        # Absolute: processes are found by the paths on their command lines (processes_named_in).
        self.path = config_dir.resolve() / ".run"

    def ensure(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def state_file(self) -> Path:
        return self.path / "gateway.json"

    @property
    def pid_file(self) -> Path:
        return self.path / "gateway.pid"

    @property
    def journal_file(self) -> Path:
        return self.path / "reload.json"

    def log_file(self, slot: str, index: int = 0) -> Path:
        return self.path / (f"gateway-{slot}.log" if index == 0 else f"gateway-{slot}-{index}.log")

    def snapshot(self, slot: str) -> Path:
        return self.path / f"live-{slot}.yaml"

    @property
    def haproxy_config(self) -> Path:
        return self.path / "haproxy.cfg"

    @property
    def haproxy_socket(self) -> Path:
        return self.path / "haproxy.sock"

    @property
    def haproxy_pid(self) -> Path:
        return self.path / "haproxy.pid"

    @property
    def haproxy_log(self) -> Path:
        return self.path / "haproxy.log"

    def read_state(self) -> GatewayState | None:
        try:
            text = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return GatewayState.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayError(
                f"{self.state_file}: unreadable gateway state ({exc})",
                hint=f"stop any LiteLLM/HAProxy you started by hand, then delete {self.state_file}",
            ) from exc

    def write_state(self, state: GatewayState) -> None:
        self.ensure()
        write_atomic(self.state_file, state.to_json())
        write_atomic(self.pid_file, "".join(f"{replica.pid}\n" for replica in state.replicas))

    def clear_state(self) -> None:
        for path in (self.state_file, self.pid_file):
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise start/stop/reload on one config dir (two reloads at once would mix states)."""
        self.ensure()
        with open(self.path / "lock", "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise GatewayError(
                    f"another aibackend command is changing the gateway of {self.config_dir}",
                    hint="wait for it to finish (a reload takes about 10-30 s)",
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_matches(pid: int, *needles: str) -> bool:
    """True when ``pid`` is alive AND its command line contains every needle.

    A pid file can outlive its process and the number be reused by an unrelated program: the
    command line check keeps ``stop`` from signalling a stranger.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    status = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # A zombie (exited, not yet reaped by its parent) is not running.
        if status.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    cmd = " ".join(_cmdline(pid))
    return all(needle in cmd for needle in needles)


def processes_named_in(directory: Path, *programs: str) -> list[int]:
    """Process-group leaders running one of ``programs`` on a file in ``directory`` (by command line).

    What a run directory's own record may miss: a LiteLLM started from a snapshot there, or an
    HAProxy on its haproxy.cfg, by a command that was killed before it wrote the state.
    """
    marker = str(directory.resolve()) + "/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        words = _cmdline(int(entry.name))
        if not any(marker in word for word in words) or not any(p in w for w in words[:2] for p in programs):
            continue
        pid = int(entry.name)
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid and pid_matches(pid):
                found.append(pid)
    return sorted(found)


def stop_process_group(pid: int, *, timeout: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL it if it is still there after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not group_alive(pid):
                _reap(pid)
                return
            time.sleep(0.05)
    _reap(pid)


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in group ``pgid`` (the one check every stopper here uses)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Members that are zombies do not count: they are gone, only their exit status remains.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    # If we are the parent (tests, reload), collect the exit status so no zombie lingers.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
