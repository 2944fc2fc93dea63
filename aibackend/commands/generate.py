"""``aibackend generate``: validate, then write the gateway config atomically with a backup."""

from __future__ import annotations

import argparse
import sys

from aibackend.commands._options import add_output_option
from aibackend.commands._output import print_diagnostics
from generator.diagnostics import errors_of
from generator.layers import ALL
from generator.pipeline import build
from generator.staleness import STALENESS_CODES
from generator.store import install, output_path

HELP = "validate, then write the LiteLLM config (atomically, backing up the previous one)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_option(parser, "where to write")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if the file on disk is stale or hand-edited")
    mode.add_argument("--dry-run", action="store_true", help="print the config instead of writing it")
    parser.add_argument("--skip-litellm-check", action="store_true",
                        help="skip layer 7 (building a litellm.Router in-process; takes seconds)")


def run(args: argparse.Namespace) -> int:
    output = output_path(args.config_dir, args.output)
    # Layer 6 (staleness) is what --check reports, as an error; a write replaces the file anyway.
    skipped = {"litellm"} if args.skip_litellm_check else set()
    if not args.check:
        skipped.add("staleness")
    result = build(args.config_dir, layers=[name for name in ALL if name not in skipped], output=output,
                   staleness_severity="error")
    print_diagnostics(result.diagnostics)
    errors = errors_of(result.diagnostics)
    if args.check and errors and all(d.code in STALENESS_CODES for d in errors):
        return 1  # the sources are fine; the file on disk is not what they generate (said above)
    if errors or result.text is None or result.sources is None:
        print(f"not generated: {len(errors)} error(s); {output} left unchanged",
              file=sys.stderr)
        return 1
    if args.dry_run:
        sys.stdout.write(result.text)
        return 0
    if args.check:
        print(f"{output} is up to date")
        return 0
    try:
        previous: str | None = output.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        previous = None
    backup = install(output, result.text, keep=result.sources.gateway.backups.keep)
    groups = len(result.routes.groups) if result.routes else 0
    deployments = len(result.config["model_list"]) if result.config else 0
    if previous == result.text:
        print(f"{output} is up to date ({deployments} deployments in {groups} model groups)")
    else:
        print(f"wrote {output} ({deployments} deployments in {groups} model groups)")
    if backup is not None:
        print(f"previous version backed up as {backup.path}")
    return 0
