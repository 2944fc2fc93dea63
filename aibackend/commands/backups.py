"""``aibackend backups``: the backups of the generated config, newest first."""

from __future__ import annotations

import argparse
import json

from aibackend.commands._options import add_output_option
from generator.store import BACKUPS_DIR, list_backups, output_path, require_directory

HELP = "list the backups of the generated config, newest first"

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_option(parser, "the generated config whose backups to list")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    path = output_path(args.config_dir, args.output)
    require_directory(path)
    backups = list_backups(path)
    directory = path.parent / BACKUPS_DIR
    if args.json:
        document = {
            "config": str(path),
            "directory": str(directory),
            "backups": [backup.to_json() for backup in backups],
        }
        print(json.dumps(document, indent=2))
        return 0
    if not backups:
        print(
            f"no backups of {path} yet: one is saved in {directory}/ each time "
            "`aibackend generate` replaces a changed config"
        )
        return 0
    rows = [("NAME", "CREATED (UTC)", "SIZE")]
    rows += [(b.name, b.created.strftime(_TIME_FORMAT), str(b.size)) for b in backups]
    name_width = max(len(row[0]) for row in rows)
    time_width = max(len(row[1]) for row in rows)
    for name, created, size in rows:
        print(f"{name:<{name_width}}  {created:<{time_width}}  {size:>6}".rstrip())
    return 0
