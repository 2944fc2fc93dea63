"""``aibackend contract``: the contract suite against live servers (or simulators)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

HELP = "check live servers against their provider type's contract (exit 0 compliant, 1 violations, 2 bad usage)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from generator.providers import contract_types

    *others, last = contract_types()
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="TYPE=URL",
        help=f"a server to check: TYPE is {', '.join(others)} or {last} (repeatable)",
    )
    parser.add_argument(
        "--providers-file",
        type=Path,
        metavar="PATH",
        help="also check every `status: active` provider of this providers.yaml (type from its `type`)",
    )
    parser.add_argument("--model", metavar="NAME", help="model to exercise (default: the first the server lists)")
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the bearer key (default for litellm: LITELLM_MASTER_KEY)",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write the results as JUnit XML")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the readable list")
    parser.add_argument(
        "--fuzz-examples",
        type=int,
        default=0,
        metavar="N",
        help="also fuzz every operation with N schemathesis examples (seeded; default 0: off)",
    )
    parser.add_argument("--seed", type=int, default=0, help="fuzzing seed (default 0)")
    parser.add_argument(
        "--explain",
        metavar="RULE",
        help="print RULE (or `all`), what checks it, and where it comes from for each type "
        "(only the types of --target when given); nothing is sent",
    )
    from aibackend.results.options import add_store_arguments

    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from contracts.report import as_json, as_text, write_junit
    from contracts.suite import run_suite
    from contracts.targets import api_key_from_env, parse_target, targets_from_providers_file
    from generator.errors import UsageError

    if args.explain:
        from contracts.explain import explain

        types = [parse_target(spec).type for spec in args.target] or None
        print(explain(args.explain, types))
        return 0
    if not args.target and not args.providers_file:
        raise UsageError("no target given", hint="pass --target TYPE=URL (repeatable) or --providers-file PATH")
    if args.fuzz_examples < 0:
        raise UsageError(f"--fuzz-examples must be >= 0 (got {args.fuzz_examples})")
    # Parse every target before sending anything: a typo in the third fails at once.
    targets = []
    for spec in args.target:
        target = parse_target(spec, model=args.model)
        targets.append(dataclasses.replace(target, api_key=api_key_from_env(args.api_key_env, target.type)))
    if args.providers_file:
        targets += targets_from_providers_file(args.providers_file, model=args.model, api_key_env=args.api_key_env)
    from aibackend.results.options import Recorder

    recorder = Recorder(args)  # a --store that is not a store fails here, before any request
    reports = []
    for target in targets:
        report = run_suite(target)
        if args.fuzz_examples:
            from contracts.fuzz import fuzz_target

            report.outcomes += fuzz_target(target, report.model, examples=args.fuzz_examples, seed=args.seed)
        reports.append(report)
    if args.junit:
        write_junit(reports, args.junit)
    if args.json:
        print(json.dumps(as_json(reports), indent=2))
    else:
        print(as_text(reports))
    ok = all(report.ok for report in reports)
    if not ok and not args.json:
        print("contract: violations found", file=sys.stderr)
    recorded = recorder.record_contract(as_json(reports), reports=[args.junit] if args.junit else [],
                                        workload={"fuzz_examples": args.fuzz_examples, "seed": args.seed})
    return max(0 if ok else 1, recorded)
