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

from generator import __version__
from generator.errors import AibackendError, ConfigInvalid

__all__ = ["COMMANDS", "main"]

# command name -> module implementing it. Order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "validate": "generator.commands.validate",
    "generate": "generator.commands.generate",
    "diff": "generator.commands.diff",
    "backups": "generator.commands.backups",
    "rollback": "generator.commands.rollback",
    "gateway": "generator.commands.gateway",
    "reload": "generator.commands.reload",
    "simulate": "contracts.commands.simulate",
    "contract": "contracts.commands.contract",
    "loadtest": "loadtests.command",
    "demo": "generator.commands.demo",
    "observability": "generator.commands.observability",
    "deploy": "generator.commands.deploy",
    "cache": "generator.commands.cache",
    "health": "generator.commands.health",
    "wait-for": "generator.commands.wait_for",
    "ports": "generator.commands.ports",
    "request": "generator.commands.request",
    "requests": "generator.commands.requests",
    "secrets": "generator.commands.secrets",
    "ci": "generator.commands.ci",
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


def _load_command(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # A command whose module is not written yet (or whose optional dependency is missing)
        # is left out of the parser rather than breaking every other command.
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


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
        module = _load_command(module_name)
        if module is None:
            continue
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
