"""``aibackend health``: probe every active provider's health endpoint and the gateway's readiness."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aibackend.ops.health import HealthResult

HELP = "probe every active provider and the gateway (latency, loading state); exit 1 when any is down"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--watch", nargs="?", type=float, const=5.0, default=None, metavar="S",
                        help="probe again every S seconds (default 5) until Ctrl-C")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="S", help="per-probe timeout (default 3 s)")
    parser.add_argument("--no-gateway", action="store_true", help="probe the providers only")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="variable holding the gateway key (default: server.master_key_env of gateway.yaml)")


def render_table(results: Sequence[HealthResult]) -> str:
    rows = [("NAME", "TYPE", "STATE", "LATENCY", "URL", "DETAIL")]
    for r in results:
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.1f} ms"
        rows.append((r.target.name, r.target.type, r.state, latency, r.target.url, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def summary(results: Sequence[HealthResult]) -> str:
    down = [r.target.name for r in results if not r.healthy]
    if not down:
        return f"all {len(results)} healthy"
    return f"{len(down)} of {len(results)} not healthy: {', '.join(down)}"


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from aibackend.commands._operator import read_sources
    from aibackend.ops.health import check_all, gateway_target, provider_targets
    from generator.errors import UsageError

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be greater than 0, got {args.timeout:g}")
    if args.watch is not None and args.watch <= 0:
        raise UsageError(f"--watch interval must be greater than 0, got {args.watch:g}")
    sources = read_sources(args.config_dir)
    targets = provider_targets(sources)
    if not args.no_gateway:
        gateway = gateway_target(sources)
        targets.append(replace(gateway, api_key_env=args.api_key_env or gateway.api_key_env))
    if not targets:
        print("no active provider in the registry and --no-gateway given: nothing to probe", file=sys.stderr)
        return 0
    while True:
        results = check_all(targets, timeout=args.timeout)
        healthy = all(r.healthy for r in results)
        if args.json:
            print(json.dumps({"healthy": healthy, "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "results": [r.to_json() for r in results]}, indent=None if args.watch else 2),
                  flush=True)
        else:
            if args.watch is not None:
                print(f"-- {time.strftime('%H:%M:%S')}")
            print(render_table(results))
            print(summary(results), flush=True)
        if args.watch is None:
            return 0 if healthy else 1
        time.sleep(args.watch)
