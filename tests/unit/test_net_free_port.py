"""free_port(): ports the kernel never hands out on its own, reserved across processes.

The CI failure this guards against: a port from ``bind(0)`` came from the ephemeral range; before
LiteLLM bound it (seconds later) another worker's socket took it, and the gateway died with
"address already in use".
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import net

pytestmark = [pytest.mark.unit]


@pytest.fixture(autouse=True)
def own_reservations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    return tmp_path / f"aibackend-ports-{os.getuid()}"


def _ephemeral_low() -> int:
    # The project runs on Linux (its set-up is Debian's): the range is always readable there, and
    # a machine where it is not takes the fallback tested below.
    low = net._ephemeral_low()
    assert low is not None and low - net.LOWEST_PORT >= 1000, low
    return low


def test_without_a_readable_ephemeral_range_the_kernel_picks_and_nothing_is_reserved(
    monkeypatch: pytest.MonkeyPatch, own_reservations: Path
) -> None:
    monkeypatch.setattr(net, "_ephemeral_low", lambda: None)
    port = net.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free, as promised
    assert not own_reservations.exists()


def test_ports_come_from_below_the_ephemeral_range_and_are_all_different() -> None:
    low = _ephemeral_low()
    ports = [net.free_port() for _ in range(300)]
    assert len(set(ports)) == 300
    assert all(net.LOWEST_PORT <= port < low for port in ports), sorted(ports)[:3] + sorted(ports)[-3:]


def test_a_reserved_port_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch, own_reservations: Path) -> None:
    _ephemeral_low()
    first = net.free_port()
    assert (own_reservations / str(first)).exists()
    second_choice = first + 1 if first + 1 < (net._ephemeral_low() or 0) else first - 1
    picks = iter([first, first, second_choice])
    monkeypatch.setattr(random, "randint", lambda _a, _b: next(picks))
    assert net.free_port() == second_choice


def test_an_expired_reservation_is_reused_and_old_ones_are_pruned(
    monkeypatch: pytest.MonkeyPatch, own_reservations: Path
) -> None:
    _ephemeral_low()
    first = net.free_port()
    expired = time.time() - net.RESERVATION_SECONDS - 1
    os.utime(own_reservations / str(first), (expired, expired))
    stale_other = own_reservations / "12345"
    stale_other.write_bytes(b"")
    os.utime(stale_other, (expired, expired))
    monkeypatch.setattr(random, "randint", lambda _a, _b: first)
    assert net.free_port() == first
    assert not stale_other.exists()
    assert time.time() - (own_reservations / str(first)).stat().st_mtime < 60


def test_a_port_someone_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    low = _ephemeral_low()
    with socket.socket() as taken:
        for candidate in range(net.LOWEST_PORT + 500, low):
            try:
                taken.bind(("127.0.0.1", candidate))
                break
            except OSError:
                continue
        taken.listen()
        busy = taken.getsockname()[1]
        free = net.free_port()  # a candidate that is really free, to be picked second
        picks = iter([busy, free + 1 if free + 1 < low else free - 1])
        monkeypatch.setattr(random, "randint", lambda _a, _b: next(picks))
        assert net.free_port() not in (busy, free)


def test_parallel_processes_never_get_the_same_port(tmp_path: Path) -> None:
    _ephemeral_low()
    script = (
        "import tempfile, sys; tempfile.tempdir = sys.argv[1]\n"
        "from generator.net import free_port\n"
        "print(' '.join(str(free_port()) for _ in range(100)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=60)[0].split() for worker in workers]
    ports = [int(port) for output in outputs for port in output]
    assert len(ports) == 300
    assert len(set(ports)) == 300
