"""HAProxy in front of the gateway: the public port never changes hands.

Why HAProxy and its runtime API (and not a config reload, nginx, or socket hand-over):
LiteLLM cannot reload its config, so a change needs a second process. HAProxy owns the public
port for the whole life of the gateway; the LiteLLM instances are two server slots (``blue``,
``green``) of one backend on private ports. A reload points the idle slot at the new instance and
flips the two slots through the admin socket (``set server ... state ready|drain|maint``), which
is atomic inside HAProxy, needs no HAProxy reload (so no listener hand-over, no old-worker
lingering), and lets requests already on the old instance finish while new ones go to the new
one. The old instance is stopped only once HAProxy counts no session on it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aibackend.gateway.runtime import (
    SLOTS,
    FrontState,
    RuntimeDir,
    pid_matches,
    stop_process_group,
)
from generator.atomicfile import write_atomic
from generator.errors import GatewayError

__all__ = ["Front", "haproxy_available", "render_haproxy_config"]

BACKEND = "gateways"


def haproxy_available() -> str | None:
    return shutil.which("haproxy")


def render_haproxy_config(
    *, host: str, port: int, socket_path: Path, active_slot: str, slot_ports: dict[str, int]
) -> str:
    """The whole HAProxy config; rewritten at each switch so a restarted HAProxy serves the live slot."""
    lines = [
        "# written by aibackend gateway/reload: do not edit (rewritten at every switch)",
        "global",
        f"    stats socket {socket_path} mode 600 level admin",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        # LiteLLM answers slowly by design (long generations, fallbacks): generous client/server limits.
        "    timeout client 15m",
        "    timeout server 15m",
        "    timeout http-keep-alive 30s",
        "    timeout queue 30s",
        "    retries 3",
        "    option redispatch",
        # A request that could not even be delivered (the instance went away) is sent again.
        "    retry-on conn-failure empty-response",
        "",
        "frontend public",
        f"    bind {host}:{port}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
    ]
    for slot in SLOTS:
        slot_port = slot_ports.get(slot, 1)
        state = "" if slot == active_slot else " disabled"
        lines.append(f"    server {slot} 127.0.0.1:{slot_port}{state}")
    return "\n".join(lines) + "\n"


@dataclass
class Front:
    """A running HAProxy and its admin socket."""

    state: FrontState

    @classmethod
    def start(cls, run: RuntimeDir, *, host: str, port: int, active_slot: str, active_port: int) -> Front:
        binary = haproxy_available()
        if binary is None:
            raise GatewayError("haproxy is not installed", hint="run the set-up, or pass --front none")
        run.ensure()
        run.haproxy_socket.unlink(missing_ok=True)
        text = render_haproxy_config(
            host=host,
            port=port,
            socket_path=run.haproxy_socket,
            active_slot=active_slot,
            slot_ports={active_slot: active_port},
        )
        write_atomic(run.haproxy_config, text)
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
        if answer and not answer.startswith(("IP changed", "no need to change", "port changed")):
            raise GatewayError(f"HAProxy refused '{line}': {answer}")

    def point(self, slot: str, port: int) -> None:
        """Aim an idle slot at an instance's private port (it stays out of rotation)."""
        self._checked(f"set server {BACKEND}/{slot} state maint")
        self._checked(f"set server {BACKEND}/{slot} addr 127.0.0.1 port {port}")

    def switch(self, new_slot: str, old_slot: str) -> None:
        """Put ``new_slot`` in rotation and ``old_slot`` in drain: new requests go to the new slot only."""
        self._checked(f"set server {BACKEND}/{new_slot} state ready")
        self._checked(f"set server {BACKEND}/{old_slot} state drain")

    def retire(self, slot: str) -> None:
        self._checked(f"set server {BACKEND}/{slot} state maint")

    def sessions(self, slot: str) -> int:
        """Current sessions HAProxy holds on ``slot`` (requests still in flight there)."""
        csv = self.command("show stat -1 4 -1")
        header: list[str] = []
        for row in csv.splitlines():
            if row.startswith("# "):
                header = row[2:].split(",")
                continue
            cells = row.split(",")
            if header and len(cells) >= len(header) - 1 and cells[0] == BACKEND and cells[1] == slot:
                return int(cells[header.index("scur")] or 0)
        raise GatewayError(f"HAProxy does not know server {BACKEND}/{slot}")

    def wait_drained(self, slot: str, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sessions(slot) == 0:
                return True
            time.sleep(0.1)
        return False


    def save_config(self, run: RuntimeDir, *, host: str, port: int, active_slot: str, active_port: int) -> None:
        write_atomic(
            run.haproxy_config,
            render_haproxy_config(
                host=host,
                port=port,
                socket_path=Path(self.state.socket),
                active_slot=active_slot,
                slot_ports={active_slot: active_port},
            ),
        )
