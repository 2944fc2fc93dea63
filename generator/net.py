"""Small networking helpers shared by the CLI, the fixtures and the simulators."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_port", "port_is_open", "wait_for_http"]

# A port handed out stays reserved this long, across processes: long enough for the slowest
# start (LiteLLM under a loaded CI machine) and a test module's restarts on the same port.
RESERVATION_SECONDS = 30 * 60
# Ports below this are left alone (well-known and registered services people run).
LOWEST_PORT = 10000


def _ephemeral_low() -> int | None:
    """Where the kernel's ephemeral range starts (None when it cannot be read)."""
    try:
        low, _high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low)
    except (OSError, ValueError):
        return None


def _reservations() -> Path:
    directory = Path(tempfile.gettempdir()) / f"aibackend-ports-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    return directory


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _kernel_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now and will not be handed to anyone else soon.

    Why not simply bind port 0: the kernel takes such ports from its ephemeral range, the same
    range it uses for every outgoing connection's source port and for every other ``bind(0)``.
    Between this function returning and the real server binding (seconds, for LiteLLM), a
    parallel test worker's simulator or a load test's client socket could take the very same
    port, and the server then fails with "address already in use". So the port comes from below
    the ephemeral range (where the kernel never picks on its own) and is reserved in a small
    file under the temp directory, under a lock, so parallel processes never pick the same one.
    """
    low = _ephemeral_low()
    if low is None or low - LOWEST_PORT < 1000:
        return _kernel_port(host)
    directory = _reservations()
    now = time.time()
    with _locked(directory):
        for _ in range(200):
            port = random.randint(LOWEST_PORT, low - 1)
            reservation = directory / str(port)
            with contextlib.suppress(FileNotFoundError):
                if now - reservation.stat().st_mtime < RESERVATION_SECONDS:
                    continue
            if not _bindable(host, port):
                continue
            reservation.write_bytes(b"")  # its mtime is the reservation's start
            _prune(directory, now)
            return port
    return _kernel_port(host)


def _prune(directory: Path, now: float) -> None:
    """Forget reservations that have expired, so the directory stays small."""
    for entry in directory.iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and now - entry.stat().st_mtime >= RESERVATION_SECONDS:
                entry.unlink()


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_http(url: str, *, timeout: float = 30.0, expect_status: int = 200, interval: float = 0.05) -> bool:
    """Poll ``url`` until it answers ``expect_status`` or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == expect_status:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code == expect_status:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(interval)
    return False
