"""``aibackend wait-for NAME|URL --timeout S``: block until a provider, the gateway or a URL is healthy.

For start-up ordering (compose files, CI, systemd ``ExecStartPre``): exit 0 as soon as the target
is healthy, exit 1 after ``--timeout`` seconds with the last error seen.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aibackend.ops.health import Target

HELP = "wait until a provider (by name), the gateway or a URL is healthy; exit 1 on timeout with the last error"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="NAME|URL",
                        help="a provider name from providers.yaml, `gateway`, or an http(s) URL (healthy = 200)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds (default 60)")
    parser.add_argument("--interval", type=float, default=0.5, metavar="S", help="between attempts (default 0.5 s)")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def resolve(spec: str, args: argparse.Namespace) -> Target:
    from urllib.parse import urlsplit

    from aibackend.commands._operator import read_sources
    from aibackend.ops.health import Target, gateway_target, provider_targets
    from generator.errors import UsageError
    from generator.load import suggest

    if "://" in spec:
        parts = urlsplit(spec)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{spec!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:8000/health")
        return Target(spec, "url", "http", spec)
    sources = read_sources(args.config_dir)
    if spec == "gateway":
        return gateway_target(sources)
    providers = sources.providers.providers
    if spec not in providers:
        close = suggest(spec, [*providers, "gateway"])
        raise UsageError(
            f"unknown target {spec!r}: not a provider in {sources.files['providers']}, `gateway` or a URL",
            hint=f"did you mean {close!r}?" if close else f"providers: {', '.join(providers)}",
        )
    if not providers[spec].is_active:
        raise UsageError(
            f"provider {spec!r} has status {providers[spec].status}: it is not served, so there is nothing to wait for",
            hint="set status: active in providers.yaml, or wait for its URL instead",
        )
    return next(t for t in provider_targets(sources) if t.name == spec)


def run(args: argparse.Namespace) -> int:
    import httpx

    from aibackend.ops.health import probe
    from generator.errors import UsageError

    if args.timeout <= 0 or args.interval <= 0:
        raise UsageError("--timeout and --interval must be greater than 0")
    target = resolve(args.target, args)
    started = time.monotonic()
    deadline = started + args.timeout
    last = "no attempt made"
    attempts = 0
    with httpx.Client() as client:
        while True:
            attempts += 1
            remaining = max(0.1, deadline - time.monotonic())
            result = probe(target, client, timeout=min(3.0, remaining))
            if result.healthy:
                if not args.quiet:
                    print(f"{target.name} is healthy ({target.url}) after {time.monotonic() - started:.1f} s, "
                          f"{attempts} attempt(s)")
                return 0
            last = f"{result.state}: {result.detail}"
            if time.monotonic() + args.interval > deadline:
                break
            time.sleep(args.interval)
    print(f"wait-for: {target.name} not healthy after {args.timeout:g} s ({attempts} attempts); "
          f"last error: {last} ({target.url})", file=sys.stderr)
    return 1
