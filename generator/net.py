"""Small networking helpers shared by the CLI, the fixtures and the simulators."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

__all__ = ["free_port", "port_is_open", "wait_for_http"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel picks it, so parallel workers differ)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
