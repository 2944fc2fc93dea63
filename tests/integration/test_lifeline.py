"""``generator.lifeline``: what an owner starts dies with it, however it dies, and nothing else does.

Each test runs a real owner process (a small Python program) that starts children the ways the
project does -- from a thread, in their own session, with grandchildren -- and then dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import lifeline

pytestmark = [pytest.mark.integration]

OWNER = textwrap.dedent("""
    import subprocess, sys, threading, time
    from generator import lifeline
    lifeline.own_children(sys.argv[1])
    def start():
        # From a thread that then ends (PR_SET_PDEATHSIG would fire right here), each in its own session,
        # one with a grandchild of its own.
        subprocess.Popen(["sleep", "3001"], start_new_session=True)
        subprocess.Popen(["sh", "-c", "sleep 3002 & exec sleep 3003"], start_new_session=True)
    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    time.sleep(0.5)
    print(lifeline.own_children(sys.argv[1]).token, flush=True)
    if sys.argv[2] == "exit":
        sys.exit(0)
    time.sleep(600)
""")


def _sleepers() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd[0] == b"sleep" and len(cmd) > 1 and cmd[1] in (b"3001", b"3002", b"3003"):
                found[int(entry.name)] = cmd[1].decode()
    return found


def _wait_gone(token: str, timeout: float = 20) -> float:
    started = time.monotonic()
    while lifeline.carriers(token) and time.monotonic() - started < timeout:
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _start_owner(owner: list[subprocess.Popen[str]], kind: str, how: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", OWNER, kind, how], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    owner.append(process)
    assert process.stdout is not None
    token = process.stdout.readline().strip()
    assert token.startswith(f"{kind}.") and token.split(".")[2] == str(process.pid), token
    return process, token


def test_children_grandchildren_die_when_the_owner_is_sigkilled(owner: list[subprocess.Popen[str]]) -> None:
    process, token = _start_owner(owner, "lifetest", "stay")
    carried = lifeline.carriers(token)
    assert sorted(_sleepers().get(pid, "?") for pid in carried) == ["3001", "3002", "3003"]
    outsider = subprocess.Popen(["sleep", "3001"], start_new_session=True)  # ours, not the owner's
    try:
        process.send_signal(signal.SIGKILL)
        process.wait()
        took = _wait_gone(token)
        assert lifeline.carriers(token) == [] and not set(carried) & set(_sleepers())
        assert took < 5, f"took {took:.1f} s"
        assert outsider.poll() is None, "a process the owner did not start was stopped"
    finally:
        outsider.kill()
        outsider.wait()


def test_children_die_when_the_owner_just_exits(owner: list[subprocess.Popen[str]]) -> None:
    process, token = _start_owner(owner, "lifetest", "exit")
    assert process.wait(10) == 0
    _wait_gone(token)
    assert lifeline.carriers(token) == []


def test_an_owner_whose_warden_was_killed_too_leaves_orphans_the_next_run_stops(
        owner: list[subprocess.Popen[str]]) -> None:
    from aibackend.ops.demo import stop_leftovers

    process, token = _start_owner(owner, "demo", "stay")
    warden = [pid for pid in _pids_running("generator.lifeline") if token in _cmdline(pid)]
    assert len(warden) == 1
    os.kill(warden[0], signal.SIGKILL)  # the whole machine's processes killed at once, say
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(1)
    left = lifeline.orphans("demo").get(token, [])
    assert len(left) == 3, "with its warden gone, nothing stopped the orphans"
    said: list[str] = []
    stop_leftovers(Path("/nonexistent-workdir"), said.append)
    assert lifeline.carriers(token) == []
    assert said == [f"      stopped 3 process(es) left by an earlier demo that was killed (owner {token})"]


def test_owner_alive_judges_only_its_own_pid_namespace() -> None:
    me = lifeline.token_for("x", os.getpid())
    assert lifeline.owner_alive(me)
    kind, namespace, pid, started = me.split(".")
    assert not lifeline.owner_alive(f"{kind}.{namespace}.{pid}.{int(started) + 1}")  # pid reused
    assert lifeline.owner_alive(f"{kind}.999.{pid}.{int(started) + 1}")  # another namespace: not ours


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _pids_running(text: str) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and text in _cmdline(int(e.name))]
