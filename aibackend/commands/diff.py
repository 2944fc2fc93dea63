"""``aibackend diff``: what ``generate`` would change in the generated config, as a unified diff."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterator
from pathlib import Path

from aibackend.commands._options import add_output_option
from aibackend.commands._output import print_diagnostics
from generator.diagnostics import errors_of
from generator.errors import StoreError
from generator.store import output_path

HELP = "show what `generate` would change, as a unified diff"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_option(parser, "the generated config to compare with")


def unified_diff(old: str | None, new: str, path: Path) -> Iterator[str]:
    """Git-style diff lines (``a/`` and ``b/`` prefixes, ``/dev/null`` for a missing file)."""
    old_lines = [] if old is None else old.splitlines(keepends=True)
    fromfile = "/dev/null" if old is None else f"a/{path}"
    for line in difflib.unified_diff(old_lines, new.splitlines(keepends=True), fromfile, f"b/{path}"):
        if line.endswith("\n"):
            yield line
        else:
            # Without this marker the next diff line would be glued onto this one.
            yield line + "\n\\ No newline at end of file\n"


def run(args: argparse.Namespace) -> int:
    from generator.pipeline import build

    path = output_path(args.config_dir, args.output)
    result = build(args.config_dir)
    if not result.ok or result.text is None:
        print_diagnostics(result.diagnostics)
        count = len(errors_of(result.diagnostics))
        print(
            f"aibackend diff: the configuration is invalid ({count} error(s)); generate would write nothing",
            file=sys.stderr,
        )
        return 1
    try:
        old: str | None = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    lines = list(unified_diff(old, result.text, path))
    if not lines:
        print(f"{path} is up to date: generate would change nothing", file=sys.stderr)
        return 0
    sys.stdout.writelines(lines)
    return 0
