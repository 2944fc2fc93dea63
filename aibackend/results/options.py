"""``--store PATH`` / ``--no-store``, declared once, and the recording ``loadtest`` and ``contract`` call.

The store is opened (created, migrated) BEFORE the run: a ``--store`` that is not a store fails
the command at once (exit 2), not after minutes of load. Recording happens after the run; a run
that could not be recorded says so and exits 1 (its report files are still written).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aibackend.results.record import Run, contract_run, loadtest_run, provenance
from aibackend.results.store import ResultsStoreError, default_store_path, open_store
from generator.errors import UsageError

__all__ = ["Recorder", "add_store_arguments", "add_store_path_argument", "store_path"]


def add_store_path_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=None, metavar="PATH",
                        help=f"the results store (default: {_default_shown()})")


def _default_shown() -> str:
    return "$XDG_DATA_HOME/aibackend/results.sqlite3, i.e. ~/.local/share/aibackend/results.sqlite3"


def add_store_arguments(parser: argparse.ArgumentParser, *, target_name: bool = False) -> None:
    """The recording flags of a command whose runs go to the store."""
    group = parser.add_argument_group("results store (aibackend runs, aibackend dashboard)")
    group.add_argument("--store", type=Path, default=None, metavar="PATH",
                       help=f"record the run in this results store (default: {_default_shown()})")
    group.add_argument("--no-store", action="store_true", help="do not record the run")
    if target_name:
        group.add_argument("--target-name", metavar="NAME", default=None,
                           help="the name the run is filed under in the store, so that runs against one target "
                                "on changing URLs form one trend (default: the --host URL)")


def store_path(args: argparse.Namespace) -> Path:
    return Path(args.store) if getattr(args, "store", None) else default_store_path()


class Recorder:
    """Checks the store before a run and records the run's results after it."""

    def __init__(self, args: argparse.Namespace, argv: Sequence[str] | None = None) -> None:
        if getattr(args, "target_name", None) and getattr(args, "compare", None):
            raise UsageError("--target-name names the target of one run; --compare runs several targets",
                             hint="leave --target-name out: each --compare run is filed under its own URL")
        self.path = None if getattr(args, "no_store", False) else store_path(args)
        self.started = datetime.now(UTC)
        self.config_dir: Path | None = getattr(args, "config_dir", None)
        self.command = list(sys.argv if argv is None else argv)
        if self.path is not None:
            open_store(self.path).close()  # refuses a bad store now, before the run

    def _record(self, runs: list[Run]) -> int:
        if self.path is None or not runs:
            return 0
        origin = provenance(self.config_dir)
        try:
            with open_store(self.path) as store:
                ids = []
                for run in runs:
                    run.provenance, run.started_at, run.command = origin, self.started, self.command
                    ids.append(store.add(run))
        except ResultsStoreError as exc:
            print(f"error: the run was not recorded: {exc}", file=sys.stderr)
            return 1
        print(f"recorded as run {', '.join(map(str, ids))} in {self.path} (aibackend runs show {ids[-1]})",
              file=sys.stderr, flush=True)  # stdout stays the command's own output (contract --json)
        return 0

    def record_loadtest(self, report: Path, *, target_name: str | None = None,
                        extra_workload: dict[str, Any] | None = None) -> int:
        """Record every load-test report this run wrote: ``report`` and its campaign's per-run files."""
        runs = []
        for path in _reports_written(report, self.started):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "completed" in data and isinstance(data.get("run"), dict):
                runs.append(loadtest_run(data, report_path=path, target=target_name, extra_workload=extra_workload))
        return self._record(runs)

    def record_contract(self, document: dict[str, Any], *, workload: dict[str, Any], reports: list[Path]) -> int:
        """One run per target of ``contracts.report.as_json``."""
        targets = document.get("targets") or []
        return self._record([contract_run(t, workload=workload, reports=reports) for t in targets
                             if isinstance(t, dict)])


def _reports_written(report: Path, since: datetime) -> list[Path]:
    """``report`` and ``<stem>.<anything>.json`` beside it, written since the run began."""
    candidates = [report, *sorted(report.parent.glob(f"{report.stem}.*.json"))]
    found = []
    for path in candidates:
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            continue
        if modified >= since.replace(microsecond=0) and path not in found:
            found.append(path)
    return found
