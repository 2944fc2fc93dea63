"""Several "hosts" on one machine: network namespaces on a private bridge, made and removed by the test.

``lan(count)`` (a context manager) creates a Linux bridge in this namespace with the address
``10.X.Y.1/24`` (X, Y picked at random among subnets no interface uses) and ``count`` network
namespaces, each joined to the bridge by a veth pair and given ``10.X.Y.(2+i)``. A process run with
``host.run(argv)`` (``ip netns exec``) has that address as its only one besides loopback: what it
sends leaves through its veth and reaches the others, and this machine at ``lan.gateway``, through
the bridge. Everything is deleted on exit, whatever happened (deleting a namespace deletes its veth
end, which deletes the pair). Needs root (``ip netns``), as CI has; names carry a random suffix so
parallel runs on one machine never collide.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

__all__ = ["Host", "Lan", "lan"]


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str
    device: str

    def argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def tcp_bytes_sent(self) -> int:
        """Bytes its veth end sent, as its own namespace counts them (``ip netns exec`` mounts its /sys)."""
        path = f"/sys/class/net/{self.device}/statistics/tx_bytes"
        result = subprocess.run(self.argv(["cat", path]), capture_output=True, text=True, timeout=30, check=True)
        return int(result.stdout)


@dataclass
class Lan:
    bridge: str
    gateway: str
    hosts: list[Host] = field(default_factory=list)


def _free_subnet() -> tuple[int, int]:
    used = _ip("-o", "-4", "addr", "show")
    for _ in range(200):
        x, y = random.randint(100, 250), random.randint(0, 255)
        if f" 10.{x}.{y}." not in used:
            return x, y
    raise RuntimeError("no free 10.X.Y.0/24 subnet found")


@contextlib.contextmanager
def lan(count: int) -> Iterator[Lan]:
    if shutil.which("ip") is None:
        pytest.fail("iproute2 (ip) is not installed: install the Debian package iproute2")
    tag = secrets.token_hex(3)
    x, y = _free_subnet()
    bridge = f"aib{tag}"
    network = Lan(bridge=bridge, gateway=f"10.{x}.{y}.1")
    namespaces: list[str] = []
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{network.gateway}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i in range(count):
            namespace, outside, inside = f"aib-{tag}-{i}", f"aib{tag}o{i}", f"aib{tag}i{i}"
            _ip("netns", "add", namespace)
            namespaces.append(namespace)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("link", "set", outside, "master", bridge, "up")
            address = f"10.{x}.{y}.{2 + i}"
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
            _ip("-n", namespace, "link", "set", inside, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            network.hosts.append(Host(namespace=namespace, address=address, device=inside))
        yield network
    finally:
        for namespace in namespaces:
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", namespace)
        with contextlib.suppress(RuntimeError):
            _ip("link", "del", bridge)
