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

import sys

import pytest

from generator import lifeline

__all__ = ["signalable"]

_SHIM = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def signalable(argv: list[str]) -> list[str]:
    """``argv`` run with SIGINT/SIGTERM/SIGHUP/SIGQUIT at their defaults, whatever this process ignores."""
    return [sys.executable, "-c", _SHIM, *argv]


def pytest_configure(config: pytest.Config) -> None:
    lifeline.own_children("pytest")
