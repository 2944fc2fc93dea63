"""The port registry: which local port each component of the stack uses, and who holds it now.

Entries come from the sources: every provider (active or not), the gateway, Redis (when the cache
uses it) and, when metrics are on, the Prometheus server (``monitoring.grafana_datasource_url``,
default 127.0.0.1:9090) and the Redis exporter (``monitoring.redis_exporter``, default :9121). Two problems are
reported:

- **conflict**: two active entries on the same host and port (they cannot both listen there);
- **taken**: a local port an entry needs is held by a process that is not what the entry expects
  (an Ollama port held by something that is not Ollama or a simulator of it).

Listening sockets are read from ``/proc/net/tcp`` and ``/proc/net/tcp6``; their owning process is
found by matching the socket inode against ``/proc/<pid>/fd/*`` (readable for all processes as
root, for one's own otherwise: an unreadable owner is reported as unknown, not guessed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from generator.load import Sources

__all__ = [
    "Listener",
    "PortEntry",
    "PortReport",
    "expected_process",
    "find_listeners",
    "parse_proc_net_tcp",
    "port_entries",
    "registry_report",
]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", ""}
PROMETHEUS_PORT = 9090
LISTEN = "0A"

# What a process holding an entry's port may be, by words in its name or command line.
EXPECTED: dict[str, tuple[str, ...]] = {
    "ollama": ("ollama", "contracts.simulators", "simulate"),
    "vllm": ("vllm", "contracts.simulators", "simulate"),
    "llama_cpp": ("llama-server", "llama_cpp", "llama.cpp", "contracts.simulators", "simulate"),
    "llama_cpp_python": ("llama_cpp", "llama-cpp", "contracts.simulators", "simulate"),
    "openai": ("contracts.simulators", "simulate", "vllm", "llama", "openai", "uvicorn"),
    "anthropic": (),
    "gateway": ("litellm", "haproxy"),
    "redis": ("redis-server", "redis"),
    "prometheus": ("prometheus",),
    "redis_exporter": ("redis_exporter", "redis-exporter"),
}


@dataclass(frozen=True)
class PortEntry:
    name: str  # provider name, "gateway", "redis", "prometheus"
    role: str  # "provider", "gateway", "cache", "metrics"
    kind: str  # key of EXPECTED: provider type, or the role's component
    host: str
    port: int
    active: bool
    source: str  # where it is configured: "providers.yaml providers.NAME.base_url"

    @property
    def local(self) -> bool:
        return self.host in LOCAL_HOSTS


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    inode: int
    pid: int | None = None
    process: str | None = None  # comm name
    cmdline: str | None = None

    def describe(self) -> str:
        if self.pid is None:
            return "an unidentified process (its owner is not readable)"
        return f"{self.process} (pid {self.pid})"


@dataclass
class PortReport:
    entries: list[PortEntry]
    listeners: dict[int, list[Listener]]
    conflicts: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    holders: dict[str, str] = field(default_factory=dict)  # entry name -> what listens there now

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.taken

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": [
                {"name": e.name, "role": e.role, "kind": e.kind, "host": e.host, "port": e.port,
                 "active": e.active, "source": e.source, "listening": self.holders.get(e.name)}
                for e in self.entries
            ],
            "conflicts": self.conflicts,
            "taken": self.taken,
        }


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return (parts.hostname or ""), (parts.port or (443 if parts.scheme == "https" else 80))


def port_entries(sources: Sources) -> list[PortEntry]:
    entries: list[PortEntry] = []
    for name, provider in sources.providers.providers.items():
        host, port = _host_port(provider.base_url)
        entries.append(PortEntry(name, "provider", provider.type, host, port, provider.is_active,
                                 f"providers.yaml providers.{name}.base_url"))
    server = sources.gateway.server
    entries.append(PortEntry("gateway", "gateway", "gateway", server.host, server.port, True,
                             "gateway.yaml server.port"))
    cache = sources.gateway.cache
    if cache.enabled and cache.type == "redis":
        entries.append(PortEntry("redis", "cache", "redis", cache.host, cache.port, True, "gateway.yaml cache.port"))
    if sources.gateway.observability.prometheus:
        monitoring = sources.gateway.monitoring
        # The Prometheus server is where Grafana's datasource points (default 127.0.0.1:9090).
        host, port = _host_port(monitoring.grafana_datasource_url)
        entries.append(PortEntry("prometheus", "metrics", "prometheus", host, port or PROMETHEUS_PORT, True,
                                 "gateway.yaml monitoring.grafana_datasource_url"))
        if monitoring.redis_exporter and cache.enabled and cache.type == "redis":
            host, port = _host_port(f"http://{monitoring.redis_exporter}")
            entries.append(PortEntry("redis-exporter", "metrics", "redis_exporter", host, port, True,
                                     "gateway.yaml monitoring.redis_exporter"))
    return entries


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    # IPv6: four little-endian 32-bit words.
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    full = b"".join(words)
    if full == bytes(16):
        return "::"
    if full[:12] == bytes(10) + b"\xff\xff":
        return ".".join(str(b) for b in full[12:])  # IPv4-mapped
    if full == bytes(15) + b"\x01":
        return "::1"
    return ":".join(full[i:i + 2].hex() for i in range(0, 16, 2))


def parse_proc_net_tcp(text: str) -> list[Listener]:
    """The LISTEN sockets of a ``/proc/net/tcp`` or ``tcp6`` table (malformed lines skipped)."""
    listeners = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        try:
            address, port_hex = fields[1].split(":")
            listeners.append(Listener(_decode_address(address), int(port_hex, 16), int(fields[9])))
        except ValueError:
            continue
    return listeners


def _socket_owners(inodes: set[int], proc: Path) -> dict[int, int]:
    owners: dict[int, int] = {}
    if not inodes:
        return owners
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in inodes and inode not in owners:
                    owners[inode] = int(entry.name)
    return owners


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def find_listeners(proc: Path = Path("/proc")) -> dict[int, list[Listener]]:
    """Port -> the processes listening on it (TCP, IPv4 and IPv6)."""
    found: list[Listener] = []
    for table in ("net/tcp", "net/tcp6"):
        text = _read(proc / table)
        if text:
            found.extend(parse_proc_net_tcp(text))
    owners = _socket_owners({listener.inode for listener in found}, proc)
    by_port: dict[int, list[Listener]] = {}
    for listener in found:
        pid = owners.get(listener.inode)
        if pid is not None:
            comm = (_read(proc / str(pid) / "comm") or "?").strip()
            cmdline = (_read(proc / str(pid) / "cmdline") or "").replace("\0", " ").strip()
            listener = Listener(listener.address, listener.port, listener.inode, pid, comm, cmdline)
        by_port.setdefault(listener.port, []).append(listener)
    return by_port


def expected_process(entry: PortEntry, listener: Listener) -> bool | None:
    """Whether ``listener`` is what ``entry`` expects there (None: its owner cannot be read)."""
    if listener.pid is None:
        return None
    haystack = f"{listener.process or ''} {listener.cmdline or ''}".lower()
    return any(word in haystack for word in EXPECTED.get(entry.kind, ()))


def _same_endpoint(a: PortEntry, b: PortEntry) -> bool:
    if a.port != b.port:
        return False
    return a.host == b.host or (a.local and b.local)


def _binds(listener: Listener, entry: PortEntry) -> bool:
    return listener.address in ("0.0.0.0", "::") or entry.host in ("0.0.0.0", "::", "") or (
        listener.address in ("127.0.0.1", "::1") and entry.host in ("127.0.0.1", "localhost", "::1")
    ) or listener.address == entry.host


def registry_report(entries: Sequence[PortEntry], listeners: dict[int, list[Listener]]) -> PortReport:
    report = PortReport(list(entries), listeners)
    active = [e for e in entries if e.active]
    for i, first in enumerate(active):
        for second in active[i + 1:]:
            if _same_endpoint(first, second):
                report.conflicts.append(
                    f"{first.name} and {second.name} both use {first.host}:{first.port} "
                    f"({first.source}; {second.source})"
                )
    for entry in entries:
        if not entry.local:
            continue
        holders = [listener for listener in listeners.get(entry.port, []) if _binds(listener, entry)]
        if not holders:
            continue
        holder = holders[0]
        report.holders[entry.name] = holder.describe()
        verdict = expected_process(entry, holder)
        if verdict is False and entry.active:
            report.taken.append(
                f"port {entry.port} of {entry.name} ({entry.source}) is taken by {holder.describe()}: "
                f"`{_clip(holder.cmdline or '')}`"
            )
    return report


def _clip(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
