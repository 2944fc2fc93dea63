"""``aibackend``: argument parsing and dispatch only.

Each command lives in its own module exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Command modules keep heavy imports (litellm, locust, aiohttp) inside
``run`` so that ``aibackend --help`` and ``validate`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from aibackend.extras import missing_extra
from generator import __version__
from generator.errors import AibackendError, ConfigInvalid

__all__ = ["COMMANDS", "main"]

# command name -> module implementing it. Order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "validate": "aibackend.commands.validate",
    "generate": "aibackend.commands.generate",
    "diff": "aibackend.commands.diff",
    "backups": "aibackend.commands.backups",
    "rollback": "aibackend.commands.rollback",
    "gateway": "aibackend.commands.gateway",
    "reload": "aibackend.commands.reload",
    "simulate": "aibackend.commands.simulate",
    "contract": "aibackend.commands.contract",
    "loadtest": "aibackend.commands.loadtest",
    "demo": "aibackend.commands.demo",
    "observability": "aibackend.commands.observability",
    "deploy": "aibackend.commands.deploy",
    "cache": "aibackend.commands.cache",
    "health": "aibackend.commands.health",
    "wait-for": "aibackend.commands.wait_for",
    "ports": "aibackend.commands.ports",
    "request": "aibackend.commands.request",
    "requests": "aibackend.commands.requests",
    "secrets": "aibackend.commands.secrets",
    "ci": "aibackend.commands.ci",
    "runs": "aibackend.commands.runs",
    "dashboard": "aibackend.commands.dashboard",
    "top": "aibackend.commands.top",
    "providers": "aibackend.commands.providers",
    "switch": "aibackend.commands.switch",
}


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config-dir",
        type=Path,
        default=Path("config"),
        metavar="DIR",
        help="directory holding providers.yaml, model-mappings.yaml and gateway.yaml (default: config/)",
    )
    return common


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="aibackend",
        description="Compile, check, serve and load-test a LiteLLM gateway for self-hosted LLM backends.",
    )
    parser.add_argument("--version", action="version", version=f"aibackend {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    modules: dict[str, ModuleType] = {}
    for name, module_name in COMMANDS.items():
        # Command modules import their optional dependencies inside run(): every command is listed
        # whatever extras are installed, and one that lacks its extra says which (main below).
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common])
        module.add_arguments(command_parser)
        modules[name] = module
    return parser, modules


def _write_crash_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="aibackend-crash-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"aibackend {__version__}\nargv: {sys.argv!r}\n\n")
        handle.write(traceback.format_exc())
    return Path(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad flags, 0 on --help
        return int(exc.code or 0)
    try:
        return int(modules[args.command].run(args))
    except AibackendError as exc:
        if isinstance(exc, ConfigInvalid):
            # The summary line alone says nothing: the located diagnostics come first.
            for diagnostic in exc.diagnostics:
                if diagnostic.severity == "error":
                    print(diagnostic.format(), file=sys.stderr)
        print(f"aibackend {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        missing = missing_extra(exc.name or "")
        if missing is None:
            raise
        print(f"aibackend {args.command}: error: {missing}", file=sys.stderr)
        return missing.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last resort: never a bare traceback for the user
        log = _write_crash_log()
        print(
            f"aibackend {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            f"  this is a bug; the traceback was written to {log}",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
