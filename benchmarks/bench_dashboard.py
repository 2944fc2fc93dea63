"""Benchmark: the results store and the dashboard's pages at 100, 1,000 and 5,000 recorded runs.

Prints figures; asserts nothing. Measures what a user waits for: recording one run (a load test's
last step), `aibackend runs list` (the store read), and the dashboard's /runs and /trends pages
rendered by the real Flask app (its test client: no socket, so the figure is the server's work).

    .venv/bin/python benchmarks/bench_dashboard.py [--sizes 100 1000 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aibackend.dashboard.app import create_app
from aibackend.results.record import loadtest_run
from aibackend.results.store import open_store

ROOT = Path(__file__).resolve().parents[1]
REPORT = json.loads((ROOT / "fixtures" / "results" / "loadtest-report.json").read_text())
MODELS = [f"model-{i}" for i in range(6)]


def populate(path: Path, runs: int) -> float:
    """Record ``runs`` runs (6 models, a spread of TTFTs); seconds per recorded run."""
    started = time.perf_counter()
    with open_store(path) as store:
        for i in range(runs):
            report = copy.deepcopy(REPORT)
            report["run"]["model"] = MODELS[i % len(MODELS)]
            report["median_ttft_ms"] = 20.0 + (i % 17)
            run = loadtest_run(report, report_path=Path("/nonexistent/r.json"), target="gw")
            run.started_at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
            store.add(run)
    return (time.perf_counter() - started) / runs


def timed(action: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'runs':>6} {'record ms/run':>14} {'list all ms':>12} {'/runs ms':>9} {'/trends ms':>11} {'store MB':>9}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "results.sqlite3"
            per_run = populate(path, size)
            client = create_app(path, ROOT / "config").test_client()

            def list_all(path: Path = path) -> None:
                with open_store(path, create=False) as store:
                    store.runs()

            def page(url: str, client: Any = client) -> None:
                response = client.get(url)
                assert response.status_code == 200, response.status_code

            listed = timed(list_all, args.repeat)
            runs_page = timed(lambda: page("/runs"), args.repeat)
            trends_page = timed(lambda: page("/trends"), args.repeat)
            size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
            print(f"{size:>6} {per_run * 1000:>14.2f} {listed * 1000:>12.1f} {runs_page * 1000:>9.1f} "
                  f"{trends_page * 1000:>11.1f} {size_mb:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
