"""``aibackend rollback [BACKUP]``: restore a backup as the generated config."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from aibackend.commands._backups import backups_keep
from aibackend.commands._options import add_output_option
from generator.store import output_path, require_directory, rollback

HELP = "restore a backup (default: the newest) as the gateway config; the current one is backed up first"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "backup",
        nargs="?",
        default=None,
        metavar="BACKUP",
        help="a backup's name as `aibackend backups` lists it, or its path (default: the newest); a "
        "providers.<time>.yaml backup restores providers.yaml (as `aibackend providers rollback` does)",
    )
    add_output_option(parser, "the generated config to restore")


def _rollback_command(args: argparse.Namespace, backup: str) -> str:
    words = ["aibackend", "rollback"]
    if args.config_dir != Path("config"):
        words += ["--config-dir", str(args.config_dir)]
    if args.output is not None:
        words += ["--output", str(args.output)]
    return shlex.join([*words, backup])


def _names_providers_backup(backup: str | None) -> bool:
    from generator.load import PROVIDERS_FILE

    return backup is not None and Path(backup).name.startswith(Path(PROVIDERS_FILE).stem + ".")


def run(args: argparse.Namespace) -> int:
    if args.output is None and _names_providers_backup(args.backup):
        # A backup of providers.yaml (`aibackend providers` or `switch` made it, and printed its name):
        # restored the way `aibackend providers rollback BACKUP` does, so this command undoes an edit too.
        from aibackend.commands import providers

        return providers.run(argparse.Namespace(**vars(args), action="rollback", apply=False,
                                                 apply_offered=False))
    path = output_path(args.config_dir, args.output)
    require_directory(path)
    existed = path.exists()
    restored, safety = rollback(path, args.backup, keep=backups_keep(args.config_dir))
    if safety is None and existed:
        print(f"{path} already holds {restored.name}; nothing was changed")
        return 0
    print(f"restored {restored.name} as {path}")
    if safety is not None:
        print(f"the replaced config was saved as {safety.name}")
        print(f"  undo with: {_rollback_command(args, safety.name)}")
    print(
        "note: the running gateway serves the restored config once restarted; the source files "
        "were not changed, so `aibackend generate` would re-create the config they describe"
    )
    return 0
