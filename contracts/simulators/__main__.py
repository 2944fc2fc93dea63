"""``python -m contracts.simulators TYPE [flags]``: the same as ``aibackend simulate``, without
loading the other commands (the subprocess behind ``start_simulator``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from contracts.simulators import cli as simulate
from generator.errors import AibackendError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.simulators", description=simulate.HELP)
    simulate.add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return simulate.run(args)
    except AibackendError as exc:
        print(f"simulate: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
