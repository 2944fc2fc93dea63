"""HAProxy in front of the gateway: the public port never changes hands.

Why HAProxy and its runtime API (and not a config reload, nginx, or socket hand-over):
LiteLLM cannot reload its config, so a change needs new processes. HAProxy owns the public port
for the whole life of the gateway; the LiteLLM replicas are servers of one backend on private
ports, named ``<slot>-<i>`` (slot ``blue`` or ``green``: one generation of replicas each). A reload
adds the new generation's servers (``add server``, in maintenance), then flips the generations
through the admin socket (``set server ... state ready|drain|maint``): each change is atomic inside
HAProxy, needs no HAProxy reload (so no listener hand-over, no old-worker lingering), and lets
requests already on the old replicas finish while new ones go to the new. The old replicas are
stopped only once HAProxy counts no session on them.

Between reloads the replicas are balanced round-robin and health-checked (``/health/liveliness``
every 2 s; three failures take a replica out, one success puts it back), and a request that
could not be delivered -- the connection refused or closed before any answer, as when a replica
dies -- is sent again to another replica (``retry-on``, ``option redispatch 1``).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aibackend.gateway.runtime import (
    FrontState,
    Instance,
    RuntimeDir,
    pid_matches,
    stop_process_group,
)
from generator.atomicfile import write_atomic
from generator.errors import GatewayError

__all__ = ["Front", "haproxy_available", "plain_status", "render_haproxy_config"]

BACKEND = "gateways"


def haproxy_available() -> str | None:
    return shutil.which("haproxy")


# How HAProxy checks a replica: LiteLLM's liveliness endpoint needs no key and touches no backend.
# A dead replica refuses the check's connection at once (three refusals, ~6 s, take it out; requests
# meanwhile are redispatched); a busy one is slow, not dead: one LiteLLM process saturated on a
# loaded 2-core machine took over 5 s to answer, so a short check timeout marked every replica DOWN
# and HAProxy answered 503 to all (seen in tests/rollback/test_reload.py), hence `timeout check 30s`.
HEALTH_CHECK = "check inter 2s fall 3 rise 1"


_TRANSITIONAL = re.compile(r"^(?P<state>UP|DOWN|NOLB|DRAIN) (?P<done>\d+)/(?P<needed>\d+)$")


def plain_status(status: str) -> str:
    """HAProxy's status of a server in words an operator reads without HAProxy's manual.

    HAProxy (src/stats.c, srv_hlt_st) prints a server between two states as ``STATE a/b``: going down
    (``UP``, ``NOLB``, ``DRAIN``), ``a`` is the checks it may still fail of ``fall`` (``UP 1/3``: two
    failed in a row, DOWN at the next failure); going up (``DOWN``), ``a`` checks passed of ``rise``.
    """
    match = _TRANSITIONAL.match(status.strip())
    if match is None:
        return status
    state, done, needed = match["state"], int(match["done"]), int(match["needed"])
    if state == "DOWN":
        return f"DOWN, {done} of {needed} checks passed, UP after {needed - done} more ({status})"
    failed = needed - done
    failures = "1 check failed" if failed == 1 else f"{failed} checks failed in a row"
    return f"{state}, {failures}, DOWN after {done} more failed ({status})"


def server_line(name: str, port: int, *, enabled: bool = True) -> str:
    return f"server {name} 127.0.0.1:{port} {HEALTH_CHECK}" + ("" if enabled else " disabled")


def render_haproxy_config(*, host: str, port: int, socket_path: Path, servers: list[tuple[str, int]]) -> str:
    """The whole HAProxy config; rewritten at each switch so a restarted HAProxy serves the live replicas."""
    lines = [
        "# written by aibackend gateway/reload: do not edit (rewritten at every switch)",
        "global",
        f"    stats socket {socket_path} mode 600 level admin",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        # Stream every chunk as it comes. By default HAProxy sends with MSG_MORE, expecting more
        # data, and the kernel then holds a small write up to ~200 ms: each streamed answer's first
        # token arrived 200-235 ms late through the front (benchmarks/bench_gateway_overhead.py,
        # tests/integration/test_front_streaming.py). This option sets TCP_NODELAY on both sides
        # and drops MSG_MORE (HAProxy's configuration manual, "option http-no-delay").
        "    option http-no-delay",
        "    timeout connect 2s",
        # LiteLLM answers slowly by design (long generations, fallbacks): generous client/server limits.
        "    timeout client 15m",
        "    timeout server 15m",
        "    timeout http-keep-alive 30s",
        "    timeout queue 30s",
        "    timeout check 30s",
        "    retries 3",
        # Every retry goes to another replica: a dead one is not tried again and again.
        "    option redispatch 1",
        # A request that could not even be delivered, or got no answer at all (the replica went
        # away), is sent again.
        "    retry-on conn-failure empty-response junk-response",
        "",
        "frontend public",
        f"    bind {host}:{port}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance roundrobin",
        "    option httpchk GET /health/liveliness",
        "    http-check expect status 200",
    ]
    lines += [f"    {server_line(name, server_port)}" for name, server_port in servers]
    return "\n".join(lines) + "\n"


@dataclass
class Front:
    """A running HAProxy and its admin socket."""

    state: FrontState

    @classmethod
    def start(cls, run: RuntimeDir, *, host: str, port: int, replicas: tuple[Instance, ...]) -> Front:
        binary = haproxy_available()
        if binary is None:
            raise GatewayError("haproxy is not installed", hint="run the set-up, or pass --front none")
        run.ensure()
        run.haproxy_socket.unlink(missing_ok=True)
        cls.save_config(run, host=host, port=port, replicas=replicas)
        check = subprocess.run([binary, "-c", "-q", "-f", str(run.haproxy_config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise GatewayError(f"HAProxy rejected {run.haproxy_config}: {check.stderr.strip() or check.stdout.strip()}")
        with open(run.haproxy_log, "ab") as log:
            process = subprocess.Popen(
                [binary, "-db", "-f", str(run.haproxy_config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        front = cls(
            FrontState(pid=process.pid, config=str(run.haproxy_config), socket=str(run.haproxy_socket), log=str(run.haproxy_log))
        )
        # For a service manager (deploy systemd: PIDFile=): the front is the gateway's main process.
        write_atomic(run.haproxy_pid, f"{process.pid}\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = run.haproxy_log.read_text(errors="replace").splitlines()[-10:]
                raise GatewayError(
                    f"HAProxy exited with status {process.returncode} (port {host}:{port}):\n" + "\n".join(tail),
                    hint="is the public port already taken by another program?",
                )
            if run.haproxy_socket.exists():
                try:
                    front.command("show info")
                    return front
                except OSError:
                    pass
            time.sleep(0.05)
        stop_process_group(process.pid)
        raise GatewayError("HAProxy did not open its admin socket within 10 s", hint=f"see {run.haproxy_log}")

    def alive(self) -> bool:
        return pid_matches(self.state.pid, "haproxy", self.state.config)

    def stop(self) -> None:
        if self.alive():
            stop_process_group(self.state.pid, timeout=5)
        Path(self.state.socket).unlink(missing_ok=True)
        (Path(self.state.config).parent / "haproxy.pid").unlink(missing_ok=True)

    def command(self, line: str) -> str:
        """One runtime-API command over the admin socket; returns HAProxy's answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(self.state.socket)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def _checked(self, line: str) -> None:
        answer = self.command(line).strip()
        # Successful state/addr commands answer nothing or a short confirmation.
        if answer and not answer.startswith(
            ("IP changed", "no need to change", "port changed", "New server registered", "Server deleted")
        ):
            raise GatewayError(f"HAProxy refused '{line}': {answer}")

    def servers(self) -> set[str]:
        """The servers the backend has now (the config's and those added at run time)."""
        return set(self._stat_rows())

    def add(self, replicas: tuple[Instance, ...]) -> None:
        """Register a new generation's replicas, health-checked and out of rotation (maint)."""
        existing = self.servers()
        for replica in replicas:
            if replica.server in existing:
                # Left by an interrupted reload, or an older generation of this slot: replace it.
                self.remove(replica.server)
            self._checked(f"add server {BACKEND}/{replica.server} 127.0.0.1:{replica.port} {HEALTH_CHECK}")
            self._checked(f"enable health {BACKEND}/{replica.server}")

    def switch(self, new: tuple[Instance, ...], old: tuple[Instance, ...]) -> None:
        """The new generation in rotation, then the old one in drain: new requests go to the new only."""
        for replica in new:
            # Checks do not run in maintenance, so a fresh server would start DOWN until its first
            # check a second later: with the old generation in drain, HAProxy would answer 503 then.
            # The gate has just proven it healthy; the checks take over from here.
            self._checked(f"set server {BACKEND}/{replica.server} health up")
            self._checked(f"set server {BACKEND}/{replica.server} state ready")
        for replica in old:
            self._checked(f"set server {BACKEND}/{replica.server} state drain")

    def retire(self, server: str) -> None:
        self._checked(f"set server {BACKEND}/{server} state maint")

    def remove(self, server: str) -> None:
        """Out of rotation and deleted; one with connections still attached stays, in maintenance."""
        self.retire(server)
        answer = self.command(f"del server {BACKEND}/{server}").strip()
        if answer and answer != "Server deleted." and "still has" not in answer:
            raise GatewayError(f"HAProxy refused 'del server {BACKEND}/{server}': {answer}")

    def _stat_rows(self) -> dict[str, dict[str, str]]:
        csv = self.command("show stat -1 4 -1")
        header: list[str] = []
        rows: dict[str, dict[str, str]] = {}
        for row in csv.splitlines():
            if row.startswith("# "):
                header = row[2:].split(",")
                continue
            cells = row.split(",")
            if header and len(cells) >= len(header) - 1 and cells[0] == BACKEND:
                rows[cells[1]] = dict(zip(header, cells, strict=False))
        return rows

    def sessions(self, server: str) -> int:
        """Current sessions HAProxy holds on ``server`` (requests still in flight there)."""
        row = self._stat_rows().get(server)
        if row is None:
            raise GatewayError(f"HAProxy does not know server {BACKEND}/{server}")
        return int(row.get("scur") or 0)

    def health(self) -> dict[str, str]:
        """Each server's status as HAProxy sees it: UP, DOWN, MAINT, DRAIN, ..."""
        return {name: row.get("status", "") for name, row in self._stat_rows().items()}

    def wait_drained(self, server: str, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sessions(server) == 0:
                return True
            time.sleep(0.1)
        return False

    @staticmethod
    def save_config(run: RuntimeDir, *, host: str, port: int, replicas: tuple[Instance, ...]) -> None:
        write_atomic(
            run.haproxy_config,
            render_haproxy_config(
                host=host,
                port=port,
                socket_path=run.haproxy_socket,
                servers=[(replica.server, replica.port) for replica in replicas],
            ),
        )
