"""``aibackend runs list|show ID|compare A B``: the results history in the terminal.

Exit status: 0, 1 no such run, 2 bad usage or a store that cannot be used.
"""

from __future__ import annotations

import argparse
import json

HELP = "the results history: every recorded load-test and contract run (list, show ID, compare A B)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aibackend.results.options import add_store_path_argument

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the recorded runs, newest first")
    listing.add_argument("--target", metavar="NAME", help="only runs of this target (as listed)")
    listing.add_argument("--model", metavar="NAME", help="only runs of this model")
    listing.add_argument("--kind", choices=("loadtest", "contract"), help="only load tests or contract runs")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N runs (default 50; 0: all)")
    show = sub.add_parser("show", help="one run: provenance, workload, verdict, every figure")
    show.add_argument("id", type=int, metavar="ID")
    comparing = sub.add_parser("compare", help="two runs side by side: each figure, its change, better or worse")
    comparing.add_argument("a", type=int, metavar="A")
    comparing.add_argument("b", type=int, metavar="B")
    for each in (listing, show, comparing):
        add_store_path_argument(each)
        each.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    from aibackend.results.options import store_path
    from aibackend.results.present import compare_json, compare_text, list_text, run_json, show_text, summary
    from aibackend.results.store import open_store
    from generator.errors import AibackendError, UsageError

    path = store_path(args)
    with open_store(path, create=False) as store:
        if args.action == "list":
            if args.limit < 0:
                raise UsageError(f"--limit must be >= 0 (got {args.limit})")
            runs = store.runs(target=args.target, model=args.model, kind=args.kind, limit=args.limit or None)
            if args.json:
                print(json.dumps({"store": str(path), "runs": [summary(r) for r in runs]}, indent=2))
            elif not runs:
                filtered = args.target or args.model or args.kind
                print(f"no runs{' match' if filtered else ' recorded yet'} in {path}"
                      + ("" if filtered else ": `aibackend loadtest` and `aibackend contract` record theirs here"))
            else:
                print(list_text(runs))
            return 0
        wanted = [args.id] if args.action == "show" else [args.a, args.b]
        found = {run.id: run for run in store.runs(ids=wanted, details=args.action == "show")}
        missing = [str(i) for i in wanted if i not in found]
        if missing:
            raise AibackendError(f"no run {', '.join(missing)} in {path}", hint="`aibackend runs list` shows the ids")
        if args.action == "show":
            run_ = found[args.id]
            print(json.dumps(run_json(run_), indent=2) if args.json else show_text(run_))
        else:
            a, b = found[args.a], found[args.b]
            print(json.dumps(compare_json(a, b), indent=2) if args.json else compare_text(a, b))
    return 0
