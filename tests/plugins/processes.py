"""Fixtures' processes die with the test process, and children that tests signal get known dispositions.

``pytest_configure`` makes every pytest process (the xdist controller and each worker) an owner
(``generator.lifeline``): whatever a test or fixture starts -- simulators, redis-server, the gateway
through ``aibackend gateway start``, Locust -- carries its token and is stopped by its warden when
the process ends, however it ends (a crash, a runner's SIGKILL). Fixtures still stop what they
start; this is the backstop.

``signalable(argv)``: a test that sends a signal to a child must not depend on the dispositions
the test run inherited: a job started in the background by a script has SIGINT and SIGQUIT
*ignored*, and an ignored signal stays ignored across exec, so a child Python would never see
Ctrl-C. The child is started through a tiny shim that resets them to the default and execs the
real command (same pid, same session).
"""

from __future__ import annotations

import signal
import sys

import pytest

from aibackend.ops.interrupts import set_disposition_by_syscall
from generator import lifeline

__all__ = ["ignore_every_signal", "signalable"]

_SHIM = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def ignore_every_signal() -> None:
    """What the most careless parent leaves behind: every signal ignored, glibc's reserved 32 and 33
    too (set by the system call: glibc refuses them), and SIGUSR2 blocked. A CI runner did this."""
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
            signal.signal(number, signal.SIG_IGN)
    for number in (32, 33):
        set_disposition_by_syscall(number, 1)  # SIG_IGN is 1
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})


def signalable(argv: list[str]) -> list[str]:
    """``argv`` run with SIGINT/SIGTERM/SIGHUP/SIGQUIT at their defaults, whatever this process ignores."""
    return [sys.executable, "-c", _SHIM, *argv]


def pytest_configure(config: pytest.Config) -> None:
    lifeline.own_children("pytest")
