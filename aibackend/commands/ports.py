"""``aibackend ports``: the port registry (providers, gateway, Redis, Prometheus) and its conflicts."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "the port registry (providers, gateway, Redis, Prometheus) and conflicts; exit 1 on a conflict"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from aibackend.commands._operator import read_sources
    from aibackend.ops.ports import find_listeners, port_entries, registry_report

    sources = read_sources(args.config_dir)
    report = registry_report(port_entries(sources), find_listeners())
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0 if report.ok else 1
    rows = [("NAME", "ROLE", "TYPE", "ADDRESS", "STATUS", "LISTENING NOW")]
    for e in report.entries:
        listening = report.holders.get(e.name, "-" if e.local else "(remote host: not checked)")
        rows.append((e.name, e.role, e.kind, f"{e.host}:{e.port}", "active" if e.active else "inactive", listening))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    for conflict in report.conflicts:
        print(f"conflict: {conflict}", file=sys.stderr)
    for taken in report.taken:
        print(f"taken: {taken}", file=sys.stderr)
    if report.ok:
        print("no port conflict")
        return 0
    print(f"{len(report.conflicts) + len(report.taken)} port problem(s)", file=sys.stderr)
    return 1
