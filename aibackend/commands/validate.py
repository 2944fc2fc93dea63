"""``aibackend validate``: every validation layer over the source files."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from aibackend.commands._options import add_output_option
from aibackend.commands._output import diagnostics_json, print_diagnostics
from generator.diagnostics import errors_of, warnings_of
from generator.layers import ALL, CRITICAL
from generator.pipeline import Build, build
from generator.routing import RouteTable

HELP = "check the source files (YAML, schema, consistency, ports, environment, staleness, LiteLLM)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object (see interface.md)")
    parser.add_argument(
        "--critical", action="store_true", help="only the fast blocking layers: YAML syntax, schema, consistency"
    )
    add_output_option(parser, "the generated file to check for staleness")


def routes_summary(routes: RouteTable) -> dict[str, Any]:
    return {
        "groups": {
            name: {
                "kind": group.kind,
                "deployments": [
                    {"provider": d.provider, "backend_model": d.backend_model, **({"order": d.order} if d.order else {})}
                    for d in group.deployments
                ],
            }
            for name, group in routes.groups.items()
        },
        "patterns": [{"pattern": p.pattern, "provider": p.provider, "matches": list(p.names)} for p in routes.patterns],
        "catch_all": routes.catch_all,
        "fallbacks": routes.fallbacks,
        "default_fallbacks": routes.default_fallbacks,
    }


def _print_routes(routes: RouteTable) -> None:
    print("Routing, as the gateway will see it:")
    width = max((len(name) for name in routes.groups), default=10)
    for name, group in routes.groups.items():
        backends = ", ".join(
            f"{d.provider}/{d.backend_model}" + (f" (order {d.order})" if d.order else "") for d in group.deployments
        )
        print(f"  {name:<{width}}  {group.kind:<10}  -> {backends}")
        if name in routes.fallbacks:
            print(f"  {'':<{width}}  {'':<10}     falls back to: {' -> '.join(routes.fallbacks[name])}")
    for pattern in routes.patterns:
        matched = ", ".join(pattern.names) or "(nothing)"
        print(f"  pattern {pattern.pattern!r} -> {pattern.provider}: {matched}")
    if routes.catch_all:
        print(f"  {'*':<{width}}  {'default':<10}  -> {routes.catch_all} (any other name, passed as is)")
    if routes.default_fallbacks:
        print(f"  default fallbacks: {' -> '.join(routes.default_fallbacks)}")


def run_validation(args: argparse.Namespace) -> Build:
    return build(args.config_dir, layers=CRITICAL if args.critical else ALL, output=args.output)


def run(args: argparse.Namespace) -> int:
    result = run_validation(args)
    errors, warnings = errors_of(result.diagnostics), warnings_of(result.diagnostics)
    if args.json:
        extra: dict[str, Any] = {"layers": result.layers_run}
        if result.routes is not None:
            extra["routes"] = routes_summary(result.routes)
        print(diagnostics_json(result.diagnostics, **extra))
        return 0 if not errors else 1
    print_diagnostics(result.diagnostics, sys.stdout)
    if result.routes is not None and not errors:
        _print_routes(result.routes)
    verdict = "valid" if not errors else "INVALID"
    print(
        f"{verdict}: {len(errors)} error(s), {len(warnings)} warning(s) "
        f"[layers: {', '.join(result.layers_run)}]",
        file=sys.stdout if not errors else sys.stderr,
    )
    return 0 if not errors else 1
