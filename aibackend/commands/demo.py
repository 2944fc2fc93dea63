"""``aibackend demo``: the whole pipeline on simulators (validate, generate, simulators, the real gateway,
contract checks, a load test, a report); everything it starts is stopped at the end."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "the whole pipeline on simulators: validate, generate, simulators + real gateway, contracts, load test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the stack up (until Ctrl-C) and print how to reach it")
    parser.add_argument("--duration", type=float, default=20.0, metavar="S", help="load-test length (default 20 s)")
    parser.add_argument("--users", type=int, default=2, metavar="N", help="streams per model group (default 2)")
    parser.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                        help="where the config copy and the reports go (default: a new temporary directory)")
    from aibackend.results.options import add_store_arguments

    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from aibackend.extras import require

    require("litellm", "locust", "jsonschema")  # the demo runs the gateway, the load and the contracts
    from aibackend.ops.demo import DemoOptions, run_demo
    from generator.errors import UsageError

    if args.duration <= 0 or args.users < 1:
        raise UsageError("--duration must be > 0 and --users >= 1")
    from aibackend.results.options import Recorder

    store = Recorder(args).path  # checked now: a --store that is not a store fails before anything starts
    return run_demo(DemoOptions(config_dir=args.config_dir, duration=args.duration, users=args.users,
                                keep_running=args.keep_running, workdir=args.workdir, store=store,
                                say=lambda text: print(text, flush=True)))
