"""``aibackend requests tail|analyze``: follow and summarise the gateway's JSON request log."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

HELP = "follow (tail) or summarise (analyze) the gateway's JSON request log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    tail = sub.add_parser("tail", help="print the requests of the gateway log: time, group, backend, status, "
                                       "latency, tokens")
    analyze = sub.add_parser("analyze", help="per model group and backend: count, errors, latency percentiles, "
                                             "fallbacks taken")
    for each in (tail, analyze):
        each.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                          help="config directory of the running gateway (default: config/)")
        each.add_argument("--log", type=Path, metavar="FILE",
                          help="the log file (default: the running gateway's, from <config-dir>/.run/gateway.json)")
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new requests until Ctrl-C")
    tail.add_argument("-n", "--lines", type=int, default=20, metavar="N",
                      help="requests already in the log to show first (default 20; 0: none)")
    analyze.add_argument("--since", metavar="DURATION", help="only requests of the last DURATION (30s, 15m, 2h, 1d)")
    analyze.add_argument("--json", action="store_true", help="print one JSON object")


def log_path(args: argparse.Namespace) -> Path:
    from aibackend.gateway.runtime import RuntimeDir
    from generator.errors import UsageError

    if args.log is not None:
        if not args.log.is_file():
            raise UsageError(f"log file {args.log} does not exist")
        return Path(args.log)
    run_dir = RuntimeDir(args.config_dir)
    state = run_dir.read_state()
    if state is not None:
        return Path(state.active.log)
    logs = sorted(run_dir.path.glob("gateway-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    if logs:
        return logs[0]
    raise UsageError(
        f"no gateway log in {run_dir.path}: the gateway has not run from {args.config_dir}",
        hint="start it with `aibackend gateway start`, pass --config-dir DIR, or give --log FILE",
    )


def _follow(handle: TextIO, interval: float = 0.25) -> Iterator[str]:
    """New lines as they are appended (a truncated file is read again from its start)."""
    position = handle.tell()
    pending = ""
    while True:
        chunk = handle.readline()
        if chunk:
            pending += chunk
            if pending.endswith("\n"):
                yield pending
                pending = ""
            position = handle.tell()
            continue
        try:
            size = Path(handle.name).stat().st_size
        except OSError:
            size = position
        if size < position:
            handle.seek(0)
            position = 0
        time.sleep(interval)


def tail(args: argparse.Namespace) -> int:
    from aibackend.ops.request_log import Malformed, RequestRecord, classify, format_record
    from generator.errors import UsageError

    if args.lines < 0:
        raise UsageError(f"-n must be 0 or more, got {args.lines}")
    path = log_path(args)
    print(f"# {path}", file=sys.stderr)
    malformed = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        existing = handle.readlines()
        shown: list[str] = []
        for number, line in enumerate(existing, start=1):
            _, item = classify(number, line)
            if isinstance(item, RequestRecord):
                shown.append(format_record(item))
            elif isinstance(item, Malformed):
                malformed += 1
        for text in shown[len(shown) - args.lines:] if args.lines else []:
            print(text)
        if not shown:
            print("# no request records yet (the request logger callback writes them; see docs/operator.md)",
                  file=sys.stderr)
        if malformed:
            print(f"# {malformed} malformed line(s) skipped", file=sys.stderr)
        sys.stdout.flush()
        if not args.follow:
            return 0
        number = len(existing)
        for line in _follow(handle):
            number += 1
            _, item = classify(number, line)
            if isinstance(item, RequestRecord):
                print(format_record(item), flush=True)
            elif isinstance(item, Malformed):
                print(f"# line {item.line}: malformed: {item.reason}", file=sys.stderr, flush=True)
    return 0


def render(analysis: object) -> str:
    from aibackend.ops.request_log import Analysis

    assert isinstance(analysis, Analysis)
    out: list[str] = []
    from generator.stats import DEFAULT_PERCENTILES, percentile_key

    keys = [percentile_key(q) for q in DEFAULT_PERCENTILES]
    rows = [("MODEL GROUP", "BACKEND", "COUNT", "ERRORS", *(f"{k.upper()} ms" for k in keys), "TTFT P50", "TOKENS")]
    for _, stats in sorted(analysis.groups.items()):
        data = stats.to_json()
        lat, ttft = data["latency_ms"], data["ttft_ms"]

        def cell(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        rows.append((stats.model_group, stats.backend, str(stats.count), str(stats.errors), *(cell(lat[k]) for k in keys),
                     cell(ttft["p50"]), str(stats.completion_tokens)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(row)))
    if analysis.fallbacks:
        out.append("fallbacks taken:")
        for (source, target), count in sorted(analysis.fallbacks.items()):
            out.append(f"  {source} -> {target}: {count}")
    else:
        out.append("fallbacks taken: none")
    if analysis.access_status:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(analysis.access_status.items()))
        out.append(f"inference requests in the access log by status: {statuses}")
    return "\n".join(out)


def analyze(args: argparse.Namespace) -> int:
    from aibackend.ops.request_log import analyze as run_analysis
    from aibackend.ops.request_log import now, parse_duration
    from generator.errors import UsageError

    since = None
    if args.since:
        try:
            since = now() - parse_duration(args.since)
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
    path = log_path(args)
    with open(path, encoding="utf-8", errors="replace") as handle:
        analysis = run_analysis(handle, since=since)
    if args.json:
        print(json.dumps({"log": str(path), "since": since.isoformat() if since else None, **analysis.to_json()},
                         indent=2))
        return 0
    print(f"# {path}: {analysis.requests} request record(s)"
          + (f" since {since.astimezone().strftime('%Y-%m-%d %H:%M:%S')}" if since else "")
          + (f", {analysis.first.astimezone():%H:%M:%S} .. {analysis.last.astimezone():%H:%M:%S}"
             if analysis.first and analysis.last else ""))
    if analysis.requests:
        print(render(analysis))
    else:
        print("no request records"
              + (" in that period" if analysis.skipped_before_since else
                 ": the gateway writes them with the request logger callback (docs/operator.md)"))
        if analysis.access_status:
            print(render(analysis).splitlines()[-1])
    if analysis.malformed:
        print(f"{len(analysis.malformed)} malformed line(s) skipped:", file=sys.stderr)
        for item in analysis.malformed[:10]:
            print(f"  line {item.line}: {item.reason}: {item.text[:80]}", file=sys.stderr)
        if len(analysis.malformed) > 10:
            print(f"  ... and {len(analysis.malformed) - 10} more", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    if not hasattr(args, "config_dir"):
        args.config_dir = Path("config")
    return tail(args) if args.action == "tail" else analyze(args)
