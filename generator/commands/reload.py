"""``aibackend reload``: validate, generate, start beside, gate, switch (or roll back)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "apply a config change: validate, generate, start the new gateway beside the old, gate, switch or roll back"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="the generated config (default: <config-dir>/litellm-unified.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    from generator.gateway_runtime import RuntimeDir
    from generator.reload import recover, reload
    from generator.store import output_path

    run_dir = RuntimeDir(args.config_dir)
    with run_dir.lock():
        note = recover(run_dir)
        if note:
            print(f"note: {note}", file=sys.stderr)
        result = reload(run_dir, config_dir=args.config_dir, config_file=output_path(args.config_dir, args.output))
    print(f"reload: {result.message}")
    if result.backup:
        print(f"reload: previous config backed up as {result.backup}")
    return 0
