"""Options several commands share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.store import GENERATED_NAME

__all__ = ["add_output_option"]


def add_output_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--output FILE``: the generated config, when it is not ``<config-dir>/litellm-unified.yaml``."""
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help=f"{what} (default: <config-dir>/{GENERATED_NAME})")
