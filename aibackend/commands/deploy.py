"""``aibackend deploy systemd|redis``: hardened systemd user units and the Redis config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write hardened systemd user units (gateway, Redis, simulators) and redis.conf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    systemd = sub.add_parser("systemd", help="units with security.conf and resources.conf drop-ins, and redis.conf")
    redis = sub.add_parser("redis", help="only redis.conf (RDB snapshots + AOF, appendfsync everysec)")
    for each in (systemd, redis):
        each.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                          help="directory holding the source files (default: config/)")
        each.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                          help="where to write (default: <config-dir>/systemd/)")
    systemd.add_argument("--with-simulators", action="store_true",
                         help="also a simulator unit per active local provider, for a dry run without GPUs")


def run(args: argparse.Namespace) -> int:
    from aibackend.deploy.redis_conf import REDIS_CONF, render_redis_conf
    from aibackend.deploy.systemd import render_units
    from aibackend.observability.files import load_valid_sources, write_files

    sources = load_valid_sources(args.config_dir)
    output_dir: Path = args.output_dir or Path(args.config_dir) / "systemd"
    files = {REDIS_CONF: render_redis_conf(sources)}
    warnings: list[str] = []
    if args.action == "systemd":
        units = render_units(sources, redis_conf=output_dir.resolve() / REDIS_CONF,
                             with_simulators=args.with_simulators)
        files.update(units.files())
        warnings = units.warnings
    written = write_files(output_dir, files)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {len(written)} files to {output_dir}:")
    for path in written:
        print(f"  {path.relative_to(output_dir)}")
    if args.action == "systemd":
        env_file = "~/.config/aibackend/gateway.env"
        print(
            "install (user units):\n"
            f"  mkdir -p ~/.config/systemd/user && cp -r {output_dir}/*.service* ~/.config/systemd/user/\n"
            f"  write {env_file} yourself (chmod 600): the master key, and REDIS_PASSWORD if the cache has one\n"
            "  systemctl --user daemon-reload && systemctl --user enable --now "
            + " ".join(p.name for p in written if p.name.endswith(".service") and "[Install]" in files[p.name])
        )
        # Disabled members of an exclusive group: no [Install], started by `aibackend switch`.
        standby = [p.name for p in written if p.name.endswith(".service") and "[Install]" not in files[p.name]]
        if standby:
            print(f"  not enabled (a switched-off member of an exclusive group): {' '.join(standby)}; "
                  "`aibackend switch NAME` starts one and stops the others")
    return 0
