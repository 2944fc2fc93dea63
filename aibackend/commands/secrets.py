"""``aibackend secrets scan [FILE...]``: refuse literal secrets in config files (the pre-commit hook).

Without FILEs it scans the source files of ``--config-dir`` and the generated config. The rules are
the validator's layer 5 (``generator.checks.scan_secrets``): provider key formats (``sk-...``,
``hf_...``, ``ghp_...``, AWS, Slack, JWTs) anywhere, and any ``api_key``/``password``/``token``-like
key with a literal value (``os.environ/VAR`` and ``*_env`` references are what belongs there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "scan files for literal secrets (API keys, passwords); exit 1 when one is found"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    scan = sub.add_parser("scan", help="scan FILEs (default: the config directory's YAML files)")
    scan.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                      help="config directory scanned when no FILE is given (default: config/)")
    scan.add_argument("files", nargs="*", type=Path, metavar="FILE")
    scan.add_argument("--json", action="store_true", help="print one JSON object")


def default_files(config_dir: Path) -> list[Path]:
    from generator.load import GATEWAY_FILE, MAPPINGS_FILE, PROVIDERS_FILE
    from generator.store import GENERATED_NAME

    names = (PROVIDERS_FILE, MAPPINGS_FILE, GATEWAY_FILE, GENERATED_NAME)
    return [config_dir / name for name in names if (config_dir / name).is_file()]


def run(args: argparse.Namespace) -> int:
    from generator.checks import scan_secrets
    from generator.errors import UsageError

    config_dir: Path = getattr(args, "config_dir", Path("config"))
    files: list[Path] = list(args.files) or default_files(config_dir)
    if not args.files and not files:
        raise UsageError(f"no config file found in {config_dir}", hint="pass FILEs or --config-dir DIR")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    found = [d for path in files for d in scan_secrets(path, str(path))]
    if args.json:
        print(json.dumps({"ok": not found, "files": [str(f) for f in files],
                          "findings": [d.to_json() for d in found]}, indent=2))
    else:
        for diagnostic in found:
            print(diagnostic.format(), file=sys.stderr)
        if found:
            print(f"secrets scan: {len(found)} literal secret(s) in {len({d.file for d in found})} file(s); "
                  "nothing may be committed until they are removed", file=sys.stderr)
        else:
            print(f"secrets scan: no literal secret in {len(files)} file(s)")
    return 1 if found else 0
