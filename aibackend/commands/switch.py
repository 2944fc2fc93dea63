"""``aibackend switch NAME``: make NAME the active member of its exclusive group (the single-GPU
model switch): engines stopped and started, providers.yaml edited, the gateway reloaded and
checked, or everything rolled back. The steps: ``aibackend.ops.switch``; docs/operator.md."""

from __future__ import annotations

import argparse

HELP = "make NAME the active member of its exclusive_group: switch engines, edit, reload, check (or roll back)"


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a number of seconds greater than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the provider to make active (a member of an exclusive_group)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sequential", dest="sequential", action="store_true", default=True,
                      help="stop the old engine before starting the new one (the default: one GPU holds one model)")
    mode.add_argument("--overlap", dest="sequential", action="store_false",
                      help="start the new engine first and stop the old one once the gateway has moved "
                      "(the machine has room for both)")
    parser.add_argument("--timeout", type=_seconds, default=300.0, metavar="S",
                        help="wait up to S seconds for the new engine's health endpoint (default 300)")
    parser.add_argument("--stop-timeout", type=_seconds, default=60.0, metavar="S",
                        help="wait up to S seconds for an engine to stop (default 60)")
    parser.add_argument("--check-timeout", type=_seconds, default=120.0, metavar="S",
                        help="wait up to S seconds for the gateway to answer from the new engine (default 120)")
    parser.add_argument("--skip-litellm-check", action="store_true",
                        help="skip validation layer 7 of the edited registry (takes seconds)")


def run(args: argparse.Namespace) -> int:
    import time

    started = time.monotonic()  # the printed times count the planning too
    from aibackend.ops.registry import EDIT_LAYERS, editing
    from aibackend.ops.switch import SwitchOptions, execute, plan_switch

    layers = tuple(n for n in EDIT_LAYERS if not (args.skip_litellm_check and n == "litellm"))
    options = SwitchOptions(
        sequential=args.sequential, health_timeout=args.timeout, stop_timeout=args.stop_timeout,
        check_timeout=args.check_timeout, layers=layers,
    )
    with editing(args.config_dir):
        plan = plan_switch(args.config_dir, args.name, options)
        execute(plan, started=started)
    return 0
