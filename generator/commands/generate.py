"""``aibackend generate``: validate, then write the gateway config atomically with a backup."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.commands._output import print_diagnostics
from generator.diagnostics import errors_of
from generator.pipeline import build, default_output
from generator.staleness import check_staleness
from generator.store import install

HELP = "validate, then write the LiteLLM config (atomically, backing up the previous one)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="where to write (default: <config-dir>/litellm-unified.yaml)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if the file on disk is stale or hand-edited")
    mode.add_argument("--dry-run", action="store_true", help="print the config instead of writing it")
    parser.add_argument("--skip-litellm-check", action="store_true",
                        help="skip layer 7 (building a litellm.Router in-process; takes seconds)")


def run(args: argparse.Namespace) -> int:
    output: Path = args.output or default_output(args.config_dir)
    result = build(args.config_dir)
    if result.ok and not args.skip_litellm_check and result.config is not None:
        from generator.acceptance import check_acceptance

        result.diagnostics += check_acceptance(result.config, str(output))
    print_diagnostics(result.diagnostics)
    if errors_of(result.diagnostics) or result.text is None or result.sources is None:
        print(f"not generated: {len(errors_of(result.diagnostics))} error(s); {output} left unchanged",
              file=sys.stderr)
        return 1
    if args.dry_run:
        sys.stdout.write(result.text)
        return 0
    if args.check:
        problems = check_staleness(result.sources, output, result.text, severity="error")
        print_diagnostics(problems)
        if problems:
            return 1
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
