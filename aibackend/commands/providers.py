"""``aibackend providers list|add|enable|disable|remove|backups|rollback``: the registry without
hand-editing YAML.

Edits are surgical (only the lines they must change), validated in memory through every layer
before anything is written, and backed up (``providers rollback`` undoes them). ``--apply``
regenerates the gateway config and reloads a running gateway the zero-loss way ``reload`` does.
See ``aibackend.ops.registry`` and docs/operator.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aibackend.ops.registry import Proposal
    from generator.load import Sources

HELP = "list, add, enable, disable and remove providers (validated before written, backed up; --apply reloads)"

_STATUSES = ("active", "disabled", "template")


def _config_dir_option(parser: argparse.ArgumentParser) -> None:
    # Accepted after the action too (`providers list --config-dir X`); SUPPRESS keeps the value given
    # before it (`providers --config-dir X list`) when it is not repeated.
    parser.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                        help="directory holding the source files (default: config/)")


def _edit_options(parser: argparse.ArgumentParser) -> None:
    _config_dir_option(parser)
    parser.add_argument("--apply", action="store_true",
                        help="then regenerate the gateway config and reload a running gateway (zero-loss)")
    parser.add_argument("--dry-run", action="store_true", help="validate and show the change; write nothing")
    parser.add_argument("--skip-litellm-check", action="store_true",
                        help="skip validation layer 7 (building a litellm.Router in-process; takes seconds)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="name, type, status, group, base URL and models of every provider")
    _config_dir_option(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.add_argument("--health", action="store_true",
                         help="also probe each provider's health endpoint (templates are not probed)")
    listing.add_argument("--timeout", type=float, default=3.0, metavar="S", help="per probe (default 3 s)")

    add = sub.add_parser("add", help="add a provider (at the end of providers.yaml)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--type", required=True, metavar="TYPE", help="provider type (see docs/configuration.md)")
    add.add_argument("--base-url", required=True, metavar="URL")
    add.add_argument("--model", action="append", default=[], metavar="M",
                     help="a model it serves (repeat; at least one)")
    add.add_argument("--status", choices=_STATUSES, default=None, help="default: active")
    add.add_argument("--api-key-env", metavar="VAR", default=None,
                     help="the NAME of the variable holding its key (never the key)")
    add.add_argument("--description", default=None)
    add.add_argument("--health-endpoint", metavar="PATH", default=None)
    add.add_argument("--exclusive-group", metavar="GROUP", default=None,
                     help="engines that cannot run together (one GPU); see `aibackend switch`")
    add.add_argument("--start-command", metavar="CMD", default=None, help="shell command starting its engine")
    add.add_argument("--stop-command", metavar="CMD", default=None, help="shell command stopping its engine")
    _edit_options(add)

    for action, what in (("enable", "set status: active"), ("disable", "set status: disabled"),
                         ("remove", "delete the provider's block (refused while model-mappings.yaml uses it)")):
        each = sub.add_parser(action, help=what)
        each.add_argument("name", metavar="NAME")
        _edit_options(each)

    backups = sub.add_parser("backups", help="the backups of providers.yaml, newest first")
    _config_dir_option(backups)
    backups.add_argument("--json", action="store_true", help="print one JSON object")

    rollback = sub.add_parser("rollback", help="restore a backup of providers.yaml (default: the newest)")
    rollback.add_argument("backup", nargs="?", default=None, metavar="BACKUP",
                          help="a name as `providers backups` lists it, or its path")
    _config_dir_option(rollback)
    rollback.add_argument("--apply", action="store_true",
                          help="then regenerate the gateway config and reload a running gateway")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    if args.action == "backups":
        return _backups(args)
    if args.action == "rollback":
        return _rollback(args)
    return _edit(args)


# --- list -----------------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    from aibackend.commands._operator import read_sources

    sources = read_sources(args.config_dir)
    health = _probe_all(sources, args.timeout) if args.health else {}
    rows: list[dict[str, Any]] = []
    for name, provider in sources.providers.providers.items():
        row: dict[str, Any] = {
            "name": name,
            "type": provider.type,
            "status": provider.status,
            "base_url": provider.base_url,
            "models": provider.model_names(),
            "exclusive_group": provider.exclusive_group,
            "api_key_env": provider.api_key_env,
            "start_command": provider.start_command,
            "stop_command": provider.stop_command,
            "description": provider.description,
        }
        if args.health:
            row["health"] = health.get(name)
        rows.append(row)
    if args.json:
        print(json.dumps({"file": sources.files["providers"], "providers": rows}, indent=2))
        return 0
    header = ["NAME", "TYPE", "STATUS", "GROUP", "BASE URL"]
    if args.health:
        header += ["HEALTH", "LATENCY"]
    header.append("MODELS")
    table = [header]
    for row in rows:
        cells = [row["name"], row["type"], row["status"], row["exclusive_group"] or "-", row["base_url"]]
        if args.health:
            probe = row["health"]
            if probe is None:
                cells += ["-", "-"]
            else:
                latency = probe["latency_ms"]
                cells += [probe["state"], "-" if latency is None else f"{latency:.1f} ms"]
        cells.append(", ".join(row["models"]))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for cells in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())
    if args.health:
        for row in rows:
            probe = row["health"]
            if probe is not None and not probe["healthy"]:
                print(f"{row['name']}: {probe['state']}: {probe['detail']} ({probe['url']})", file=sys.stderr)
    return 0


def _probe_all(sources: Sources, timeout: float) -> dict[str, dict[str, Any]]:
    """Health of every provider but templates (examples, not deployed): active ones, and disabled
    ones too, since whether a switched-off engine still runs is worth knowing."""
    from aibackend.ops.health import check_all, provider_target

    targets = [provider_target(name, provider) for name, provider in sources.providers.providers.items()
               if provider.status != "template"]
    return {result.target.name: result.to_json() for result in check_all(targets, timeout=timeout)}


# --- edits ----------------------------------------------------------------------------------------


def _change(args: argparse.Namespace) -> Any:
    from generator import source_edit
    from generator.errors import UsageError

    name = args.name
    if args.action == "enable":
        return lambda text, file: source_edit.set_field(text, name, "status", "active", file=file)
    if args.action == "disable":
        return lambda text, file: source_edit.set_field(text, name, "status", "disabled", file=file)
    if args.action == "remove":
        return lambda text, file: source_edit.remove_provider(text, name, file=file)
    if not args.model:
        raise UsageError("give at least one --model M (the names the server serves)",
                         hint="e.g. --model Qwen/Qwen2.5-Coder-7B-Instruct-AWQ; repeat it for several")
    fields = {
        "type": args.type, "base_url": args.base_url, "status": args.status, "description": args.description,
        "health_endpoint": args.health_endpoint, "api_key_env": args.api_key_env,
        "exclusive_group": args.exclusive_group, "start_command": args.start_command,
        "stop_command": args.stop_command,
    }
    new = source_edit.NewProvider(name, fields, list(args.model))
    return lambda text, file: source_edit.add_provider(text, new, file=file)


def _status_already(args: argparse.Namespace) -> str | None:
    """For enable/disable: what says the provider already has that status (an absent ``status``
    means active, so enabling it must not add a line), or None."""
    if args.action not in ("enable", "disable"):
        return None
    from generator.load import load_sources

    sources = load_sources(args.config_dir).sources
    provider = sources.providers.providers.get(args.name) if sources is not None else None
    wanted = "active" if args.action == "enable" else "disabled"
    if sources is None or provider is None or provider.status != wanted:
        return None  # the edit says why it cannot be made, or makes it
    return f"{sources.files['providers']} already says {wanted}"


def _command_words(args: argparse.Namespace, *words: str) -> str:
    prefix = ["aibackend", "providers", words[0]]
    if Path(args.config_dir) != Path("config"):
        prefix += ["--config-dir", str(args.config_dir)]
    return shlex.join([*prefix, *words[1:]])


def _print_warnings(proposal: Proposal) -> None:
    from aibackend.commands._output import print_diagnostics

    print_diagnostics(proposal.warnings)


def _edit(args: argparse.Namespace) -> int:
    from aibackend.ops import registry
    from generator.errors import GatewayError
    from generator.load import display_path

    layers = tuple(n for n in registry.EDIT_LAYERS if not (args.skip_litellm_check and n == "litellm"))
    label = f"providers {args.action} {args.name}"
    with registry.editing(args.config_dir):
        already = _status_already(args)
        if already is not None:
            print(f"{label}: {already}; nothing changed")
            return 0
        proposal = registry.propose(args.config_dir, _change(args), layers=layers)
        _print_warnings(proposal)
        if not proposal.changed:
            print(f"{label}: {proposal.display} already says so; nothing changed")
            return 0
        print(f"{label}: the edited registry validates ({', '.join(proposal.build.layers_run)})")
        sys.stdout.write(proposal.diff())
        if args.dry_run:
            print("dry run: nothing was written")
            return 0
        backup = registry.write(proposal)
        print(f"wrote {proposal.display}")
        if backup is not None:
            print(f"previous version backed up as {display_path(backup.path)}")
            print(f"  undo with: {_command_words(args, 'rollback', backup.name)}")
        if not args.apply:
            print("the gateway config was not regenerated: pass --apply, or run `aibackend reload` "
                  "(a running gateway) or `aibackend generate`")
            return 0
        assert proposal.build.text is not None
        try:
            applied = registry.apply(args.config_dir, config_text=proposal.build.text, keep=proposal.keep)
        except GatewayError as exc:
            raise registry.reload_failed(exc, proposal) from exc
        print(applied.message)
    return 0


# --- history ----------------------------------------------------------------------------------------


def _backups(args: argparse.Namespace) -> int:
    from aibackend.ops.registry import providers_path
    from generator.store import BACKUPS_DIR, list_backups

    path = providers_path(args.config_dir)
    backups = list_backups(path)
    if args.json:
        print(json.dumps({"file": str(path), "directory": str(path.parent / BACKUPS_DIR),
                          "backups": [b.to_json() for b in backups]}, indent=2))
        return 0
    if not backups:
        print(f"no backups of {path} yet: one is saved in {path.parent / BACKUPS_DIR}/ each time "
              "`aibackend providers` or `aibackend switch` changes it")
        return 0
    rows = [("NAME", "CREATED (UTC)", "SIZE")]
    rows += [(b.name, b.created.strftime("%Y-%m-%d %H:%M:%S.%f"), str(b.size)) for b in backups]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, created, size in rows:
        print(f"{name:<{widths[0]}}  {created:<{widths[1]}}  {size:>6}".rstrip())
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from aibackend.commands._backups import backups_keep
    from aibackend.ops import registry
    from generator import store
    from generator.errors import ConfigInvalid, GatewayError
    from generator.layers import COMPILE
    from generator.pipeline import build

    path = registry.providers_path(args.config_dir)
    with registry.editing(args.config_dir):
        before = path.read_text(encoding="utf-8") if path.exists() else None
        restored, safety = store.rollback(path, args.backup, keep=backups_keep(args.config_dir),
                                          kind=store.PROVIDERS_SOURCE)
        if safety is None and before is not None:
            print(f"{path} already holds {restored.name}; nothing was changed")
        else:
            print(f"restored {restored.name} as {path}")
            if safety is not None:
                print(f"the replaced providers.yaml was saved as {safety.name}")
                print(f"  undo with: {_command_words(args, 'rollback', safety.name)}")
        result = build(args.config_dir, layers=COMPILE)
        if not result.ok or result.text is None or result.sources is None:
            from aibackend.commands._output import print_diagnostics

            print_diagnostics(result.diagnostics)
            print(f"warning: the restored {path.name} does not validate with the other source files "
                  "(above); fix them before generating", file=sys.stderr)
            if args.apply:
                raise ConfigInvalid(result.diagnostics)
            return 0
        if not args.apply:
            # `aibackend rollback providers.<time>.yaml` comes here too, and has no --apply to offer.
            offer = "pass --apply, or " if getattr(args, "apply_offered", True) else ""
            print(f"the gateway config was not regenerated: {offer}run `aibackend reload` "
                  "(a running gateway) or `aibackend generate`")
            return 0
        try:
            applied = registry.apply(args.config_dir, config_text=result.text,
                                     keep=result.sources.gateway.backups.keep)
        except GatewayError as exc:
            if before is not None:
                store.install(path, before, keep=result.sources.gateway.backups.keep)
            raise GatewayError(f"{exc.message}; {path} was put back as it was before this rollback",
                               hint=exc.hint) from exc
        print(applied.message)
    return 0
