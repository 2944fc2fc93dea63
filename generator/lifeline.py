"""Processes die with their owner, however the owner dies (issue 17).

An *owner* is a process that starts servers for its own use and must leave none behind: the demo,
a test session (each pytest process), a test fixture. ``own_children(kind)`` makes the calling
process one:

- it adds its token (``kind.pidns.pid.starttime``) to ``AIBACKEND_OWNERS`` in its own
  environment, so every process it starts from then on, and everything those start in turn
  (LiteLLM's workers, Locust's workers, the simulators, redis-server, HAProxy), carries the token
  from its first instruction: nothing has to register, so there is no window in which a child is
  not yet owned;
- it starts a *warden*: a small process in its own session (so a Ctrl-C or a ``kill -- -PGID``
  aimed at the owner's group does not reach it) that waits for the owner to end, through a pidfd
  (the kernel tells it, whatever ended the owner: exit, an exception, SIGKILL from the OOM killer
  or a runner's hard timeout) and then stops every process still carrying the token: SIGTERM,
  then SIGKILL after ``GRACE_S``.

Why not ``PR_SET_PDEATHSIG``: it fires when the parent *thread* exits (the demo boots the gateway
from a thread that ends once it is ready), reaches only the direct child (not LiteLLM's or
Locust's own workers), and is lost by anything that daemonises. A pipe the child watches needs
the child's cooperation, which LiteLLM, redis-server and HAProxy do not give.

A program that rewrites its process title over its environment area loses the token:
redis-server does unless started with ``--set-proc-title no`` (the demo and the fixtures do).

What is *not* owned: ``aibackend gateway start`` run by an operator is a service, not a child: it
returns and the gateway keeps running. Its processes are named in its run directory
(``<config-dir>/.run``), where ``gateway stop`` and the next ``gateway start`` find them
(``aibackend.gateway.runtime``). Run by an owner (the demo, a test), the same processes carry the
owner's token and die with it.

``orphans(kind)`` finds processes whose owner of that kind has died (a warden that was killed
too, or a machine that was restarted half-way); the demo stops them before it starts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "OWNERS_ENV",
    "Lifeline",
    "carriers",
    "orphans",
    "own_children",
    "owner_alive",
    "stop_pids",
]

OWNERS_ENV = "AIBACKEND_OWNERS"
# How long a process gets to stop on SIGTERM before the warden sends SIGKILL.
GRACE_S = 10.0
_SEPARATOR = ","


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:[").rstrip("]")
    except OSError:
        return "0"


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name: [state, ppid, pgrp, ...]; None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of stat: start time in clock ticks since boot


def token_for(kind: str, pid: int) -> str:
    """The token of ``pid`` as an owner: stable for its whole life, never the same for another process."""
    started = _start_time(pid)
    if started is None:
        raise ProcessLookupError(pid)
    return f"{kind}.{_pid_namespace()}.{pid}.{started}"


@dataclass(frozen=True)
class _Token:
    kind: str
    namespace: str
    pid: int
    started: str

    @classmethod
    def parse(cls, text: str) -> _Token | None:
        parts = text.split(".")
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]), parts[3])


def owner_alive(token: str) -> bool:
    """False only when the owner is certainly gone (same pid namespace, pid free or reused)."""
    parsed = _Token.parse(token)
    if parsed is None or parsed.namespace != _pid_namespace():
        return True  # not ours to judge
    return _start_time(parsed.pid) == parsed.started


def _owners_of(pid: int) -> list[str]:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return []
    prefix = OWNERS_ENV.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return [t for t in entry[len(prefix):].decode(errors="replace").split(_SEPARATOR) if t]
    return []


def _pids() -> Iterable[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def carriers(token: str) -> list[int]:
    """Live processes started (directly or not) by the owner of ``token``."""
    me = os.getpid()
    return [pid for pid in _pids() if pid != me and token in _owners_of(pid) and _start_time(pid) is not None]


def orphans(kind: str) -> dict[str, list[int]]:
    """Processes whose owner of ``kind`` has died: dead owner's token -> its processes."""
    found: dict[str, list[int]] = {}
    me = os.getpid()
    for pid in _pids():
        if pid == me:
            continue
        for token in _owners_of(pid):
            if token.startswith(f"{kind}.") and not owner_alive(token) and _start_time(pid) is not None:
                found.setdefault(token, []).append(pid)
    return found


def stop_pids(pids: Iterable[int], *, grace: float = GRACE_S) -> None:
    """SIGTERM each process, SIGKILL what is left after ``grace`` seconds (start times guard pid reuse)."""
    targets = {pid: started for pid in pids if (started := _start_time(pid)) is not None}

    def alive() -> list[int]:
        return [pid for pid, started in targets.items() if _start_time(pid) == started]

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive() and time.monotonic() < deadline:
            for pid in alive():
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)  # our own children: reap, so they stop counting
            time.sleep(0.05)
        if not alive():
            return


def stop_carriers(token: str, *, grace: float = GRACE_S) -> int:
    """Stop everything carrying ``token``, again until nothing does (a dying parent may fork); the count."""
    stopped: set[int] = set()
    for _round in range(5):
        found = carriers(token)
        if not found:
            break
        stopped.update(found)
        stop_pids(found, grace=grace)
    return len(stopped)


@dataclass(frozen=True)
class Lifeline:
    """This process as an owner: its token and its warden."""

    token: str
    warden_pid: int


_current: Lifeline | None = None
# Kept so the warden's Popen is never garbage-collected while it runs (that warns "still running").
_warden_process: subprocess.Popen[bytes] | None = None


def own_children(kind: str) -> Lifeline:
    """From now on, everything this process starts dies when it dies (idempotent per process)."""
    global _current, _warden_process
    if _current is not None and _current.token.split(".")[2] == str(os.getpid()):
        return _current
    token = token_for(kind, os.getpid())
    inherited = os.environ.get(OWNERS_ENV, "")
    # The warden carries the outer owners' tokens (an outer warden may stop it) but never its own.
    warden = subprocess.Popen(
        [sys.executable, "-m", "generator.lifeline", str(os.getpid()), token],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, cwd="/",
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                       os.environ.get("PYTHONPATH")]))},
    )
    _warden_process = warden
    # The warden outlives this process by design (it acts when we are gone): at exit, its Popen is
    # not one to wait for, and must not warn "subprocess ... is still running" when collected.
    atexit.register(_leave_warden, warden)
    os.environ[OWNERS_ENV] = _SEPARATOR.join(filter(None, [inherited, token]))
    _current = Lifeline(token=token, warden_pid=warden.pid)
    return _current


def _leave_warden(warden: subprocess.Popen[bytes]) -> None:
    if warden.poll() is None:
        warden.returncode = 0  # not waited for: it is meant to run on after us


def _wait_for_exit(owner: int) -> None:
    try:
        pidfd = os.pidfd_open(owner)
    except (OSError, AttributeError):
        pidfd = None
    # We are the owner's child: while our parent is still the owner, the pidfd is the owner's.
    if os.getppid() != owner:
        return
    if pidfd is not None:
        select.select([pidfd], [], [])
        os.close(pidfd)
        return
    while os.getppid() == owner:  # no pidfd (kernel < 5.3): the owner's death reparents us
        time.sleep(0.2)


def _warden(argv: list[str]) -> int:
    owner, token = int(argv[0]), argv[1]
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    _wait_for_exit(owner)
    stop_carriers(token)
    return 0


if __name__ == "__main__":
    sys.exit(_warden(sys.argv[1:]))
