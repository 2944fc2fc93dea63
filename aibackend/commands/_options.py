"""Options several commands share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.store import GENERATED_NAME

__all__ = ["add_output_option", "add_ready_timeout_option"]


def add_output_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--output FILE``: the generated config, when it is not ``<config-dir>/litellm-unified.yaml``."""
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help=f"{what} (default: <config-dir>/{GENERATED_NAME})")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the wait must be more than 0 seconds")
    return value


def add_ready_timeout_option(parser: argparse.ArgumentParser) -> None:
    """``--ready-timeout S``: how long to wait for LiteLLM's readiness (gateway start, reload)."""
    parser.add_argument("--ready-timeout", type=_seconds, default=None, metavar="S",
                        help="seconds to wait for LiteLLM to become ready "
                             "(default: 180 plus 0.05 per deployment, e.g. 580 at 8,000)")
