"""SIGTERM and SIGHUP unwind a command like Ctrl-C, whatever dispositions it inherited.

A command that starts processes stops them in a ``finally``/``except BaseException``; a signal with
its default disposition would end the command before that runs and leave them behind. SIGINT is set
here too: a command started in the background of a script inherits it ignored.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["SIGNALS", "default_dispositions", "set_disposition_by_syscall", "signals_handled",
           "terminate_as_interrupt"]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
Handler = Callable[[int, FrameType | None], None]


@contextlib.contextmanager
def signals_handled(handler: Handler) -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP call ``handler`` (main thread only: elsewhere
    Python cannot set handlers); the earlier handlers are back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with signals_handled(handler):
        yield


class _KernelSigaction(ctypes.Structure):
    """The kernel's ``struct sigaction`` on x86-64 and arm64 (handler, flags, restorer, 64-bit mask)."""

    _fields_ = [("handler", ctypes.c_void_p), ("flags", ctypes.c_ulong),
                ("restorer", ctypes.c_void_p), ("mask", ctypes.c_uint64)]


# rt_sigaction's number per machine. glibc refuses to touch its reserved signals (32 and 33, which
# Python's signal module leaves out of valid_signals()), yet an ignored disposition of theirs is
# inherited through fork and exec like any other: only the system call itself can reset them.
_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}.get(os.uname().machine)
_LIBC = ctypes.CDLL(None, use_errno=True) if _RT_SIGACTION is not None else None
_DEFAULT_ACTION = _KernelSigaction(0, 0, None, 0)  # SIG_DFL is 0; built before any fork
_VALID = frozenset(signal.valid_signals())


def set_disposition_by_syscall(number: int, handler: int) -> None:
    """Set signal ``number`` to SIG_DFL (0) or SIG_IGN (1) by the system call, reserved ones too."""
    if _LIBC is None or _RT_SIGACTION is None:
        raise OSError(f"rt_sigaction's number on {os.uname().machine} is not known here")
    action = _DEFAULT_ACTION if handler == 0 else _KernelSigaction(handler, 0, None, 0)
    if _LIBC.syscall(ctypes.c_long(_RT_SIGACTION), ctypes.c_long(number), ctypes.byref(action), None,
                     ctypes.c_long(8)) != 0:
        raise OSError(ctypes.get_errno(), f"rt_sigaction({number})")


def _reset_reserved_signals() -> None:
    for number in range(1, signal.NSIG):
        if number not in _VALID and number not in (signal.SIGKILL, signal.SIGSTOP):
            with contextlib.suppress(OSError):
                set_disposition_by_syscall(number, 0)


def default_dispositions() -> None:
    """For a child before exec: every signal's disposition back to default, nothing blocked.

    An ignored signal survives exec, so a server started by a parent that ignores SIGTERM (``nohup``,
    a CI runner) would ignore it too, and a blocked one would never arrive.
    """
    for number in _VALID:
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(number, signal.SIG_DFL)
    _reset_reserved_signals()
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
