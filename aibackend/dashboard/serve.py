"""Serving the dashboard: werkzeug's threaded server, on 127.0.0.1 unless told otherwise.

Binding any other address is allowed (an operator may want the dashboard on a private network)
but warned about: the dashboard has no login, and shows the providers, routing and results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server

from aibackend.dashboard import DEFAULT_HOST, DEFAULT_PORT
from aibackend.dashboard.app import LOOPBACK_NAMES, create_app
from generator.errors import UsageError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Dashboard", "start_dashboard"]


@dataclass
class Dashboard:
    server: BaseWSGIServer
    url: str
    thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def start_dashboard(store: Path, config_dir: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                    background: bool = False, say: Callable[[str], None] = print) -> Dashboard:
    """Bind (a taken port is a clear error), and with ``background`` serve on a daemon thread."""
    loopback = is_loopback(host)
    if not loopback:
        say(f"warning: the dashboard listens on {host}, beyond this machine: it has no login and shows "
            "the providers, routing and every recorded run (use the default --host 127.0.0.1 to keep it local)")
    app = create_app(store, config_dir, loopback_only=loopback)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="pass --port N (another port), or stop what listens there") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    dashboard = Dashboard(server, f"http://{shown}:{server.server_port}/")
    if background:
        dashboard.thread = threading.Thread(target=dashboard.serve_forever, name="dashboard", daemon=True)
        dashboard.thread.start()
    return dashboard
