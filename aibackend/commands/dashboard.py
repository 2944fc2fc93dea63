"""``aibackend dashboard``: the web dashboard (providers and routing, runs, one run, two runs, trends).

Read-only; binds 127.0.0.1 unless ``--host`` says otherwise (and then warns). Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse

HELP = "web dashboard: providers, routing and gateway; the recorded runs, their charts, comparisons and trends"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aibackend.dashboard import DEFAULT_HOST, DEFAULT_PORT
    from aibackend.results.options import add_store_path_argument

    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    add_store_path_argument(parser)


def run(args: argparse.Namespace) -> int:
    from aibackend.extras import require

    require("flask", extra="dashboard")
    from aibackend.dashboard.serve import start_dashboard
    from aibackend.results.options import store_path
    from aibackend.results.store import open_store
    from generator.errors import UsageError

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0-65535")
    store = store_path(args)
    open_store(store, create=False).close()  # a store that is not one is refused now, not on the first page
    dashboard = start_dashboard(store, args.config_dir, host=args.host, port=args.port,
                                say=lambda text: print(text, flush=True))
    _stop_on_signals()
    print(f"dashboard: {dashboard.url}  (store {store}, config {args.config_dir}; Ctrl-C stops it)", flush=True)
    try:
        dashboard.serve_forever()  # werkzeug's: returns on Ctrl-C (and on our SIGTERM/SIGHUP)
    finally:
        dashboard.server.server_close()
    print("dashboard stopped", flush=True)
    return 0


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop it like Ctrl-C, whatever dispositions this process inherited."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
