"""``aibackend observability generate``: Prometheus config, alert rules and Grafana provisioning."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the Prometheus config, alert rules and Grafana dashboards for the gateway and providers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = sub.add_parser("generate", help="write the monitoring files (default: <config-dir>/observability/)")
    generate.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                          help="directory holding the source files (default: config/)")
    generate.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                          help="where to write (default: <config-dir>/observability/)")


def run(args: argparse.Namespace) -> int:
    from aibackend.observability.files import load_valid_sources, render_observability, write_files

    sources = load_valid_sources(args.config_dir)
    output_dir: Path = args.output_dir or Path(args.config_dir) / "observability"
    rendered = render_observability(sources, output_dir)
    written = write_files(output_dir, rendered.files)
    print(f"wrote {len(written)} files to {output_dir}:")
    for path in written:
        print(f"  {path.relative_to(output_dir)}")
    credentials = Path(sources.gateway.monitoring.gateway_credentials_file)
    if not (output_dir / credentials).exists():  # a relative path is relative to prometheus.yml
        print(
            f"note: {credentials} does not exist yet. Prometheus reads the gateway's master key from it "
            f"(LiteLLM's /metrics needs the key): write it yourself, readable by the prometheus user only, e.g.\n"
            f"  printenv {sources.gateway.server.master_key_env} | sudo install -m 0640 -o root -g prometheus "
            f"/dev/stdin {credentials}"
        )
    print("check them with: promtool check config " + str(output_dir / "prometheus.yml"))
    return 0
