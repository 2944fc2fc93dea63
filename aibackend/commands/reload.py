"""``aibackend reload``: validate, generate, start beside, gate, switch (or roll back)."""

from __future__ import annotations

import argparse
import sys

from aibackend.commands._options import add_output_option, add_ready_timeout_option

HELP = "apply a config change: validate, generate, start the new gateway beside the old, gate, switch or roll back"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_option(parser, "the generated config")
    add_ready_timeout_option(parser)


def run(args: argparse.Namespace) -> int:
    from aibackend.extras import require
    from aibackend.gateway.reload import recover, reload
    from aibackend.gateway.runtime import RuntimeDir
    from aibackend.ops.interrupts import terminate_as_interrupt
    from generator.store import output_path

    require("litellm")
    run_dir = RuntimeDir(args.config_dir)
    with run_dir.lock(), terminate_as_interrupt():  # cut short, the reload rolls back what it started
        note = recover(run_dir)
        if note:
            print(f"note: {note}", file=sys.stderr)
        result = reload(run_dir, config_dir=args.config_dir, config_file=output_path(args.config_dir, args.output),
                        ready_timeout=args.ready_timeout)
    print(f"reload: {result.message}")
    if result.backup:
        print(f"reload: previous config backed up as {result.backup}")
    return 0
