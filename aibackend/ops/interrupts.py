"""SIGTERM and SIGHUP unwind a command like Ctrl-C, whatever dispositions it inherited.

A command that starts processes stops them in a ``finally``/``except BaseException``; a signal with
its default disposition would end the command before that runs and leave them behind. SIGINT is set
here too: a command started in the background of a script inherits it ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["SIGNALS", "signals_handled", "terminate_as_interrupt"]

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
