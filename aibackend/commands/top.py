"""``aibackend top``: a live terminal view of the gateway (Textual), refreshed every second.

Per model group: requests/s, errors, p50/p95 latency; requests in flight; each provider's health
and traffic. From the gateway's request log (``<config-dir>/.run/``, or ``--log``) and its
``/metrics/`` (with the master key from the environment).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "live terminal view of the gateway: per model group req/s, errors, p50/p95, in flight; provider health"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", metavar="URL",
                        help="the gateway (default: the one running from --config-dir, else gateway.yaml's address)")
    parser.add_argument("--log", type=Path, metavar="FILE",
                        help="the gateway's log (default: the running gateway's, from <config-dir>/.run/)")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="variable holding the master key for /metrics/ (default: gateway.yaml's, LITELLM_MASTER_KEY)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="refresh every S seconds (default 1)")


def _defaults(args: argparse.Namespace) -> tuple[str | None, Path | None, str]:
    """The gateway URL, its log and the key variable, from the flags, the run directory and gateway.yaml."""
    from aibackend.gateway.runtime import RuntimeDir
    from generator.errors import UsageError
    from generator.load import load_sources

    url, log, key_env = args.gateway, args.log, args.api_key_env
    if log is not None and not log.is_file():
        raise UsageError(f"--log {log}: no such file")
    config_dir: Path = args.config_dir
    state = RuntimeDir(config_dir).read_state() if (config_dir / ".run").is_dir() else None
    if state is not None:
        url = url or f"http://{'127.0.0.1' if state.host in ('0.0.0.0', '::', '') else state.host}:{state.port}"
        log = log or Path(state.active.log)
    loaded = load_sources(config_dir) if (config_dir / "providers.yaml").is_file() else None
    if loaded is not None and loaded.sources is not None:
        server = loaded.sources.gateway.server
        url = url or f"http://{'127.0.0.1' if server.host in ('0.0.0.0', '::', '') else server.host}:{server.port}"
        key_env = key_env or server.master_key_env
    if url is None:
        raise UsageError("no gateway to watch", hint="pass --gateway URL, or --config-dir DIR of a running gateway")
    return url, log, key_env or "LITELLM_MASTER_KEY"


def run(args: argparse.Namespace) -> int:
    from aibackend.extras import require

    require("textual", extra="dashboard")
    from aibackend.top.app import TopApp
    from aibackend.top.source import GatewaySource
    from generator.errors import UsageError

    if args.interval <= 0:
        raise UsageError(f"--interval must be > 0 (got {args.interval})")
    url, log, key_env = _defaults(args)
    import os

    # Rich/Textual take LINES/COLUMNS over the terminal's own size; a stale pair (tmux puts 80x24 in a
    # pane's environment whatever the pane's size) would draw a screen taller than the terminal.
    for variable in ("LINES", "COLUMNS"):
        os.environ.pop(variable, None)
    has_config = (args.config_dir / "providers.yaml").is_file()
    source = GatewaySource(gateway=url, log=log, config_dir=args.config_dir if has_config else None, key_env=key_env)
    try:
        TopApp(source, interval=args.interval).run()
    finally:
        source.close()
    return 0
